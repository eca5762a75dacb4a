"""Live export: hive_otel.instrument() on a real aden-hive EventBus → a real OTLP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from framework.host.event_bus import EventBus

import hive_otel
from hive_otel.settings import ClientSettings
from tests.client_helpers import attrs, decode
from tests.export.receivers import HttpReceiver


async def _one_turn(bus: EventBus) -> None:
    await bus.emit_execution_started("queen", "exec-1")
    await bus.emit_node_loop_started("queen", "queen_node", execution_id="exec-1")
    await bus.emit_llm_text_delta("queen", "queen_node", "SECRET-DELTA", "SECRET-DELTA", execution_id="exec-1")
    await bus.emit_llm_turn_complete(
        "queen", "queen_node", "end_turn", "claude-sonnet-4-5", 1200, 80,
        cached_tokens=1000, cost_usd=0.0123, execution_id="exec-1", iteration=0,
    )
    await bus.emit_tool_call_started("queen", "queen_node", "tu-1", "web_search", {"q": "SECRET-ARG"}, "exec-1")
    await bus.emit_tool_call_completed("queen", "queen_node", "tu-1", "web_search", "SECRET-RESULT", False, "exec-1")
    await bus.emit_node_loop_completed("queen", "queen_node", 1, execution_id="exec-1")
    await bus.emit_execution_completed("queen", "exec-1")


@pytest.mark.parametrize("via", ["subscribe", "publish"])
def test_live_bus_is_exported(tmp_path: Path, via: str) -> None:
    receiver = HttpReceiver()
    try:
        settings = ClientSettings.from_env(
            {"HIVE_OTEL_ENDPOINT": receiver.endpoint, "HIVE_OTEL_STATE_DIR": str(tmp_path), "HIVE_HOME": str(tmp_path)}
        )
        bus = EventBus()
        live = hive_otel.instrument(bus, session_id="session_live", queen_id="q1", settings=settings, via=via)
        assert live.enabled
        asyncio.run(_one_turn(bus))
        assert live.shutdown(timeout_millis=10_000)
        assert live.shutdown()  # idempotent
        got = decode(receiver.delivered())
    finally:
        receiver.down()
    [(resource, _span, a)] = got.chat_spans()
    assert resource["hive.session.id"] == "session_live" and resource["hive.queen.id"] == "q1"
    usage = (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.cache_read.input_tokens"], a["hive.cost_usd"])
    assert usage == (1200, 1000, 0.0123)
    assert a["gen_ai.provider.name"] == "anthropic"
    names = {s.name for _, s in got.spans}
    assert {"hive.execution", "hive.node queen_node", "execute_tool web_search", "invoke_agent q1"} <= names
    assert b"SECRET" not in b"".join(got.bodies)
    assert {attrs(r.attributes)["hive.event.type"] for _, r in got.logs} >= {"execution_started", "execution_completed"}


def test_without_endpoint_nothing_subscribes(tmp_path: Path) -> None:
    settings = ClientSettings.from_env({"HIVE_HOME": str(tmp_path)})
    bus = EventBus()
    live = hive_otel.instrument(bus, session_id="s", settings=settings)
    assert not live.enabled
    assert bus._subscriptions == {}  # no subscription at all: the runtime pays nothing
    assert live.shutdown()
    assert not (tmp_path / "otel").exists()
