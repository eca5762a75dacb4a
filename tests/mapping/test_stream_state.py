"""S3 stream states, S7 heartbeats and the status fields S2/S4/S8 read: mapping tests on real Hive events.

Events come from a real aden-hive EventBus (published, then read back as ``to_dict()`` would write
them), through the real live source with ``stream_states=True``, into the pure EventMapper.
"""

from __future__ import annotations

import asyncio

import pytest
from framework.host.event_bus import EventBus

from hive_otel import attributes as A
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.status import status_log
from hive_otel.client.mapping.stream_state import StreamStates
from hive_otel.client.mapping.telemetry import LogRecord
from hive_otel.client.sources.live import instrument
from hive_otel.client.sources.records import SessionContext

NEXT_MS = 1_768_554_000_000
STATE = A.HiveOtelEvent.STREAM_STATE_CHANGED.value


def _states(logs: list[LogRecord]) -> list[str]:
    return [str(r.attributes[A.HIVE_STATUS]) for r in logs if r.attributes[A.HIVE_EVENT_TYPE] == STATE]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (["llm_reasoning_delta"] * 5 + ["llm_text_delta"] * 40 + ["llm_turn_complete"], ["thinking", "typing", "idle"]),
        (["client_output_delta"] * 3 + ["client_output_delta", "llm_turn_complete"], ["typing", "idle"]),
        (["tool_call_started", "tool_call_started", "tool_call_completed", "tool_call_completed"], ["tool_calling", "idle"]),
        (["llm_turn_complete", "node_loop_completed", "execution_completed"], []),  # idle stays idle: no record
        (["llm_text_delta", "loop_state_changed"], ["typing", "idle"]),
        (["node_loop_iteration", "context_usage_updated"], []),  # not about streaming
        (
            ["llm_text_delta", "tool_call_started", "tool_call_completed", "llm_text_delta"],
            ["typing", "tool_calling", "idle", "typing"],
        ),
    ],
)
def test_stream_states_change_only_on_a_change(events: list[str], expected: list[str]) -> None:
    states = StreamStates()
    changes = [states.change(("s", "queen"), e) for e in events]
    assert [c for c in changes if c is not None] == expected


def test_streams_are_independent() -> None:
    states = StreamStates()
    assert states.change(("s", "queen"), "llm_text_delta") == "typing"
    assert states.change(("s", "worker:w1"), "llm_text_delta") == "typing"
    assert states.change(("s", "queen"), "llm_text_delta") is None
    assert states.change(("s", "worker:w1"), "llm_turn_complete") == "idle"


async def _turns(bus: EventBus, turns: int) -> None:
    await bus.emit_execution_started("queen", "exec-1")
    await bus.emit_node_loop_started("queen", "queen", execution_id="exec-1")
    for i in range(turns):
        for _ in range(20):
            await bus.emit_llm_reasoning_delta("queen", "queen", "hmm ", execution_id="exec-1", iteration=i)
        for _ in range(200):
            await bus.emit_llm_text_delta("queen", "queen", "tok ", "...", execution_id="exec-1")
        await bus.emit_tool_call_started("queen", "queen", f"tu-{i}", "web_search", {"q": "x"}, "exec-1")
        await bus.emit_tool_call_completed("queen", "queen", f"tu-{i}", "web_search", "ok", False, "exec-1")
        await bus.emit_llm_turn_complete("queen", "queen", "stop", "gpt-4o", 100, 10, execution_id="exec-1", iteration=i)
    await bus.emit_loop_state_changed("queen", "queen", "awaiting_user", "exec-1", park_reason="turn_done")


def test_live_deltas_become_a_few_state_records_not_one_per_token() -> None:
    bus = EventBus()
    hook = instrument(bus, session_id="session_s3", queen_id="q", queue_size=10_000, via="publish", stream_states=True)
    asyncio.run(_turns(bus, turns=3))
    records = hook.drain(100_000)
    assert hook.deltas_dropped == 3 * 220 - 6  # one marker per run of deltas is kept, text-free
    markers = [r.data for r in records if r.data["type"] in ("llm_text_delta", "llm_reasoning_delta")]
    assert len(markers) == 6 and all("data" not in m for m in markers)
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    logs = [log for r in records for log in mapper.map(r, 0).logs]
    assert _states(logs) == ["thinking", "typing", "tool_calling", "idle"] * 3
    record = next(r for r in logs if r.attributes[A.HIVE_EVENT_TYPE] == STATE)
    assert record.event_name == "hive.stream_state_changed"
    assert record.attributes[A.HIVE_STREAM_ID] == "queen" and record.attributes[A.HIVE_EXECUTION_ID] == "exec-1"
    loop = next(r for r in logs if r.attributes[A.HIVE_EVENT_TYPE] == "loop_state_changed")
    assert loop.attributes[A.HIVE_STATUS] == "awaiting_user"
    assert loop.attributes[A.HIVE_LOOP_PARK_REASON] == "turn_done"


def test_heartbeats_cover_the_instrumented_session_and_running_workers_only() -> None:
    async def run(bus: EventBus) -> None:
        await bus.emit_node_loop_started("worker:w-done", "w-done", execution_id="w-done")
        await bus.emit_worker_completed("worker:w-done", "w-done", "w-done", True, {}, execution_id="w-done")
        await bus.emit_node_loop_started("worker:w-busy", "w-busy", execution_id="w-busy")

    bus = EventBus()
    hook = instrument(bus, session_id="session_q", queen_id="q", queue_size=100, via="publish")
    asyncio.run(run(bus))
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    for record in hook.drain():
        mapper.map(record, 0)
    beats = mapper.heartbeats(123, SessionContext("session_q", "q")).logs
    sessions = sorted(str(dict(r.resource.attributes)[A.HIVE_SESSION_ID]) for r in beats)
    assert sessions == ["session_q", "w-busy"]
    assert {r.event_name for r in beats} == {"hive.heartbeat"} and {r.time_ns for r in beats} == {123}


def _log(event_type: str, data: dict[str, object]) -> LogRecord:
    resource = ResourceFactory().for_context(SessionContext("s"))
    return status_log({"type": event_type, "data": data}, resource, 1, b"", b"", include_content=False)


def test_task_fields_keep_ids_and_edges_never_the_subject() -> None:
    task = {"id": 7, "subject": "SECRET plan", "status": "pending", "blocks": [8, 9], "blocked_by": [3]}
    created = _log("task_created", {"session_id": "s", "task": task})
    assert created.attributes[A.HIVE_TASK_ID] == "7" and created.attributes[A.HIVE_TASK_STATUS] == "pending"
    assert created.attributes[A.HIVE_TASK_BLOCKS] == ["8", "9"] and created.attributes[A.HIVE_TASK_BLOCKED_BY] == ["3"]
    assert "SECRET" not in repr(created.attributes)
    deleted = _log("task_deleted", {"session_id": "s", "task_id": 7, "cascade": []})  # Hive's ids are ints
    assert deleted.attributes[A.HIVE_TASK_ID] == "7"


@pytest.mark.parametrize(
    ("data", "next_fire_at"),
    [
        ({"trigger_id": "t", "trigger_type": "timer", "trigger_config": {"next_fire_at": NEXT_MS}}, NEXT_MS),
        ({"trigger_id": "t", "trigger_type": "timer", "next_fire_at": NEXT_MS, "task": "SECRET"}, NEXT_MS),
        ({"trigger_id": "t", "trigger_type": "timer", "next_fire_at": NEXT_MS / 1000 + 0.5}, NEXT_MS + 500),  # seconds
        ({"trigger_id": "t", "trigger_type": "webhook"}, None),
    ],
)
def test_trigger_fields_carry_the_next_wake(data: dict[str, object], next_fire_at: int | None) -> None:
    record = _log("trigger_fired", data)
    assert record.attributes[A.HIVE_TRIGGER_ID] == "t"
    assert record.attributes.get(A.HIVE_TRIGGER_NEXT_FIRE_AT) == next_fire_at
    assert "SECRET" not in repr(record.attributes)


def test_an_event_whose_mapping_raises_leaves_none_of_its_records_in_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """map_into writes into the pending batch; an event that fails half way (its stream-state record
    appended, then its status record raising: a failure forced here, since real events do not) leaves nothing."""

    async def run(bus: EventBus) -> None:
        await bus.emit_llm_text_delta("queen", "queen", "tok ", "...", execution_id="exec-1")
        await bus.emit_loop_state_changed("queen", "queen", "awaiting_user", "exec-1")

    bus = EventBus()
    hook = instrument(bus, session_id="session_s3", queen_id="q", queue_size=100, via="publish", stream_states=True)
    asyncio.run(run(bus))
    delta, loop_state = hook.drain()
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    pending = mapper.map(delta, 0)
    assert _states(pending.logs) == ["typing"]

    def failing_status_log(*args: object) -> LogRecord:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr("hive_otel.client.mapping.events.status_log", failing_status_log)
    with pytest.raises(RuntimeError):
        mapper.map_into(loop_state, 0, pending)
    assert _states(pending.logs) == ["typing"] and not pending.spans  # the "idle" record went with the failure
