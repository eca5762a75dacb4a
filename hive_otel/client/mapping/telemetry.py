"""The mapping's output: plain, immutable-by-convention OpenTelemetry data.

These mirror the OTLP data model closely (ids as bytes, times as Unix nanoseconds) so that the
encoder is a straight walk, and redaction can work on plain dicts before anything is encoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

AttrValue = str | bool | int | float | list[str]
Attributes = dict[str, AttrValue]


class SpanKind(IntEnum):  # OTLP enum values
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3


class StatusCode(IntEnum):  # OTLP enum values
    UNSET = 0
    OK = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class Resource:
    """Resource attributes as a sorted tuple so equal resources hash equal (the encoder groups by it)."""

    attributes: tuple[tuple[str, AttrValue], ...]
    # Every record of a session shares its Resource, looked up by hash several times per record
    # (redaction, encoding, metrics): hashing the whole tuple each time was ~5% of the pipeline.
    _hash: int = field(init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:  # first use (not at construction: a list value makes it unhashable)
            value = hash((self.attributes,))  # the value dataclass gives: metrics list resources in set order
            object.__setattr__(self, "_hash", value)
            return value

    @classmethod
    def of(cls, attributes: Attributes) -> Resource:
        return cls(tuple(sorted((k, v) for k, v in attributes.items() if v is not None)))

    def as_dict(self) -> Attributes:
        return dict(self.attributes)


@dataclass(slots=True)
class SpanRecord:
    resource: Resource
    trace_id: bytes  # 16 bytes
    span_id: bytes  # 8 bytes
    parent_span_id: bytes  # 8 bytes, or b"" for a root span
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    attributes: Attributes
    status_code: StatusCode = StatusCode.UNSET
    status_message: str = ""
    links: list[tuple[bytes, bytes]] = field(default_factory=list)  # (trace_id, span_id)


@dataclass(slots=True)
class LogRecord:
    resource: Resource
    time_ns: int
    event_name: str  # e.g. "hive.queen_phase_changed"
    severity_number: int  # OTLP SeverityNumber: 9 INFO, 13 WARN, 17 ERROR
    severity_text: str
    attributes: Attributes
    body: str | None = None
    trace_id: bytes = b""
    span_id: bytes = b""


@dataclass(slots=True)
class Telemetry:
    """One mapped batch. Metrics are derived from the spans at encode time, so they always agree."""

    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)

    def extend(self, other: Telemetry) -> None:
        self.spans.extend(other.spans)
        self.logs.extend(other.logs)

    def __bool__(self) -> bool:
        return bool(self.spans or self.logs)
