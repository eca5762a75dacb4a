"""Values a corrupt or hand-edited line, or a provider, may put where Hive writes a count, a duration or a time.

Hive writes its L3 lines through Pydantic, which reads ``1200.0`` and ``"1200"`` as the int 1200; the
bus event carries the value as the runtime had it. Both halves of a call must read the same numbers,
or one call becomes two (its key hashes the token counts). Built by hand: aden-hive's own writers never
produce these values, which is the point.
"""

from __future__ import annotations

import pytest

from hive_otel import attributes as A
from hive_otel.client.encoding.logs import encode_logs
from hive_otel.client.encoding.traces import encode_spans
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.numbers import int_or_zero
from hive_otel.client.mapping.telemetry import SpanRecord
from hive_otel.client.mapping.timestamps import to_unix_ns
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext

SESSION = SessionContext("session_20260101_120000_abcdef", "queen")
INT64_MAX = (1 << 63) - 1


def _event(input_tokens: object, output_tokens: object, iteration: object = 2) -> HiveRecord:
    data = {
        "model": "claude-sonnet-4-5",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "iteration": iteration,
    }
    event = {"type": "llm_turn_complete", "stream_id": "queen", "node_id": "queen", "execution_id": SESSION.session_id,
             "timestamp": "2026-01-01T12:00:05", "data": data}  # fmt: skip
    return HiveRecord(RecordKind.EVENT, event, SESSION)


def _step(input_tokens: object = 1200, output_tokens: object = 120, latency_ms: object = 900) -> HiveRecord:
    step = {"node_id": "queen", "step_index": 2, "input_tokens": input_tokens, "output_tokens": output_tokens,
            "latency_ms": latency_ms, "tool_calls": []}  # fmt: skip
    return HiveRecord(RecordKind.NODE_STEP, step, SESSION)


def _calls(*records: HiveRecord) -> list[SpanRecord]:
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    spans = [span for record in records for span in mapper.map(record, 1).spans] + mapper.flush().spans
    return [span for span in spans if span.attributes.get(A.GEN_AI_OPERATION_NAME) == "chat"]


@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(1200.0, 120.0), ("1200", "120"), (" 1200 ", 120)])
def test_an_event_with_whole_floats_or_digit_strings_joins_its_l3_line(input_tokens: object, output_tokens: object) -> None:
    """Before: the event's counts read as 0, so its half had another key: two calls, one with no tokens."""
    (call,) = _calls(_event(input_tokens, output_tokens), _step())
    assert call.attributes[A.HIVE_CALL_SOURCE] == "event+log"
    assert (call.attributes[A.GEN_AI_USAGE_INPUT_TOKENS], call.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (1200, 120)


@pytest.mark.parametrize("tokens", [1 << 63, 1 << 64, 1e30])
def test_a_count_past_int64_is_sent_as_the_largest_int64_not_as_zero(tokens: object) -> None:
    """Before: 0, a silent loss. The largest int64 is above the collector's bound on a token count, so the
    store refuses the call as usage with a reason (tests/collector/test_store_bounds.py) and counts it."""
    (call,) = _calls(_event(tokens, 120))
    assert call.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == INT64_MAX
    encode_spans([call])


@pytest.mark.parametrize("latency_ms", [1 << 62, (1 << 63) - 1])
def test_a_latency_no_clock_measured_leaves_the_call_whole_and_encodable(latency_ms: int) -> None:
    """Before: the call started before 1970, protobuf refused it, and the call was dropped from the request."""
    for records in ((_step(latency_ms=latency_ms),), (_event(1200, 120), _step(latency_ms=latency_ms))):
        (call,) = _calls(*records)
        assert call.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 1200
        assert 0 <= call.start_ns <= call.end_ns < (1 << 63)
        encode_spans([call])


def test_node_and_run_durations_no_clock_measured_keep_their_spans_encodable() -> None:
    huge = 1 << 62
    detail = {"node_id": "queen", "latency_ms": huge, "success": True}
    summary = {
        "run_id": SESSION.session_id,
        "started_at": "2026-01-01T12:00:00+00:00",
        "duration_ms": huge,
        "status": "success",
    }
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    spans = mapper.map(HiveRecord(RecordKind.NODE_DETAIL, detail, SESSION), 1).spans
    spans += mapper.map(HiveRecord(RecordKind.RUN_SUMMARY, summary, SESSION), 1).spans
    assert {span.name.split()[0] for span in spans} >= {"hive.node", "hive.run"}
    assert all(span.end_ns < (1 << 63) for span in spans)
    encode_spans(spans)


@pytest.mark.parametrize("timestamp", ["", "yesterday", "1900-01-01T00:00:00", "2300-01-01T00:00:00", None])
def test_an_event_time_that_cannot_be_read_is_its_sessions_not_the_time_of_reading(timestamp: object) -> None:
    """Before: the time of reading, so each replay moved the call (and its cost) to the replay's day."""
    event = _event(1200, 120)
    event.data["timestamp"] = timestamp
    for now in (1, 2_000_000_000_000_000_000):
        mapper = EventMapper(ResourceFactory(), join_window_ns=None)
        (call,) = [s for s in mapper.map(event, now).spans + mapper.flush().spans if A.HIVE_CALL_KEY in s.attributes]
        assert call.end_ns == to_unix_ns("2026-01-01T12:00:00")  # the session id's time, local as Hive wrote it


def test_a_status_record_with_a_seq_past_int64_is_sent_without_it() -> None:
    """Before: the record could not be encoded and was dropped, a stall or an execution's end with it."""
    event = {"type": "node_stalled", "seq": 1 << 63, "stream_id": "queen", "node_id": "queen",
             "timestamp": "2026-01-01T12:00:05", "data": {"reason": "similar responses"}}  # fmt: skip
    (record,) = EventMapper(ResourceFactory(), join_window_ns=None).map(HiveRecord(RecordKind.EVENT, event, SESSION), 1).logs
    assert A.HIVE_EVENT_SEQ not in record.attributes
    encode_logs([record])


@pytest.mark.parametrize(
    "value",
    ["1200", " 1200 ", "+1200", "-3", "1_200", "1200.0", "1200.00", " 1200.0 ", "-3.0", "-0", True, False, 1200.0,
     "1200.5", "1e3", "0x10", "\u0661\u0662", "", " ", "1 200", "12.", ".5", None, [], {}, 1200.5, float("nan")],
)  # fmt: skip
def test_counts_are_read_as_hives_pydantic_reads_them(value: object) -> None:
    """The L3 half's numbers went through Pydantic when Hive wrote them; the event half's did not."""
    from pydantic import TypeAdapter, ValidationError

    try:
        expected = TypeAdapter(int).validate_python(value)
    except ValidationError:
        expected = 0
    assert int_or_zero(value) == expected
