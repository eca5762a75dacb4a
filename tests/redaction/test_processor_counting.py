"""Masking counts values whose text changed, not strings that merely are other objects of equal text."""

from __future__ import annotations

from hive_otel.client.mapping.telemetry import LogRecord, Resource, SpanKind, SpanRecord, Telemetry
from hive_otel.client.redaction import MASK, RedactionPolicy, RedactionProcessor


def _processor() -> RedactionProcessor:
    return RedactionProcessor(
        RedactionPolicy.from_mapping({"allowed_keys": ["k"], "blocked_values": ["secret"], "summary": "info"})
    )


def _fresh(text: str) -> str:
    """An equal string that is a new object, as every line parsed from JSON gives."""
    return "".join(list(text))


def _log(value: str, name: str = "hive.event") -> LogRecord:
    return LogRecord(Resource(()), 1, name, 9, "INFO", {"k": value})


def test_equal_values_seen_again_are_not_counted_as_masked() -> None:
    processor = _processor()
    first, again = _fresh("value"), _fresh("value")
    assert first is not again
    out = processor.process(Telemetry([], [_log(first), _log(again), _log(_fresh("a secret"))]))
    assert [r.attributes for r in out.logs] == [
        {"k": "value"},
        {"k": "value"},
        {"k": f"a {MASK}", "redaction.masked.count": 1},
    ]
    assert processor.counters["values_masked"] == 1


def test_names_seen_again_are_not_counted_as_masked() -> None:
    processor = _processor()
    span = SpanRecord(Resource(()), b"\x01" * 16, b"\x02" * 8, b"", _fresh("chat m"), SpanKind.CLIENT, 1, 2, {})
    again = SpanRecord(Resource(()), b"\x01" * 16, b"\x03" * 8, b"", _fresh("chat m"), SpanKind.CLIENT, 1, 2, {})
    processor.process(Telemetry([span, again], [_log("v", _fresh("hive.x")), _log("v", _fresh("hive.x"))]))
    assert processor.counters["span_names_masked"] == 0
    assert processor.counters["event_names_masked"] == 0
    processor.process(Telemetry([], [_log("v", "hive.secret")]))
    assert processor.counters["event_names_masked"] == 1
