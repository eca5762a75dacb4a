"""A graph agent's calls reach hive-otel twice, never together: their bus events live (a graph agent writes
no events.jsonl) and their L3 lines in a backfill. Each half alone must make the call's span with the
same ids, or ``otel_traces`` holds the call twice; a queen's L3 line keeps Hive's ids."""

from __future__ import annotations

from typing import Any

from hive_otel import attributes as A
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.ids import session_span_id, session_trace_id
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.telemetry import SpanRecord
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext

RUN = "session_20261207_120000_0a1b2c3d"  # ExecutionManager's execution id: the run's session id
LIVE = SessionContext("lookup_agent", agent_role=A.ROLE_AGENT)  # instrument()'s, once the bus showed a graph agent
ON_FILE = SessionContext(RUN, agent_role=A.ROLE_AGENT)  # layout.discover's, for sessions/<RUN>/logs/
HIVE_TRACE, HIVE_STEP = "610fc7e1d4b44ac1aa01edc3baf710b8", "ef3e13ef1eeb412f"


def _event(seq: int, event_type: str, **data: Any) -> HiveRecord:
    event = {"type": event_type, "seq": seq, "stream_id": "default", "node_id": "finder", "execution_id": RUN,
             "timestamp": f"2026-12-07T12:00:{seq:02d}", "data": data}  # fmt: skip
    return HiveRecord(RecordKind.EVENT, event, LIVE)


BUS = [
    _event(1, "execution_started"),
    _event(2, "node_loop_started"),
    _event(3, "tool_call_started", tool_use_id="tu_1", tool_name="lookup"),
    _event(4, "tool_call_completed", tool_use_id="tu_1", tool_name="lookup", is_error=False),
    _event(5, "llm_turn_complete", iteration=0, input_tokens=900, output_tokens=40, model="claude-sonnet-4-5"),
]
STEP = {"node_id": "finder", "step_index": 0, "input_tokens": 900, "output_tokens": 40, "trace_id": HIVE_TRACE,
        "span_id": HIVE_STEP, "tool_calls": [{"tool_use_id": "tu_1", "tool_name": "lookup", "duration_s": 0.01,
        "start_timestamp": "2026-12-07T12:00:03+00:00"}]}  # fmt: skip


def _calls(records: list[HiveRecord]) -> dict[str, SpanRecord]:
    """Each call's span by call key, from one mapper that reads ``records`` and ends."""
    mapper = EventMapper(ResourceFactory(), None)
    spans = [s for r in records for s in mapper.map(r, 1).spans] + mapper.flush().spans
    return {str(s.attributes[A.HIVE_CALL_KEY]): s for s in spans if A.HIVE_CALL_KEY in s.attributes}


def test_a_graph_agents_call_has_the_same_ids_from_the_bus_and_from_its_l3_line() -> None:
    live, backfilled = _calls(BUS), _calls([HiveRecord(RecordKind.NODE_STEP, STEP, ON_FILE)])
    assert len(live) == 2 and live.keys() == backfilled.keys()
    for key, span in backfilled.items():
        assert (span.trace_id, span.span_id) == (live[key].trace_id, live[key].span_id)
        assert span.trace_id == session_trace_id(RUN) and span.parent_span_id == session_span_id(RUN)
        assert span.resource == live[key].resource and span.resource.as_dict()[A.HIVE_AGENT_ROLE] == A.ROLE_AGENT


def test_a_queens_l3_line_keeps_hives_ids() -> None:
    calls = _calls([HiveRecord(RecordKind.NODE_STEP, STEP, SessionContext(RUN, "queen_technology"))])
    (chat,) = (span for key, span in calls.items() if key.startswith("llm-"))
    assert (chat.trace_id, chat.span_id) == (bytes.fromhex(HIVE_TRACE), bytes.fromhex(HIVE_STEP))


def test_a_heartbeat_before_the_bus_showed_a_graph_agent_leaves_no_queen_behind() -> None:
    mapper = EventMapper(ResourceFactory(), None)
    mapper.heartbeats(1, SessionContext("lookup_agent"))  # instrument()'s context, before the bus's first event
    started = {"type": "stream_started", "stream_id": "default", "timestamp": "2026-12-07T12:00:00", "data": {}}
    logs = mapper.map(HiveRecord(RecordKind.EVENT, started, LIVE), 2).logs + mapper.heartbeats(3, LIVE).logs
    assert [log.resource.as_dict()[A.HIVE_AGENT_ROLE] for log in logs] == [A.ROLE_AGENT, A.ROLE_AGENT]
