"""Bearer tokens of the cloud collector: which token writes (and reads) as which tenant.

``hive-otel collector --tokens FILE`` reads a YAML file (JSON is accepted too, being YAML) that holds
only the SHA-256 hashes of the tokens, never the tokens themselves, so the file can be reviewed,
committed to a deployment repository or leaked without handing out write access::

    tokens:
      - sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        tenant: acme
        label: acme laptop fleet        # for people; not checked
      - sha256: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
        tenant: ops
        admin: true                     # may also use POST /hive/v1/query, from this machine only

:func:`hash_token` and :func:`add_token` are what ``hive-otel tokens hash`` and ``hive-otel tokens add``
(:mod:`hive_otel.cli.collector`) run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hive_otel.settings import SettingsError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "TENANT_PATTERN",
    "Grant",
    "TokenEntry",
    "TokenTable",
    "TokensFile",
    "add_token",
    "hash_token",
]

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Tenant names in a tokens file: short, printable, safe in logs, paths and SQL literals."""

MIN_TOKEN_LENGTH = 16
"""Shorter tokens are too easy to guess; ``--generate`` makes 43-character ones."""


def hash_token(token: str) -> str:
    """The lowercase hex SHA-256 of a token's UTF-8 bytes, as the tokens file stores it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token")
    tenant: str = Field(pattern=TENANT_PATTERN, description="the tenant every request with this token writes as")
    admin: bool = Field(default=False, description="may also run SQL on POST /hive/v1/query (loopback only)")
    label: str | None = Field(default=None, description="who holds the token; for people, not checked")


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_hashes(self) -> TokensFile:
        seen: set[str] = set()
        for entry in self.tokens:
            if entry.sha256 in seen:
                raise ValueError(f"token hash {entry.sha256[:12]}… is listed twice")
            seen.add(entry.sha256)
        return self


@dataclass(frozen=True)
class Grant:
    """What a known token may do: write (and read usage) as ``tenant``; query SQL when ``admin``."""

    tenant: str
    admin: bool = False


class TokenTable:
    """The loaded tokens file: a token's hash → its :class:`Grant`."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._grants = {entry.sha256: Grant(entry.tenant, entry.admin) for entry in entries}

    @classmethod
    def load(cls, path: str | Path, flag: str = "--tokens") -> TokenTable:
        """Read and validate ``path``; :class:`SettingsError` names ``flag`` and the problem."""
        return cls(_read(Path(path), flag).tokens)

    def lookup(self, token: str) -> Grant | None:
        """The grant of ``token``, or None when the file does not list its hash."""
        return self._grants.get(hash_token(token))

    def __len__(self) -> int:
        return len(self._grants)


def _read(path: Path, flag: str) -> TokensFile:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{flag} {path}: cannot read the tokens file: {exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{flag} {path}: not valid YAML or JSON: {exc}") from None
    try:
        return TokensFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"{flag} {path}: {problems}") from None


def add_token(path: str | Path, token: str, tenant: str, *, admin: bool = False, label: str | None = None) -> TokenEntry:
    """Append an entry for ``token`` to the tokens file at ``path`` (created if missing).

    The file is rewritten atomically (YAML, or JSON when its name ends in ``.json``); comments in a
    hand-written YAML file are not kept. Raises ``ValueError`` for a short token, a bad tenant or a
    token already listed, and :class:`SettingsError` when the existing file is invalid.
    """
    path = Path(path)
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the token is shorter than {MIN_TOKEN_LENGTH} characters; use --generate for a strong one")
    try:
        entry = TokenEntry(sha256=hash_token(token), tenant=tenant, admin=admin, label=label)
    except ValidationError as exc:
        raise ValueError(f"--tenant {tenant!r}: must match {TENANT_PATTERN}") from exc
    existing = _read(path, "--file").tokens if path.exists() else []
    if any(e.sha256 == entry.sha256 for e in existing):
        raise ValueError(f"{path} already lists this token")
    document = TokensFile(tokens=[*existing, entry]).model_dump(exclude_defaults=True)
    text = json.dumps(document, indent=2) + "\n" if path.suffix == ".json" else yaml.safe_dump(document, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return entry
