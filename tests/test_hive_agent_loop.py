"""Hive's real agent loop, only its LLM scripted: a graph agent (AgentLoader → AgentHost → ExecutionManager →
Orchestrator → AgentLoop) runs with the live hook on its bus into our collector on loopback, then
``hive-otel backfill`` reads the run logs Hive wrote into the same collector. The stored usage equals the
provider's own record — a Hive LLM call being a turn whose requests' tokens and costs Hive sums — and the
backfill adds nothing.

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


async def _run_agent(home: Path, llm: ScriptedLLM, settings: ClientSettings, queries: list[str]) -> list[AgentEvent]:
    """One run of the graph agent with the live hook on its bus; Hive's LLM turns as the bus carried them."""

    def lookup(query: str = "") -> dict[str, str]:
        queries.append(query)
        if query == "fail":
            raise RuntimeError("lookup failed")
        return {"answer": f"result for {query}"}

    node = NodeSpec(id="finder", name="Finder", description="find", node_type="event_loop", tools=["lookup"],
                    system_prompt="Find the answer.")  # fmt: skip
    graph = GraphSpec(id=AGENT, goal_id="g1", entry_node="finder", terminal_nodes=["finder"], nodes=[node], edges=[],
                      default_model=MODEL, loop_config={"max_iterations": 2})  # fmt: skip
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
    live = hive_otel.instrument(bus, session_id=AGENT, settings=settings)
    runner._setup(event_bus=bus)
    host = runner._agent_runtime
    await host.start()
    try:
        result = await host.trigger_and_wait("default", {"task": "find x"}, timeout=30)
    finally:
        await asyncio.wait_for(host.stop(), 30)
        assert live.shutdown(timeout_millis=15_000)
    assert result is not None and "Max iterations (2)" in (result.error or ""), result
    return turns


def _stored(store: Any) -> dict[str, float]:
    totals = usage(store, ["model"]).totals
    return {f: totals[f] for f in FIELDS} | {"cost_usd": float(totals["cost_usd"])}


def test_a_real_agent_loop_stores_the_providers_usage_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HIVE_HOME", str(home))
    monkeypatch.setenv("HIVE_NO_FILE_LOG", "1")
    monkeypatch.setattr("framework.config.HIVE_HOME", home)  # read at import; the MCP registry writes under it
    monkeypatch.setattr("framework.observability.configure_logging", lambda **_: None)  # the root logger is pytest's
    llm = ScriptedLLM(SCRIPT, default=Reply("Unscripted.", (), 7, 1, 0, 0.0))
    queries: list[str] = []
    with running_collector(tmp_path / "store") as (store, server, _):
        env = {"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(tmp_path / "state"), "HIVE_OTEL_ENDPOINT": server.http_url}
        settings = ClientSettings.from_env(env | {"HIVE_OTEL_HEARTBEAT_S": "0"})
        turns = asyncio.run(asyncio.wait_for(_run_agent(home, llm, settings, queries), 90))

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
        assert backfill(settings, timeout_s=60) == EXIT_OK
        assert _stored(store) == stored  # the backfill adds nothing
