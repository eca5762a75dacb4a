"""The redaction policy: collector/redaction.yaml, validated and compiled once.

Patterns are compiled with RE2 (google-re2), the regular-expression language the Collector's
redaction processor uses (Go's regexp implements RE2 syntax), so a pattern means the same in both
places and one that only Python's ``re`` would accept (lookaround, backreferences) is refused here.
RE2 also runs in linear time: a long value cannot make masking backtrack for seconds.
"""

from __future__ import annotations

import os
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import re2
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

MASK = "****"
"""What a blocked value is replaced with: the Collector redaction processor's fixed mask."""

PACKAGED_POLICY = "data/redaction.yaml"
# libyaml's safe loader when PyYAML was built with it (the wheels are): the same data, and 0.3 ms
# instead of 6 ms for the packaged policy, which instrument() loads inside Hive's process.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The copy of collector/redaction.yaml shipped inside the ``hive_otel`` package."""


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file and the offending field."""


def _compile(pattern: str) -> re2._Regexp:
    options = re2.Options()
    options.log_errors = False  # the error is raised with the file and field named, not logged
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else error
        raise ValueError(f"{pattern!r} is not a valid RE2 regular expression: {reason}") from None


class OptIn(BaseModel):
    """What a user has chosen to let through beyond the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_keys: tuple[str, ...] = ()
    status_messages: bool = False
    log_bodies: bool = False


class RedactionPolicy(BaseModel):
    """One redaction policy; see collector/redaction.yaml for what every field means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_keys: tuple[str, ...]
    ignored_keys: tuple[str, ...] = ()
    blocked_values: tuple[str, ...] = ()
    summary: Literal["silent", "info", "debug"] = "silent"
    opt_in: OptIn = OptIn()

    @field_validator("allowed_keys", "ignored_keys")
    @classmethod
    def _keys_not_blank(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            if not key.strip():
                raise ValueError("attribute keys must not be blank")
        return keys

    @field_validator("blocked_values")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            _compile(pattern)
        return patterns

    @cached_property
    def exported_keys(self) -> frozenset[str]:
        """Every attribute key that may leave: the defaults, the ignored keys and the opt-ins."""
        return frozenset(self.allowed_keys) | frozenset(self.ignored_keys) | frozenset(self.opt_in.allowed_keys)

    @cached_property
    def unmasked_keys(self) -> frozenset[str]:
        """Keys whose values are exported without blocked_values masking."""
        return frozenset(self.ignored_keys)

    @cached_property
    def blocked_pattern(self) -> re2._Regexp | None:
        """All blocked_values as one compiled alternation, so a value is scanned once."""
        if not self.blocked_values:
            return None
        return _compile("|".join(f"(?:{pattern})" for pattern in self.blocked_values))

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<mapping>") -> RedactionPolicy:
        """Validate an already-parsed policy document; errors name ``source`` and the field."""
        if not isinstance(data, dict):
            raise PolicyError(f"redaction policy {source}: expected a mapping of fields at the top level")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise PolicyError(f"redaction policy {source}: {_describe(error)}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> RedactionPolicy:
        """Read, validate and compile a policy file; ``None`` means the packaged default policy.

        Raises `PolicyError` for a file that cannot be read or parsed, an unknown field, a wrong
        type or a pattern that does not compile: hive-otel refuses to start on a bad policy.
        """
        if path is None:
            source = f"hive_otel/{PACKAGED_POLICY}"
            text = files("hive_otel").joinpath(PACKAGED_POLICY).read_text(encoding="utf-8")
        else:
            source = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise PolicyError(f"redaction policy {source}: cannot read it: {error}") from None
        try:
            data = yaml.load(text, Loader=_SAFE_LOADER)
        except yaml.YAMLError as error:
            raise PolicyError(f"redaction policy {source}: not valid YAML: {error}") from None
        return cls.from_mapping(data, source)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key {location!r}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{location}: {message}")
    return "; ".join(problems)
