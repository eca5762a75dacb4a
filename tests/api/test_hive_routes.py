"""Hive's own session routes on a real collector (tokens file, chDB store, sockets on 127.0.0.1).

Tenant A's DM queen session comes from a real aden-hive EventBus through ``hive_otel.instrument()``
(mapping, redaction, outbox, OTLP/HTTP with A's token), publishing the events Hive itself publishes
with the data shapes of aden-hive 1.0.12: ``queen_identity_selected`` (queen_orchestrator.py),
``queen_phase_changed`` (queen_lifecycle_tools.py), ``worker_colony_loaded`` (session_manager.py),
``colony_created`` (routes_sessions.py), plus an LLM call, a tool call, a trigger and token deltas.
Expected values are the ones published here, never what the pipeline computed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from framework.host.event_bus import AgentEvent, EventBus, EventType

import hive_otel
from hive_otel.collector.auth.tokens import TokenTable, add_token
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store
from hive_otel.settings import ClientSettings
from tests.collector.otlp_builders import Session, logs_request

TOKEN_A = "token-of-tenant-a-hive-routes-4b1d"
TOKEN_B = "token-of-tenant-b-hive-routes-9e3a"
A, B = "hive-a", "hive-b"
QUEEN, QUEEN_B = "session_20261206_120000_hiveq1", "session_20261206_120000_hiveq2"
# Phases are whatever Hive sends: 1.0.12 sends independent and colony; a later Hive may send others.
PHASES = ("independent", "colony", "a-phase-no-list-names")
NEXT_WAKE_MS = 1_893_456_000_000  # 2030-01-01T00:00:00Z


async def _dm_queen(bus: EventBus) -> None:
    await bus.emit_execution_started("queen", "exec-q")
    identity = {"queen_id": "queen_technology", "name": "Alexandra", "title": "SECRET-TITLE"}
    await bus.publish(AgentEvent(type=EventType.QUEEN_IDENTITY_SELECTED, stream_id="queen", data=identity))
    await bus.publish(AgentEvent(type=EventType.QUEEN_PHASE_CHANGED, stream_id="queen", data={"phase": PHASES[0]}))
    await bus.emit_node_loop_started("queen", "queen", execution_id="exec-q")
    await bus.emit_llm_text_delta("queen", "queen", "SECRET-DELTA", "SECRET-DELTA", execution_id="exec-q")
    await bus.emit_llm_turn_complete("queen", "queen", "tool_calls", "claude-sonnet-4-5", 1200, 80, cached_tokens=300,
                                     cache_creation_tokens=100, cost_usd=0.012,
                                     execution_id="exec-q", iteration=0)  # fmt: skip
    await bus.emit_tool_call_started("queen", "queen", "tu-1", "web_search", {"q": "SECRET-ARG"}, execution_id="exec-q")
    await bus.emit_tool_call_completed("queen", "queen", "tu-1", "web_search", "SECRET-RESULT", execution_id="exec-q")
    loaded = {"colony_id": "research", "agent_path": "/home/SECRET/colony", "goal": "", "node_count": 0}
    await bus.publish(AgentEvent(type=EventType.WORKER_COLONY_LOADED, stream_id="queen", data=loaded))
    created = {"colony_id": "research_2", "colony_path": "/home/SECRET/c2", "queen_session_id": "session_c2",
               "is_new": True, "compaction_status": "in_progress"}  # fmt: skip
    await bus.publish(AgentEvent(type=EventType.COLONY_CREATED, stream_id="queen", data=created))
    for phase in PHASES[1:]:
        await bus.publish(AgentEvent(type=EventType.QUEEN_PHASE_CHANGED, stream_id="queen", data={"phase": phase}))
    trigger = {"trigger_id": "nightly", "trigger_type": "timer", "name": "SECRET-NAME",
               "trigger_config": {"cron": "0 0 * * *", "next_fire_at": NEXT_WAKE_MS}}  # fmt: skip
    await bus.publish(AgentEvent(type=EventType.TRIGGER_ACTIVATED, stream_id="queen", data=trigger))
    await bus.emit_loop_state_changed("queen", "queen", "awaiting_user", "exec-q", park_reason="turn_done")


async def _queen_b(bus: EventBus) -> None:
    await bus.emit_execution_started("queen", "exec-b")
    await bus.emit_llm_turn_complete("queen", "queen", "stop", "gpt-4o", 500, 50, execution_id="exec-b", iteration=0)


def _wait(predicate: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _settings(server: Collector, work: Path, token: str) -> ClientSettings:
    env = {
        "HIVE_HOME": str(work),
        "HIVE_OTEL_STATE_DIR": str(work / "state"),
        "HIVE_OTEL_ENDPOINT": server.http_url,
        "HIVE_OTEL_TOKEN": token,
        "HIVE_OTEL_JOIN_WINDOW_S": "0",
        "HIVE_OTEL_HEARTBEAT_S": "1",
    }
    return ClientSettings.from_env(env)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Store]]:
    work = tmp_path_factory.mktemp("hive-routes")
    tokens = work / "tokens.yaml"
    add_token(tokens, TOKEN_A, A)
    add_token(tokens, TOKEN_B, B)
    store = open_store(f"chdb://{work / 'store'}")
    server = Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1, tokens=TokenTable.load(tokens))
    server.start()
    lives = []
    for token, session, scenario in ((TOKEN_A, QUEEN, _dm_queen), (TOKEN_B, QUEEN_B, _queen_b)):
        bus = EventBus()
        settings = _settings(server, tmp_path_factory.mktemp("client"), token)
        lives.append(hive_otel.instrument(bus, session_id=session, queen_id="queen_technology", settings=settings))
        asyncio.run(scenario(bus))

    def arrived() -> bool:
        _, rows = store.query(
            "SELECT countIf(event_type = 'loop_state_changed'), (SELECT count() FROM usage_facts WHERE kind = 'tool'), "
            f"(SELECT count() FROM usage_facts WHERE tenant = '{B}') FROM status_events"
        )
        return int(rows[0][0]) >= 1 and int(rows[0][1]) >= 1 and int(rows[0][2]) >= 1

    _wait(arrived)
    yield server, store
    for live in lives:
        live.shutdown(timeout_millis=5000)
    server.stop()
    store.close()


def _get(server: Collector, path: str, token: str, **params: Any) -> httpx.Response:
    return httpx.get(server.http_url + path, headers={"Authorization": f"Bearer {token}"}, params=params, timeout=30)


def test_session_detail_has_hives_own_fields_from_hives_own_events(served: tuple[Collector, Store]) -> None:
    server, _ = served
    detail = _get(server, f"/api/sessions/{QUEEN}", TOKEN_A).json()
    assert detail["session_id"] == QUEEN
    assert detail["queen_id"] == "queen_technology" and detail["queen_name"] == "Alexandra"
    assert detail["queen_phase"] == PHASES[-1]  # the last phase sent, whatever its name
    assert [p["phase"] for p in detail["phase_history"]] == list(PHASES)
    assert detail["queen_model"] == "claude-sonnet-4-5"
    assert detail["colony_id"] == "research" and detail["has_worker"] is True
    assert detail["spawned_colony_id"] == "research_2" and detail["colony_spawned"] is True
    assert detail["uptime_seconds"] is not None and detail["uptime_seconds"] >= 0
    assert detail["loaded_at"] is not None and abs(detail["loaded_at"] - time.time()) < 600
    assert detail["entry_points"] == [
        {"id": "nightly", "trigger_type": "timer", "next_fire_at": NEXT_WAKE_MS, "fire_count": 0, "last_fired_at": None}
    ]
    assert detail["status"]["session"] == QUEEN and detail["status"]["phase"] == PHASES[-1]
    assert "SECRET" not in json.dumps(detail)


def test_a_session_that_stated_nothing_has_none_not_an_invented_value(served: tuple[Collector, Store]) -> None:
    server, _ = served
    detail = _get(server, f"/api/sessions/{QUEEN_B}", TOKEN_B).json()
    assert detail["queen_phase"] is None and detail["queen_name"] is None
    assert detail["queen_id"] == "queen_technology"  # the queen the session belongs to (its resource)
    assert detail["colony_id"] is None and detail["has_worker"] is False
    assert detail["spawned_colony_id"] is None and detail["colony_spawned"] is False
    assert detail["queen_model"] == "gpt-4o" and detail["entry_points"] == []


def _all_events(server: Collector, token: str, session: str) -> list[dict[str, Any]]:
    return _get(server, f"/api/sessions/{session}/events/history", token, limit=10_000).json()["events"]


def test_history_is_the_stored_durable_events_never_deltas(served: tuple[Collector, Store]) -> None:
    server, _ = served
    events = _all_events(server, TOKEN_A, QUEEN)
    types = [e["type"] for e in events]
    assert types.count("queen_phase_changed") == len(PHASES)
    assert types.count("llm_turn_complete") == 1 and types.count("tool_call_completed") == 1
    assert {"queen_identity_selected", "worker_colony_loaded", "colony_created", "trigger_activated"} <= set(types)
    assert not {"llm_text_delta", "heartbeat", "stream_state_changed"} & set(types)
    [llm] = [e for e in events if e["type"] == "llm_turn_complete"]
    assert llm["data"]["model"] == "claude-sonnet-4-5" and llm["data"]["input_tokens"] == "1200"
    assert llm["data"]["cached_tokens"] == "300" and llm["data"]["cache_creation_tokens"] == "100"
    [phase] = [e for e in events if e["type"] == "queen_phase_changed" and e["data"]["hive.queen.phase"] == PHASES[1]]
    assert phase["stream_id"] == "queen" and isinstance(phase["event_seq"], int)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert "SECRET" not in json.dumps(events)


def test_history_pages_backwards_as_hive_does(served: tuple[Collector, Store]) -> None:
    server, _ = served
    everything = _all_events(server, TOKEN_A, QUEEN)
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"before_offset": cursor} if cursor is not None else {})}
        page = _get(server, f"/api/sessions/{QUEEN}/events/history", TOKEN_A, **params).json()
        assert page["limit"] == 4 and page["returned"] == len(page["events"]) <= 4
        assert page["total"] == len(everything) and page["start_index"] == page["start_offset"] + 1
        pages.insert(0, page["events"])
        if not page["has_more_older"]:
            assert page["start_offset"] == 0
            break
        cursor = page["start_offset"]
    assert [e for page in pages for e in page] == everything


def test_a_replayed_record_is_listed_once(served: tuple[Collector, Store]) -> None:
    server, _ = served
    session = Session("session_replayed", "session_replayed", tenant=A)
    body = logs_request(session, [(time.time_ns(), "queen_phase_changed", {"hive.queen.phase": "colony"})])
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN_A}"}
    for _ in range(2):
        response = httpx.post(server.http_url + "/v1/logs", content=body.SerializeToString(), headers=headers)
        assert response.status_code == 200
    assert [e["type"] for e in _all_events(server, TOKEN_A, "session_replayed")] == ["queen_phase_changed"]


def test_stats_count_what_the_history_holds(served: tuple[Collector, Store]) -> None:
    server, _ = served
    stats = _get(server, f"/api/sessions/{QUEEN}/stats", TOKEN_A).json()
    events = _all_events(server, TOKEN_A, QUEEN)
    assert stats["session_id"] == QUEEN and stats["running"] is True and stats["colony_id"] == "research"
    assert stats["event_bus"]["total_events"] == len(events)
    assert stats["event_bus"]["events_by_type"]["queen_phase_changed"] == len(PHASES)
    assert stats["triggers"] == 1 and stats["total_workers"] == 0 and stats["active_workers"] == 0
    assert stats["usage"]["llm_calls"] == 1 and stats["usage"]["input_tokens"] == 1200
    assert stats["usage"]["cache_creation_tokens"] == 100 and stats["usage"]["tool_calls"] == 1


@pytest.mark.parametrize("route", ["", "/stats", "/events/history"])
def test_hive_routes_are_tenant_scoped_and_documented(served: tuple[Collector, Store], route: str) -> None:
    server, _ = served
    path = f"/api/sessions/{QUEEN}{route}"
    assert _get(server, path, TOKEN_A).status_code == 200
    assert _get(server, path, TOKEN_B).status_code == 404  # B cannot learn that A's session exists
    assert httpx.get(server.http_url + path).status_code == 401
    assert httpx.get(server.http_url + "/openapi.json").status_code == 401  # the document needs a token too
    document = httpx.get(server.http_url + "/openapi.json", headers={"Authorization": f"Bearer {TOKEN_A}"}).json()
    assert f"/api/sessions/{{session_id}}{route}" in document["paths"]

