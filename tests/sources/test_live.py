"""instrument() on a real aden-hive EventBus: enqueue only on the runtime's side, convert in drain()."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from framework.host.event_bus import AgentEvent, EventBus, EventType

from hive_otel import environment_variables as ev
from hive_otel.client.sources.live import STREAMING_DELTA_TYPES, Instrumentation, instrument
from hive_otel.client.sources.records import RecordKind, SessionContext
from hive_otel.settings import ClientSettings

VIAS = ("subscribe", "publish")


async def one_turn(bus: EventBus, iteration: int = 0) -> None:
    """What an agent-loop iteration publishes: lifecycle, deltas, a tool call, the turn's usage."""
    await bus.emit_node_loop_iteration("queen", "queen", iteration, execution_id="exec-1")
    await bus.emit_llm_reasoning_delta("queen", "queen", "hmm", execution_id="exec-1", iteration=iteration)
    await bus.emit_llm_text_delta("queen", "queen", "Hel", "Hel", execution_id="exec-1")
    await bus.emit_llm_text_delta("queen", "queen", "lo", "Hello", execution_id="exec-1")
    await bus.emit_client_output_delta("queen", "queen", "Hello", "Hello", execution_id="exec-1", iteration=iteration)
    await bus.emit_tool_call_started("queen", "queen", "toolu_1", "web_search", {"q": "x"}, execution_id="exec-1")
    await bus.emit_tool_call_completed("queen", "queen", "toolu_1", "web_search", "ok", execution_id="exec-1")
    await bus.emit_llm_turn_complete(
        "queen",
        "queen",
        "stop",
        "claude-sonnet-4-5",
        1200,
        300,
        cached_tokens=800,
        cost_usd=0.0051,
        execution_id="exec-1",
        iteration=iteration,
    )


@pytest.mark.parametrize("via", VIAS)
def test_records_equal_what_hive_writes_to_events_jsonl(via: str, tmp_path: Path) -> None:
    events_path = tmp_path / "events.jsonl"

    async def run() -> Instrumentation:
        bus = EventBus()
        bus.set_session_log(events_path)
        hook = instrument(bus, session_id="session_q", queen_id="queen_growth", queue_size=100, via=via)
        await bus.emit_execution_started("queen", "exec-1", {"message": "hi"})
        await one_turn(bus)
        await bus.emit_execution_completed("queen", "exec-1")
        bus.close_session_log()
        return hook

    hook = asyncio.run(run())
    records = hook.drain()
    on_disk = [json.loads(line) for line in events_path.read_text().splitlines()]
    # Hive coalesces deltas into one line per turn on disk; the live source drops them altogether.
    assert [r.data for r in records] == [d for d in on_disk if d["type"] not in STREAMING_DELTA_TYPES]
    assert [r.data["seq"] for r in records] == sorted(r.data["seq"] for r in records)
    assert {r.kind for r in records} == {RecordKind.EVENT}
    assert {r.context for r in records} == {SessionContext("session_q", "queen_growth")}
    assert hook.deltas_dropped == 4 and hook.records == len(records) == 6
    assert hook.counters == {"queued": 0, "dropped": 0, "records": 6, "deltas_dropped": 4, "conversion_errors": 0}


@pytest.mark.parametrize("via", VIAS)
def test_full_queue_drops_and_counts_without_raising_or_blocking(via: str) -> None:
    async def run() -> tuple[Instrumentation, float]:
        bus = EventBus()
        hook = instrument(bus, session_id="s", queue_size=5, via=via)
        started = time.perf_counter()
        for i in range(2000):
            await bus.emit_node_loop_iteration("queen", "queen", i)
        return hook, time.perf_counter() - started

    hook, elapsed = asyncio.run(run())
    assert hook.dropped == 2000 - 5
    assert elapsed < 5  # a full queue never makes publish wait for the consumer
    assert [r.data["data"]["iteration"] for r in hook.drain()] == [0, 1, 2, 3, 4]
    assert hook.drain() == []


@pytest.mark.parametrize("via", VIAS)
def test_uninstrument_stops_receiving_and_keeps_what_was_queued(via: str) -> None:
    async def run() -> tuple[EventBus, Instrumentation]:
        bus = EventBus()
        hook = instrument(bus, session_id="s", queue_size=10, via=via)
        await bus.emit_node_loop_iteration("queen", "queen", 1)
        hook.uninstrument()
        hook.uninstrument()  # idempotent
        await bus.emit_node_loop_iteration("queen", "queen", 2)
        return bus, hook

    bus, hook = asyncio.run(run())
    assert [r.data["data"]["iteration"] for r in hook.drain()] == [1]
    assert bus._subscriptions == {}
    assert "publish" not in vars(bus)  # the class's own publish is back


def test_publish_hook_counts_events_it_cannot_convert_and_keeps_the_rest() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque-object"

    async def run() -> Instrumentation:
        bus = EventBus()
        hook = instrument(bus, session_id="s", queue_size=10, via="publish")
        await bus.publish(AgentEvent(type="not_an_event_type", stream_id="queen"))  # type: ignore[arg-type]
        await bus.publish(
            AgentEvent(
                type=EventType.CUSTOM,
                stream_id="queen",
                data={"when": datetime(2026, 1, 15, 9, 0), "what": Opaque(), "full_request": {"x": 1}},
            )
        )
        return hook

    hook = asyncio.run(run())
    [record] = hook.drain()
    assert hook.conversion_errors == 1
    # JSON values as Hive writes them (default=str), without the prompt Hive keeps off disk
    assert record.data["data"] == {"when": "2026-01-15 09:00:00", "what": "opaque-object"}


def test_records_say_agent_from_the_event_that_shows_a_graph_agents_bus() -> None:
    """ExecutionManager (AgentHost) alone publishes a run stream's start and a run's start, on an entry
    point's stream; a queen's bus fed an execution_started on her own stream stays a queen's."""

    async def run() -> tuple[Instrumentation, Instrumentation]:
        queen_bus, graph_bus = EventBus(), EventBus()
        queen = instrument(queen_bus, session_id="s", queen_id="q", queue_size=10)
        graph = instrument(graph_bus, session_id="lookup_agent", queue_size=10)
        await queen_bus.emit_execution_started("queen", "exec-1")
        await graph_bus.emit_node_loop_iteration("default", "finder", 0)
        await graph_bus.publish(AgentEvent(type=EventType.STREAM_STARTED, stream_id="default", data={"entry_point": "x"}))
        await graph_bus.emit_execution_started("default", "session_20261207_120000_0a1b2c3d")
        return queen, graph

    queen, graph = asyncio.run(run())
    assert [r.context.agent_role for r in queen.drain()] == ["queen"]
    assert [r.context.agent_role for r in graph.drain()] == ["queen", "agent", "agent"]
    assert graph.context == SessionContext("lookup_agent", agent_role="agent")


def test_drain_takes_at_most_max_items() -> None:
    async def run() -> Instrumentation:
        bus = EventBus()
        hook = instrument(bus, session_id="s", queue_size=100)
        for i in range(10):
            await bus.emit_node_loop_iteration("queen", "queen", i)
        return hook

    hook = asyncio.run(run())
    assert len(hook.drain(4)) == 4
    assert len(hook.drain(100)) == 6


def test_handler_runs_inside_hive_publish_without_touching_the_event() -> None:
    seen: list[dict[str, Any]] = []

    async def run() -> Instrumentation:
        bus = EventBus()
        hook = instrument(bus, session_id="s", queue_size=10)

        async def other_subscriber(event: AgentEvent) -> None:
            seen.append(event.to_dict())

        bus.subscribe([EventType.LLM_TURN_COMPLETE], other_subscriber)
        await one_turn(bus)
        return hook

    hook = asyncio.run(run())
    turn = next(r for r in hook.drain() if r.data["type"] == "llm_turn_complete")
    assert turn.data["data"] == seen[0]["data"]
    assert turn.data["data"]["iteration"] == 0 and turn.data["data"]["cached_tokens"] == 800


def test_queue_size_comes_from_settings_and_bad_values_are_refused() -> None:
    bus = EventBus()
    settings = ClientSettings.from_env({ev.HIVE_HOME: "/nonexistent", ev.HIVE_OTEL_QUEUE_SIZE: "7"})
    assert instrument(bus, session_id="s", settings=settings).queue_size == 7
    with pytest.raises(ValueError):
        instrument(bus, session_id="s", queue_size=0)
    with pytest.raises(ValueError):
        instrument(bus, session_id="s", queue_size=1, via="telepathy")  # type: ignore[arg-type]
