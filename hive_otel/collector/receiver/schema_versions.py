"""``hive.schema_version`` on the receiving side: accept the current and the previous major version.

Every hive-otel resource says which payload shape it follows. The collector

- passes resources of the current major version (``1``, any minor: minors only add keys) unchanged;
- upgrades resources of the previous major version (``0``) to the current shape, in the decoded
  request, before the store sees it (the store and its views know only the current names);
- refuses a request that has a resource of a newer major version, an older one than the previous, or
  an unreadable version, with
  :class:`UnsupportedSchemaVersion` (HTTP 400 / gRPC INVALID_ARGUMENT), storing nothing of it;
- leaves resources without the attribute (plain OTLP from other clients) alone.

Version 0 is the shape of payloads from before the attribute names were settled: identity keys of
the session resource were written ``hive.<thing>_id`` where version 1 writes ``hive.<thing>.id``
(:data:`V0_RESOURCE_RENAMES`), and LLM/tool spans carried their identity as ``hive.call_id`` where
version 1 says ``hive.call_key`` (:data:`V0_SPAN_RENAMES`). Nothing else differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from google.protobuf.message import Message

from hive_otel import attributes as A
from hive_otel.collector.receiver.otlp import RequestRejected, Signal

CURRENT_MAJOR = int(A.SCHEMA_VERSION.split(".", 1)[0])
PREVIOUS_MAJOR = CURRENT_MAJOR - 1

V0_RESOURCE_RENAMES: Mapping[str, str] = {
    "hive.session_id": A.HIVE_SESSION_ID,
    "hive.parent_session_id": A.HIVE_PARENT_SESSION_ID,
    "hive.root_session_id": A.HIVE_ROOT_SESSION_ID,
    "hive.queen_id": A.HIVE_QUEEN_ID,
    "hive.colony_id": A.HIVE_COLONY_ID,
    "hive.worker_id": A.HIVE_WORKER_ID,
    "hive.user_id": A.HIVE_USER_ID,
    "hive.tenant_id": A.HIVE_TENANT_ID,
}
"""Version-0 resource key → version-1 key."""

V0_SPAN_RENAMES: Mapping[str, str] = {"hive.call_id": A.HIVE_CALL_KEY}
"""Version-0 span attribute key → version-1 key."""

_VERSION = re.compile(r"([0-9]{1,6})(?:\.[0-9]{1,6})?")  # ASCII digits: \d matches any script's
_RESOURCES_FIELD = {"traces": "resource_spans", "logs": "resource_logs", "metrics": "resource_metrics"}


class UnsupportedSchemaVersion(RequestRejected):
    """A resource's ``hive.schema_version`` is newer than this collector, or not a version at all."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__("unsupported_schema_version", message)
        self.kind = kind  # "future", "retired" or "malformed": the counter key


def _version_text(resource: Message) -> str | None:
    for kv in resource.attributes:  # type: ignore[attr-defined]
        if kv.key == A.HIVE_SCHEMA_VERSION:
            which = kv.value.WhichOneof("value")
            return str(getattr(kv.value, which)) if which in ("string_value", "int_value") else ""
    return None


def _major(text: str, where: str) -> int:
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise UnsupportedSchemaVersion(
            f"{where}: {A.HIVE_SCHEMA_VERSION} must be a version number such as {A.SCHEMA_VERSION!r}, got {text!r}",
            kind="malformed",
        )
    major = int(match.group(1))
    if major > CURRENT_MAJOR:
        raise UnsupportedSchemaVersion(
            f"{where}: {A.HIVE_SCHEMA_VERSION} {text!r} is newer than this collector understands "
            f"(it accepts {PREVIOUS_MAJOR} and {CURRENT_MAJOR}); upgrade the collector",
            kind="future",
        )
    if major != CURRENT_MAJOR and major not in _UPGRADES:
        raise UnsupportedSchemaVersion(
            f"{where}: {A.HIVE_SCHEMA_VERSION} {text!r} is no longer accepted "
            f"(this collector accepts {PREVIOUS_MAJOR} and {CURRENT_MAJOR}); upgrade the client",
            kind="retired",
        )
    return major


def _rename(attributes: Iterable[Message], renames: Mapping[str, str]) -> None:
    """Rename keys in a repeated KeyValue field; when both spellings are present the new one wins."""
    present = {kv.key for kv in attributes}  # type: ignore[attr-defined]
    stale = []
    for index, kv in enumerate(attributes):
        new = renames.get(kv.key)  # type: ignore[attr-defined]
        if new is None:
            continue
        if new in present:
            stale.append(index)
        else:
            kv.key = new  # type: ignore[attr-defined]
            present.add(new)
    for index in reversed(stale):
        del attributes[index]  # type: ignore[attr-defined]


def _upgrade_v0(resource_items: Message, signal: str) -> None:
    resource = resource_items.resource  # type: ignore[attr-defined]
    _rename(resource.attributes, V0_RESOURCE_RENAMES)
    for kv in resource.attributes:
        if kv.key == A.HIVE_SCHEMA_VERSION:
            kv.value.string_value = A.SCHEMA_VERSION
    if signal == "traces":
        for scope in resource_items.scope_spans:  # type: ignore[attr-defined]
            for span in scope.spans:
                _rename(span.attributes, V0_SPAN_RENAMES)


_UPGRADES: dict[int, Callable[[Message, str], None]] = {PREVIOUS_MAJOR: _upgrade_v0}
"""Major version → the function that brings one resource (and its items) to the current version."""


def upgrade_request(signal: Signal, request: Message) -> int:
    """Check every resource's version, then upgrade the old ones in place; returns how many were.

    Raises :class:`UnsupportedSchemaVersion` before changing anything if any resource is unacceptable.
    """
    field = _RESOURCES_FIELD[signal.name]
    old: list[tuple[int, Message]] = []
    for index, items in enumerate(getattr(request, field)):
        text = _version_text(items.resource)
        if text is None:
            continue  # not a hive-otel resource: plain OTLP passes as it is
        major = _major(text, f"{field}[{index}].resource")
        if major != CURRENT_MAJOR:
            old.append((major, items))
    for major, items in old:
        _UPGRADES[major](items, signal.name)
    return len(old)


__all__ = [
    "CURRENT_MAJOR",
    "PREVIOUS_MAJOR",
    "V0_RESOURCE_RENAMES",
    "V0_SPAN_RENAMES",
    "UnsupportedSchemaVersion",
    "upgrade_request",
]
