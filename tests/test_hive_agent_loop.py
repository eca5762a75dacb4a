"""Hive's real agent loop, only its LLM scripted: a graph agent (AgentLoader → AgentHost → ExecutionManager →
Orchestrator → AgentLoop) runs with the live hook on its bus into our collector on loopback, then
``hive-otel backfill`` reads the run logs Hive wrote into the same collector. The stored usage equals the
provider's own record — a Hive LLM call being a turn whose requests' tokens and costs Hive sums — and the
backfill adds nothing: no usage, and no second span of a call (the bus and the L3 line give it the same ids).

The agent ends through ``max_iterations``: in Hive 1.0.12 the implicit judge of a graph worker never
accepts (a turn with tools is retried, a text-only turn takes the worker's stall grace, and after
``worker_escalation_grace_turns`` of them it waits for the queen), so two iterations end the run (as a
failure, "Max iterations (2) reached") in well under a second; a third would wait for a queen. The agent
declares no MCP servers (an empty ``mcp_servers.json``): otherwise Hive tries every server of its registry,
whose packages are not installed here, twice and 2 s apart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from framework.host.event_bus import AgentEvent, EventBus, EventType
from framework.llm.provider import Tool
from framework.loader.agent_loader import AgentLoader
from framework.orchestrator.edge import GraphSpec
from framework.orchestrator.goal import Goal
from framework.orchestrator.node import NodeSpec

import hive_otel
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.queries.usage import usage
from hive_otel.settings import ClientSettings
from tests.client_helpers import running_collector
from tests.scripted_llm import Reply, ScriptedLLM, ToolCall

AGENT = "lookup_agent"
MODEL = "claude-sonnet-4-5"
FIELDS = ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "tool_calls", "tool_errors")
SCRIPT = [
    # Turn 1: three requests — a tool call, a tool call that raises, then text.
    Reply("Looking it up.", (ToolCall("tu_1", "lookup", {"query": "x"}),), 900, 40, 100, 0.0011),
    Reply("Once again.", (ToolCall("tu_2", "lookup", {"query": "fail"}),), 1000, 45, 500, 0.0013),
    Reply("Found it.", (), 1100, 50, 600, 0.0017),
    # Turn 2: a tool call, then text.
    Reply("Checking.", (ToolCall("tu_3", "lookup", {"query": "y"}),), 1200, 55, 700, 0.0019),
    Reply("Done.", (), 1300, 60, 800, 0.0023),
]
LOOKUP_SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}}


async def _run_agent(
    home: Path,
    llm: ScriptedLLM,
    live_settings: ClientSettings | None,
    queries: list[str],
    loop_config: dict[str, Any],
    wait_s: float,
) -> tuple[list[AgentEvent], Any]:
    """One run of the graph agent, with the live hook on its bus if ``live_settings``, stopped after ``wait_s``:
    Hive's LLM turns as the bus carried them, and the run's result (None if it had not ended)."""

    def lookup(query: str = "") -> dict[str, str]:
        queries.append(query)
        if query == "fail":
            raise RuntimeError("lookup failed")
        return {"answer": f"result for {query}"}

    node = NodeSpec(id="finder", name="Finder", description="find", node_type="event_loop", tools=["lookup"],
                    system_prompt="Find the answer.")  # fmt: skip
    graph = GraphSpec(id=AGENT, goal_id="g1", entry_node="finder", terminal_nodes=["finder"], nodes=[node], edges=[],
                      default_model=MODEL, loop_config=loop_config)  # fmt: skip
    agent_dir = home.parent / "agent_src"
    agent_dir.mkdir()
    (agent_dir / "mcp_servers.json").write_text('{"servers": []}')
    runner = AgentLoader(agent_dir, graph, Goal(id="g1", name="g1", description="find the answer"),
                         storage_path=home / "agents" / AGENT, model=MODEL, interactive=False,
                         skip_credential_validation=True)  # fmt: skip
    runner._llm = llm
    runner.register_tool("lookup", Tool(name="lookup", description="look up", parameters=LOOKUP_SCHEMA),
                         lambda arguments: lookup(**arguments))  # fmt: skip
    bus = EventBus()
    turns: list[AgentEvent] = []

    async def on_turn(event: AgentEvent) -> None:
        turns.append(event)

    bus.subscribe(event_types=[EventType.LLM_TURN_COMPLETE], handler=on_turn)
    live = hive_otel.instrument(bus, session_id=AGENT, settings=live_settings) if live_settings else None
    runner._setup(event_bus=bus)
    host = runner._agent_runtime
    await host.start()
    try:
        result = await host.trigger_and_wait("default", {"task": "find x"}, timeout=wait_s)
    finally:
        await asyncio.wait_for(host.stop(), 30)
        assert live is None or live.shutdown(timeout_millis=15_000)
    return turns, result


def _spans_per_call(store: Any) -> dict[str, int]:
    """How many spans ``otel_traces`` holds of each LLM and tool call (by call key)."""
    _, rows = store.query(
        "SELECT SpanAttributes['hive.call_key'], toInt64(count()) FROM otel_traces "
        "WHERE SpanAttributes['hive.call_key'] != '' GROUP BY 1"
    )
    return dict(rows)


def _roles(store: Any) -> set[str]:
    """The agent roles every stored span and log record names."""
    _, rows = store.query(
        "SELECT ResourceAttributes['hive.agent.role'] FROM otel_traces "
        "UNION DISTINCT SELECT ResourceAttributes['hive.agent.role'] FROM otel_logs"
    )
    return {row[0] for row in rows}


def _stored(store: Any) -> dict[str, float]:
    totals = usage(store, ["model"]).totals
    return {f: totals[f] for f in FIELDS} | {"cost_usd": float(totals["cost_usd"])}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HIVE_HOME", str(home))
    monkeypatch.setenv("HIVE_NO_FILE_LOG", "1")
    monkeypatch.setattr("framework.config.HIVE_HOME", home)  # read at import; the MCP registry writes under it
    monkeypatch.setattr("framework.observability.configure_logging", lambda **_: None)  # the root logger is pytest's
    return home


def _settings(home: Path, endpoint: str) -> ClientSettings:
    env = {"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(home.parent / "state"), "HIVE_OTEL_ENDPOINT": endpoint}
    return ClientSettings.from_env(env | {"HIVE_OTEL_HEARTBEAT_S": "0"})


def test_a_real_agent_loop_stores_the_providers_usage_once(home: Path, tmp_path: Path) -> None:
    llm = ScriptedLLM(SCRIPT, default=Reply("Unscripted.", (), 7, 1, 0, 0.0))
    queries: list[str] = []
    with running_collector(tmp_path / "store") as (store, server, _):
        settings = _settings(home, server.http_url)
        run = _run_agent(home, llm, settings, queries, {"max_iterations": 2}, wait_s=30)
        turns, result = asyncio.run(asyncio.wait_for(run, 90))
        assert result is not None and "Max iterations (2)" in (result.error or ""), result

        assert llm.requests == SCRIPT and llm.completions == 0  # the script ran as written, nothing beyond it
        assert queries == ["x", "fail", "y"]
        truth = {
            "llm_calls": len(turns),
            "input_tokens": sum(r.input_tokens for r in llm.requests),
            "output_tokens": sum(r.output_tokens for r in llm.requests),
            "cached_tokens": sum(r.cached_tokens for r in llm.requests),
            "tool_calls": sum(len(r.tool_calls) for r in llm.requests),
            "tool_errors": queries.count("fail"),
        }
        assert len(turns) == 2  # Hive's turns: three requests, then two
        stored = _stored(store)
        assert {f: stored[f] for f in FIELDS} == truth
        assert stored["cost_usd"] == pytest.approx(sum(r.cost_usd for r in llm.requests), abs=1e-9)

        steps = [json.loads(line) for path in home.rglob("tool_logs.jsonl") for line in path.read_text().splitlines()]
        assert [len(step["tool_calls"]) for step in steps] == [2, 1]  # Hive's L3: what the backfill reads
        live_spans = _spans_per_call(store)
        assert len(live_spans) == len(turns) + truth["tool_calls"] and set(live_spans.values()) == {1}
        assert backfill(settings, timeout_s=60) == EXIT_OK
        assert _stored(store) == stored  # the backfill adds nothing
        assert _spans_per_call(store) == live_spans  # each call's span once: the L3 line's ids are the bus's
        assert _roles(store) == {"agent"}  # a graph agent's bus and its run logs name one role


def test_a_run_stopped_before_its_end_ends_its_session_on_file(home: Path, tmp_path: Path) -> None:
    """A graph worker whose turns end without tools waits for a queen after its stall grace; stopping the
    host then cancels the run. Hive writes no summary.json for it, only ``run_cancelled`` in the session's
    runs.jsonl, which hive-otel did not read: a backfill left the session active for good."""
    replies = [Reply(text, (), 7, 1, 0, 0.0) for text in ("Reading the task.", "Thinking it over, step two.",
               "A third, different thought.", "Still no tool to call here.", "Four words, then more.")]  # fmt: skip
    llm = ScriptedLLM(replies, default=Reply("The default reply.", (), 7, 1, 0, 0.0))
    with running_collector(tmp_path / "store") as (store, server, _):
        settings = _settings(home, server.http_url)
        # No live hook: on the bus Hive says the execution failed, and that is not what is tested here.
        _, result = asyncio.run(asyncio.wait_for(_run_agent(home, llm, None, [], {}, wait_s=3), 90))
        assert result is None  # still waiting when the host stopped
        (runs,) = home.rglob("runs.jsonl")
        assert [json.loads(line)["event"] for line in runs.read_text().splitlines()] == ["run_started", "run_cancelled"]
        assert not list(home.rglob("summary.json"))
        assert backfill(settings, timeout_s=60) == EXIT_OK
        session = runs.parent.name
        _, rows = store.query(f"SELECT status FROM agent_session_status WHERE session = '{session}'")
        assert rows == [["failed"]]
