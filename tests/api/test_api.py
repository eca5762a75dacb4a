"""The status and usage API on a real collector (tokens file, chDB store, sockets on 127.0.0.1).

Tenant A's sessions come from a real aden-hive EventBus through ``hive_otel.instrument()`` (mapping,
redaction, outbox, OTLP/HTTP with A's token): a queen parked awaiting the user (idle by design), a
worker that stalled (node_stalled + stream_inactive with no progress since) and one that completed.
Tenant B has one queen session. Live export is left running while the routes are read, because
shutting it down ends every session (their invoke_agent spans).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from framework.host.event_bus import AgentEvent, EventBus, EventType

import hive_otel
from hive_otel.attributes import ROLE_WORKER
from hive_otel.collector.api.broadcast import Broadcaster
from hive_otel.collector.auth.tokens import TokenTable, add_token
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store
from hive_otel.settings import ClientSettings
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, logs_request, session_span, traces_request

TOKEN_A = "token-of-tenant-a-api-3f9c1e7b2d"
TOKEN_B = "token-of-tenant-b-api-8a2e4c6f0b"
TOKEN_ADMIN = "token-of-the-api-operator-5d1f"
A, B = "api-a", "api-b"
QUEEN, QUEEN_B = "session_api_queen", "session_api_queen_b"
STALLED, DONE = "w-stalled", "w-done"
NEXT_WAKE_MS = 1_893_456_000_000  # 2030-01-01T00:00:00Z


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Store]]:
    work = tmp_path_factory.mktemp("api")
    tokens = work / "tokens.yaml"
    add_token(tokens, TOKEN_A, A)
    add_token(tokens, TOKEN_B, B)
    add_token(tokens, TOKEN_ADMIN, "api-ops", admin=True)
    store = open_store(f"chdb://{work / 'store'}")
    server = Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1, tokens=TokenTable.load(tokens))
    server.start()
    server.api.quotas._min_interval_s = 0.05
    yield server, store
    server.stop()
    store.close()


def _settings(server: Collector, work: Path, token: str) -> ClientSettings:
    return ClientSettings.from_env(
        {
            "HIVE_HOME": str(work),
            "HIVE_OTEL_STATE_DIR": str(work / "state"),
            "HIVE_OTEL_ENDPOINT": server.http_url,
            "HIVE_OTEL_TOKEN": token,
            "HIVE_OTEL_JOIN_WINDOW_S": "0",
            "HIVE_OTEL_HEARTBEAT_S": "1",
            "HIVE_OTEL_USER_ID": "alice",
        }
    )


async def _queen_and_workers(bus: EventBus) -> None:
    await bus.emit_execution_started("queen", "exec-q")
    await bus.publish(AgentEvent(type=EventType.QUEEN_PHASE_CHANGED, stream_id="queen", data={"phase": "independent"}))
    await bus.publish(AgentEvent(type=EventType.QUEEN_PHASE_CHANGED, stream_id="queen", data={"phase": "working"}))
    await bus.emit_node_loop_started("queen", "queen", execution_id="exec-q")
    await bus.emit_llm_text_delta("queen", "queen", "hi", "hi", execution_id="exec-q")
    await bus.emit_llm_turn_complete("queen", "queen", "stop", "gpt-4o", 1000, 100, cost_usd=0.01,
                                     execution_id="exec-q", iteration=0)  # fmt: skip
    for task in (
        {"id": 1, "subject": "SECRET-SUBJECT", "status": "in_progress", "blocks": [2], "blocked_by": []},
        {"id": 2, "subject": "second", "status": "pending", "blocks": [], "blocked_by": [1]},
    ):
        await bus.publish(AgentEvent(type=EventType.TASK_CREATED, stream_id="queen", data={"task": task}))
    done = {"id": 1, "subject": "", "status": "completed", "blocks": [2], "blocked_by": []}
    await bus.publish(AgentEvent(type=EventType.TASK_UPDATED, stream_id="queen", data={"task_id": 1, "after": done}))
    trigger = {"trigger_id": "nightly", "trigger_type": "timer", "name": "SECRET-NAME",
               "trigger_config": {"cron": "0 0 * * *", "next_fire_at": NEXT_WAKE_MS}}  # fmt: skip
    await bus.publish(AgentEvent(type=EventType.TRIGGER_ACTIVATED, stream_id="queen", data=trigger))
    for worker in (STALLED, DONE):
        stream = f"worker:{worker}"
        await bus.emit_node_loop_started(stream, worker, execution_id=worker)
        await bus.emit_llm_turn_complete(stream, worker, "stop", "claude-sonnet-4-5", 2000, 200, cost_usd=0.02,
                                         execution_id=worker, iteration=0)  # fmt: skip
    await bus.emit_node_stalled(f"worker:{STALLED}", STALLED, "similar responses", STALLED)
    await bus.emit_stream_inactive(f"worker:{STALLED}", STALLED, 95.0, 90.0, STALLED)
    await bus.emit_worker_completed(f"worker:{DONE}", DONE, DONE, True, {}, execution_id=DONE)
    await bus.emit_loop_state_changed("queen", "queen", "awaiting_user", "exec-q", park_reason="turn_done")


async def _queen_b(bus: EventBus) -> None:
    await bus.emit_execution_started("queen", "exec-b")
    await bus.emit_llm_turn_complete("queen", "queen", "stop", "gpt-4o", 500, 50, execution_id="exec-b", iteration=0)


def _wait(predicate: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def loaded(collector: tuple[Collector, Store], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    server, store = collector
    lives = []
    for token, session, colony, scenario in ((TOKEN_A, QUEEN, "c1", _queen_and_workers), (TOKEN_B, QUEEN_B, None, _queen_b)):
        bus = EventBus()
        settings = _settings(server, tmp_path_factory.mktemp("client"), token)
        live = hive_otel.instrument(bus, session_id=session, queen_id="q", colony_id=colony, settings=settings)
        asyncio.run(scenario(bus))
        lives.append(live)

    def arrived() -> bool:
        _, rows = store.query(
            "SELECT countIf(event_type = 'loop_state_changed'), countIf(event_type = 'heartbeat' AND session = "
            f"'{QUEEN_B}'), (SELECT count() FROM usage_facts WHERE tenant IN ('{A}', '{B}')) FROM status_events"
        )
        return int(rows[0][0]) >= 1 and int(rows[0][1]) >= 1 and int(rows[0][2]) >= 4

    _wait(arrived)
    yield server
    for live in lives:
        live.shutdown(timeout_millis=5000)


def _get(server: Collector, path: str, token: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.http_url + path, headers=headers, params=params, timeout=30)


ROUTES = [
    f"/api/sessions/{QUEEN}",
    f"/api/sessions/{QUEEN}/tree",
    f"/api/sessions/{QUEEN}/health",
    f"/api/sessions/{QUEEN}/usage",
    f"/api/sessions/{QUEEN}/usage/by-model",
    "/api/colonies/c1/workers",
    "/api/colonies/c1/usage",
    "/api/agents/queen/usage",
    "/api/usage/rollup",
    f"/api/quotas/{A}",
    f"/api/quotas/{A}/decisions",
]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_needs_a_token_and_reads_only_its_tenant(loaded: Collector, path: str) -> None:
    assert _get(loaded, path, None).status_code == 401
    assert _get(loaded, path, "not-a-known-token-at-all-0000").status_code == 401
    mine = _get(loaded, path, TOKEN_A)
    assert mine.status_code == 200, mine.text
    theirs = _get(loaded, path, TOKEN_B)
    if "/sessions/" in path:
        assert theirs.status_code == 404  # B cannot even learn that A's session exists
    elif "/quotas/" in path:
        assert theirs.status_code == 403
    else:
        assert theirs.status_code == 200 and A not in theirs.text
        assert theirs.json().get("workers", []) == []  # B has no colony c1
    assert _get(loaded, path.split("?")[0], TOKEN_B, tenant=A).status_code in (403, 404)


def test_rollup_by_tenant_shows_only_the_callers_tenant_and_all_for_an_operator(loaded: Collector) -> None:
    rows = _get(loaded, "/api/usage/rollup", TOKEN_A, range="all", group_by="tenant").json()["rows"]
    tenants = {row["tenant"] for row in rows}
    assert tenants == {A}
    everyone = _get(loaded, "/api/usage/rollup", TOKEN_ADMIN, range="all", group_by="tenant").json()["rows"]
    assert {A, B} <= {row["tenant"] for row in everyone}


def test_session_detail_is_the_right_rail(loaded: Collector) -> None:
    detail = _get(loaded, f"/api/sessions/{QUEEN}", TOKEN_A).json()
    assert [p["phase"] for p in detail["phase_history"]] == ["independent", "working"]
    tasks = {t["task_id"]: t for t in detail["tasks"]}
    assert tasks["1"]["status"] == "completed" and tasks["1"]["blocks"] == ["2"] and tasks["2"]["blocked_by"] == ["1"]
    assert detail["open_task_count"] == 1
    [trigger] = detail["triggers"]
    assert trigger["state"] == "active" and trigger["next_fire_at"] == "2030-01-01T00:00:00.000Z"
    assert detail["next_wake_at"] == trigger["next_fire_at"]
    assert "SECRET" not in json.dumps(detail)


def test_idle_by_design_is_not_stalled_and_a_stall_is(loaded: Collector) -> None:
    queen = _get(loaded, f"/api/sessions/{QUEEN}/health", TOKEN_A).json()
    assert queen["health"] == "idle" and queen["stall_score"] == 0 and queen["waiting"]
    assert queen["park_reason"] == "turn_done"
    stalled = _get(loaded, f"/api/sessions/{STALLED}/health", TOKEN_A).json()
    assert stalled["health"] == "stalled" and stalled["stall_score"] >= 0.5
    assert set(stalled["stall_signals"]) == {"node_stalled", "stream_inactive"}
    workers = _get(loaded, "/api/colonies/c1/workers", TOKEN_A).json()
    assert workers["health"]["by_health"]["stalled"] == 1 and workers["health"]["total"] == 2
    tree = _get(loaded, f"/api/sessions/{STALLED}/tree", TOKEN_A).json()
    assert tree["root_session"] == QUEEN and tree["queen"]["session"] == QUEEN
    assert {w["session"] for c in tree["colonies"] for w in c["workers"]} == {STALLED, DONE}


def test_heartbeats_make_last_seen_recent(loaded: Collector) -> None:
    time.sleep(1.5)  # at least one more heartbeat (every second here)
    health = _get(loaded, f"/api/sessions/{QUEEN}/health", TOKEN_A).json()
    assert health["last_heartbeat_at"] is not None
    assert health["last_seen_s"] < 5
    done = _get(loaded, f"/api/sessions/{DONE}/health", TOKEN_A).json()
    assert done["last_heartbeat_at"] is None or done["last_heartbeat_at"] < health["last_heartbeat_at"]


def test_usage_routes_equal_the_usage_query_layer(loaded: Collector, collector: tuple[Collector, Store]) -> None:
    from hive_otel.collector.queries.usage import usage

    _, store = collector
    by_model = _get(loaded, f"/api/sessions/{QUEEN}/usage/by-model", TOKEN_A).json()
    assert by_model == usage(store, ["model"], tenant=A, filters={"session": QUEEN}).as_dict()
    tree = _get(loaded, f"/api/sessions/{QUEEN}/usage", TOKEN_A, scope="tree").json()
    assert tree["usage"]["llm_calls"] == 3 and tree["usage"]["input_tokens"] == 5000
    # Below the root, a tree is the session and what is under it (it was 0: the route read the root's tree key).
    alone, under = (_get(loaded, f"/api/sessions/{STALLED}/usage", TOKEN_A, scope=s).json() for s in ("session", "tree"))
    assert (under["usage"]["llm_calls"], under["usage"]["input_tokens"], under["usage"]["cost_usd"]) == (1, 2000, 0.02)
    assert (under["usage"], under["latency"]) == (alone["usage"], alone["latency"])  # a worker has nothing under it


def test_a_tree_below_its_root_sums_its_sessions_at_any_depth_in_sql(
    loaded: Collector, collector: tuple[Collector, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """root → a → b → c → d, and a sibling of a: a's tree is a, b, c and d. The route summed the root's
    rows per session in Python, and a root of more than 100,000 sessions with calls hit the report's cap
    (here 2 rows, under the root's 6 sessions)."""
    import hive_otel.collector.queries.usage as usage_module
    from hive_otel.collector.queries.status import session_latency
    from hive_otel.collector.queries.usage import usage

    monkeypatch.setattr(usage_module, "MAX_ROWS", 2)

    _, store = collector
    parents = {"deep-a": "deep-root", "deep-b": "deep-a", "deep-c": "deep-b", "deep-d": "deep-c", "deep-s": "deep-root"}
    sessions = [Session("deep-root", "deep-root")] + [
        Session(child, "deep-root", role=ROLE_WORKER, worker=child, parent=parent) for child, parent in parents.items()
    ]
    batches = [
        SessionBatch(s, [session_span(s, BASE_NS, BASE_NS + 10**9), LlmCall(f"deep:{i}", input_tokens=10**i, cost_usd=0.001,
                                                                            latency_ms=100 * (i + 1), at_ns=BASE_NS).span()])
        for i, s in enumerate(sessions)
    ]  # fmt: skip
    store.ingest_traces(traces_request(batches), tenant=A)
    under_a = ["deep-a", "deep-b", "deep-c", "deep-d"]  # 10, 100, 1000, 10000 tokens
    tree = _get(loaded, "/api/sessions/deep-a/usage", TOKEN_A, scope="tree").json()
    assert tree["usage"]["input_tokens"] == 11110 and tree["usage"]["llm_calls"] == 4
    assert tree["usage"] == usage(store, [], tenant=A, filters={"session": under_a}).totals
    assert tree["latency"] == session_latency(store, A, "deep-root", "root_session", sessions=under_a)
    assert tree["latency"]["max_ms"] == 500  # deep-d's, not the sibling's 600
    below = _get(loaded, "/api/sessions/deep-c/usage", TOKEN_A, scope="tree").json()
    assert (below["usage"]["input_tokens"], below["usage"]["cost_usd"]) == (11000, 0.002)
    whole = _get(loaded, "/api/sessions/deep-root/usage", TOKEN_A, scope="tree").json()
    assert whole["usage"]["input_tokens"] == 111111  # the root's own tree key: every session, the sibling too


class _SseReader:
    """Reads an SSE stream in a thread; ``events`` fills with (id, event, data, arrival time)."""

    def __init__(self, url: str, token: str, last_event_id: str | None = None) -> None:
        self.events: list[tuple[str, str, dict[str, Any], float]] = []
        self.comments: list[str] = []
        self.error: httpx.TransportError | None = None
        headers = {"Authorization": f"Bearer {token}", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            self._read(url, headers)
        except httpx.TransportError as error:  # the server went away (e.g. the module's collector stopped)
            self.error = error

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=30) as response:
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                    self._ready.set()
                elif not line:
                    if "data" in fields:
                        self.events.append((fields["id"], fields["event"], json.loads(fields["data"]), time.monotonic()))
                    fields = {}
                else:
                    key, _, value = line.partition(": ")
                    fields[key] = value
                if self._stop.is_set():
                    return

    def close(self) -> None:
        self._stop.set()


Events = list[tuple[int, str, dict[str, object]]]


def _post_logs(server: Collector, token: str, session: Session, events: Events) -> None:
    body = logs_request(session, events).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    response = httpx.post(server.http_url + "/v1/logs", content=body, timeout=30, headers=headers)
    assert response.status_code == 200


def test_sse_delivers_an_ingested_event_and_resumes(loaded: Collector) -> None:
    session = Session("session_sse", "session_sse", tenant="payload-says-other")
    url = f"{loaded.http_url}/api/sessions/session_sse/events/stream?filter=phase,health"
    assert _get(loaded, "/api/sessions/session_sse/events/stream", TOKEN_A).status_code == 404  # not sent yet
    _post_logs(loaded, TOKEN_A, session, [(time.time_ns(), "task_created", {"hive.task.id": "1"})])  # filtered out
    reader = _SseReader(url, TOKEN_A)
    # B cannot open A's stream (nor learn that the session exists): a 404, not an empty stream
    assert _get(loaded, "/api/sessions/session_sse/events/stream", TOKEN_B).status_code == 404
    try:
        _post_logs(loaded, TOKEN_A, session, [(time.time_ns(), "queen_phase_changed", {"hive.queen.phase": "working"})])
        # Pushed while the stream is open; how fast is the bench's business (a timed assert fails on a busy machine).
        _wait(lambda: reader.events, timeout_s=5)
        event_id, category, data, _ = reader.events[0]
        assert category == "phase" and data["phase"] == "working" and data["session"] == "session_sse"
        _post_logs(loaded, TOKEN_A, session, [(time.time_ns(), "task_created", {"hive.task.id": "9"})])  # filtered out
    finally:
        reader.close()
    time.sleep(0.2)
    _post_logs(loaded, TOKEN_A, session, [(time.time_ns(), "node_stalled", {}), (time.time_ns() + 1, "heartbeat", {})])
    resumed = _SseReader(url, TOKEN_A, last_event_id=event_id)
    try:
        _wait(lambda: len(resumed.events) >= 2, timeout_s=5)
        assert [e[2]["type"] for e in resumed.events[:2]] == ["node_stalled", "heartbeat"]
        assert all(e[1] == "health" for e in resumed.events[:2])
    finally:
        resumed.close()


def test_a_request_sent_again_does_not_show_its_events_twice(loaded: Collector) -> None:
    """A client whose acknowledgement was lost sends the request again: the store keeps its records
    once, and the streams must not show them twice either."""
    session = Session("session_sse_again", "session_sse_again", tenant="x")
    url = f"{loaded.http_url}/api/sessions/session_sse_again/events/stream?filter=phase,health"
    _post_logs(loaded, TOKEN_A, session, [(time.time_ns(), "node_stalled", {})])  # the session exists
    reader = _SseReader(url, TOKEN_A)
    try:
        events: Events = [(time.time_ns(), "queen_phase_changed", {"hive.queen.phase": "working"})]
        _post_logs(loaded, TOKEN_A, session, events)
        _post_logs(loaded, TOKEN_A, session, events)  # the retry
        _post_logs(loaded, TOKEN_A, session, [(time.time_ns(), "heartbeat", {})])  # comes after both
        _wait(lambda: any(e[2]["type"] == "heartbeat" for e in reader.events), timeout_s=5)
        assert [e[2]["type"] for e in reader.events] == ["queen_phase_changed", "heartbeat"]
    finally:
        reader.close()
    assert loaded.api.broadcaster.counters["duplicates_dropped"] >= 1


def test_live_buffers_hold_so_many_tenants_and_a_resume_past_a_dropped_one_gets_a_gap() -> None:
    """While an operator's stream is open every tenant's events are buffered: one buffer (and its remembered
    items) a tenant, ~2 MB each, for the life of the process, however many tenants sent (an attack's count)."""
    broadcaster = Broadcaster(max_tenants=2)
    first = broadcaster.publish("t1", [("health", {"type": "heartbeat", "at": "1"})])[0]
    broadcaster.publish("t2", [("health", {"type": "heartbeat", "at": "2"})])
    broadcaster.publish("t1", [("health", {"type": "heartbeat", "at": "3"})])  # t2 now published least recently
    broadcaster.publish("t3", [("health", {"type": "heartbeat", "at": "4"})])

    async def resume(tenant: str, last_event_id: str) -> tuple[list[str], bool]:
        subscription, replay, gap = broadcaster.subscribe(tenant, last_event_id)
        broadcaster.unsubscribe(subscription)
        return [str(event.data["at"]) for event in replay], gap

    assert asyncio.run(resume("t2", f"{broadcaster.epoch}-0")) == ([], True)
    assert asyncio.run(resume("t1", first.id)) == (["3"], False)
    assert asyncio.run(resume("t3", f"{broadcaster.epoch}-0")) == (["4"], False)


def test_sse_sends_heartbeat_comments(loaded: Collector) -> None:
    reader = _SseReader(f"{loaded.http_url}/api/agents/queen/stream", TOKEN_B)
    reader.close()
    assert reader.comments  # the opening comment; heartbeats repeat it every sse_heartbeat_s


def _post_spans(server: Collector, token: str, tokens_each: int, count: int, model: str, tag: str) -> None:
    session = Session(f"session_quota_{tag}", f"session_quota_{tag}", tenant="x")
    calls = [LlmCall(f"quota-{tag}-{i}", model=model, input_tokens=tokens_each, output_tokens=0, at_ns=time.time_ns())
             for i in range(count)]  # fmt: skip
    body = traces_request([SessionBatch(session, [c.span() for c in calls])]).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    response = httpx.post(server.http_url + "/v1/traces", content=body, timeout=30, headers=headers)
    assert response.status_code == 200


def test_budgets_alert_then_block_and_the_most_restrictive_wins(loaded: Collector) -> None:
    admin = {"Authorization": f"Bearer {TOKEN_ADMIN}"}
    url = f"{loaded.http_url}/api/quotas/{B}"
    before = _get(loaded, "/api/usage/rollup", TOKEN_B, range="today", group_by="tenant").json()["totals"]
    spent = before["input_tokens"] + before["output_tokens"]
    policy = {
        "budgets": [
            {"id": "daily-tokens", "scope": "tenant", "metric": "tokens", "period": "daily", "limit": spent + 10_000,
             "alert_at": 0.5, "hard_at": 1.0, "action": "block"},
            {"id": "gpt4o", "scope": "model", "value": "gpt-4o", "metric": "tokens", "period": "monthly",
             "limit": spent + 1_000, "action": "degrade", "degrade_to": "gpt-4o-mini"},
            {"id": "roomy", "scope": "user", "value": "alice", "metric": "cost_usd", "period": "monthly", "limit": 1e6},
        ]
    }  # fmt: skip
    assert httpx.post(url, json=policy, headers={"Authorization": f"Bearer {TOKEN_B}"}).status_code == 403
    status = httpx.post(url, json=policy, headers=admin, timeout=30)
    assert status.status_code == 200 and status.json()["decision"] == "allow"
    stream = _SseReader(f"{loaded.http_url}/api/agents/queen/stream", TOKEN_B)
    try:
        _post_spans(loaded, TOKEN_B, 6_000, 1, "claude-sonnet-4-5", "a")  # tenant budget past 50%: alert
        _wait(lambda: any(c["decision"] == "alert" for c in _get(loaded, f"/api/quotas/{B}", TOKEN_B).json()["crossings"]))
        decisions = {b["id"]: b["decision"] for b in _get(loaded, f"/api/quotas/{B}/decisions", TOKEN_B).json()["budgets"]}
        assert decisions == {"daily-tokens": "alert", "gpt4o": "allow", "roomy": "allow"}

        cache = _quota_cache(loaded)
        assert cache.check(model="gpt-4o").action == "alert"
        _post_spans(loaded, TOKEN_B, 2_000, 1, "gpt-4o", "b")  # the model budget degrades; tenant still alerts
        _wait(lambda: _decision(loaded, "gpt4o") == "degrade")
        cache.refresh()
        degraded = cache.check(model="gpt-4o")
        assert degraded.action == "degrade" and degraded.degrade_to == "gpt-4o-mini"  # degrade beats alert
        assert cache.check(model="claude-sonnet-4-5").action == "alert"  # the model budget does not match
        _post_spans(loaded, TOKEN_B, 5_000, 1, "claude-sonnet-4-5", "c")  # past the tenant's limit: block
        _wait(lambda: _decision(loaded, "daily-tokens") == "block")
        cache.refresh()
        assert cache.check(model="gpt-4o").action == "block"  # block beats degrade
        assert cache.check(model="gpt-4o").budgets == ("daily-tokens",)
        _wait(lambda: {e[2]["decision"] for e in stream.events if e[1] == "quota"} >= {"alert", "degrade", "block"})
    finally:
        stream.close()
    crossings = _get(loaded, f"/api/quotas/{B}", TOKEN_B).json()["crossings"]
    assert [(c["budget_id"], c["previous"], c["decision"]) for c in reversed(crossings)] == [
        ("daily-tokens", "allow", "alert"), ("gpt4o", "allow", "degrade"), ("daily-tokens", "alert", "block"),
    ]  # fmt: skip
    assert httpx.delete(url, headers=admin).status_code == 204
    assert _get(loaded, f"/api/quotas/{B}", TOKEN_B).json()["budgets"] == []


def _decision(server: Collector, budget: str) -> str:
    budgets = _get(server, f"/api/quotas/{B}/decisions", TOKEN_B).json()["budgets"]
    return next(b["decision"] for b in budgets if b["id"] == budget)


def _quota_cache(server: Collector) -> Any:
    from hive_otel.client.quota import QuotaCache

    settings = ClientSettings.from_env(
        {"HIVE_OTEL_ENDPOINT": server.http_url, "HIVE_OTEL_TOKEN": TOKEN_B, "HIVE_OTEL_TENANT_ID": B,
         "HIVE_OTEL_USER_ID": "alice"}
    )  # fmt: skip
    cache = QuotaCache(settings)
    assert cache.refresh()
    return cache


def test_the_client_with_a_token_and_no_tenant_id_reads_its_tokens_decisions(
    loaded: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """The client asked for tenant HIVE_OTEL_TENANT_ID, else 'local': with a token alone that was a 403
    ("cannot refresh"), and every check() allowed while the tenant's budget was at block."""
    from hive_otel.client.quota import QuotaCache

    admin = {"Authorization": f"Bearer {TOKEN_ADMIN}"}
    tiny = {"budgets": [{"id": "tiny", "scope": "tenant", "metric": "tokens", "period": "monthly", "limit": 1,
                         "action": "block"}]}  # fmt: skip
    assert httpx.post(f"{loaded.http_url}/api/quotas/{B}", json=tiny, headers=admin, timeout=30).status_code == 200
    try:
        caches = {}
        for tenant, token in ((A, TOKEN_A), (B, TOKEN_B)):
            settings = ClientSettings.from_env({"HIVE_OTEL_ENDPOINT": loaded.http_url, "HIVE_OTEL_TOKEN": token})
            caches[tenant] = QuotaCache(settings)
            assert caches[tenant].refresh(), caches[tenant].last_error
            assert caches[tenant].tenant == tenant
        assert caches[B].check(model="gpt-4o").action == "block"
        assert caches[A].check(model="gpt-4o").action == "allow"  # B's budget is B's alone
        mine = _get(loaded, "/api/quotas/@me/decisions", TOKEN_A).json()
        assert mine["tenant"] == A and all(b["tenant"] != B for b in mine["budgets"])
        assert _get(loaded, "/api/quotas/@me/decisions", None).status_code == 401
        named = ClientSettings.from_env({"HIVE_OTEL_ENDPOINT": loaded.http_url, "HIVE_OTEL_TOKEN": TOKEN_A})
        assert not QuotaCache(named, tenant=B).refresh()  # naming another tenant is still refused
        # Refused credentials are said as such (an error, not "cannot refresh" as for an outage).
        wrong = ClientSettings.from_env({"HIVE_OTEL_ENDPOINT": loaded.http_url, "HIVE_OTEL_TOKEN": "not-a-token-0123456789"})
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hive_otel.client.quota"):
            assert not QuotaCache(wrong).refresh()
        assert [(r.levelname, "refused this client's credentials (HTTP 401)" in r.message) for r in caplog.records] == [
            ("ERROR", True)
        ]
    finally:
        httpx.delete(f"{loaded.http_url}/api/quotas/{B}", headers=admin, timeout=30)


def test_without_tokens_the_client_reads_the_tenant_its_exports_are_stored_as(collector: tuple[Collector, Store]) -> None:
    """Without a tokens file the collector stores a client's exports as its x-hive-tenant-id header, else
    'local' (HIVE_OTEL_TENANT_ID is only a resource attribute): the decisions it caches are that tenant's."""
    from hive_otel.client.quota import QuotaCache

    server = Collector(collector[1], "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1)  # one chDB store per process
    server.start()
    try:
        for headers, tenant in (("", "local"), ("x-hive-tenant-id=acme", "acme")):
            env = {"HIVE_OTEL_ENDPOINT": server.http_url, "HIVE_OTEL_TENANT_ID": "acme",
                   "OTEL_EXPORTER_OTLP_HEADERS": headers}  # fmt: skip
            cache = QuotaCache(ClientSettings.from_env(env))
            assert cache.refresh(), cache.last_error
            assert cache.tenant == tenant
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_the_api_documents_need_a_token_like_every_route(loaded: Collector, path: str) -> None:
    assert _get(loaded, path, None).status_code == 401
    assert _get(loaded, path, "not-a-known-token-at-all-0000").status_code == 401
    assert _get(loaded, path, TOKEN_A).status_code == 200


@pytest.mark.parametrize("bad", ["2026-01-01/9999-12-31", "0001-01-01/2026-01-01", "2026-01-01/2026-13-01"])
def test_a_range_the_store_cannot_hold_is_a_400_with_a_reason(loaded: Collector, bad: str) -> None:
    response = _get(loaded, "/api/usage/rollup", TOKEN_A, range=bad, group_by="model")
    assert response.status_code == 400, response.text
    assert "range" in response.json()["detail"]
    assert _get(loaded, "/api/usage/rollup", TOKEN_A, range="all", group_by="model").status_code == 200


def test_a_global_budget_shows_a_tenant_its_own_spend_only(loaded: Collector) -> None:
    admin = {"Authorization": f"Bearer {TOKEN_ADMIN}"}
    policy = {"budgets": [{"id": "everyone", "scope": "global", "metric": "tokens", "period": "daily", "limit": 1e12}]}
    assert httpx.post(f"{loaded.http_url}/api/quotas/*", json=policy, headers=admin, timeout=30).status_code == 200

    def spend(tenant: str, token: str, path: str = "") -> float:
        budgets = _get(loaded, f"/api/quotas/{tenant}{path}", token).json()["budgets"]
        return next(b["spend"] for b in budgets if b["id"] == "everyone")

    try:
        before = {"a": spend(A, TOKEN_A), "a_decisions": spend(A, TOKEN_A, "/decisions"), "all": spend("*", TOKEN_ADMIN)}
        _post_spans(loaded, TOKEN_A, 1_234, 1, "gpt-4o", "privacy-a")
        _post_spans(loaded, TOKEN_B, 4_321, 1, "gpt-4o", "privacy-b")
        assert spend(A, TOKEN_A) - before["a"] == 1_234  # A's own share, whatever B spent
        assert spend(A, TOKEN_A, "/decisions") - before["a_decisions"] == 1_234
        assert spend("*", TOKEN_ADMIN) - before["all"] == 1_234 + 4_321  # the operator sees the whole
        crossings = _get(loaded, f"/api/quotas/{A}", TOKEN_A).json()["crossings"]
        assert all(c["tenant"] != "*" for c in crossings)
    finally:
        httpx.delete(f"{loaded.http_url}/api/quotas/*", headers=admin, timeout=30)


def test_a_global_budgets_crossing_reaches_operators_streams_only(loaded: Collector) -> None:
    """A global budget's crossing carries every tenant's spend: the live streams (and their resume)
    keep it from tenants, as GET /api/quotas does. A's own crossing, published after it, shows that
    A's streams had every event before it."""
    admin = {"Authorization": f"Bearer {TOKEN_ADMIN}"}
    url = f"{loaded.http_url}/api/agents/queen/stream"
    tenant_stream, operator_stream = _SseReader(url, TOKEN_A), _SseReader(url, TOKEN_ADMIN)
    tiny = [{"id": "tiny", "scope": "tenant", "metric": "tokens", "period": "daily", "limit": 1}]
    resumed = None

    def crossed(reader: _SseReader, tenant: str) -> bool:
        return any(e[1] == "quota" and e[2]["tenant"] == tenant for e in reader.events)

    try:
        everyone = {"budgets": [{**tiny[0], "scope": "global"}]}
        assert httpx.post(f"{loaded.http_url}/api/quotas/*", json=everyone, headers=admin, timeout=30).status_code == 200
        _post_spans(loaded, TOKEN_B, 100, 1, "gpt-4o", "global-crossing")
        _wait(lambda: crossed(operator_stream, "*"))
        assert httpx.post(f"{loaded.http_url}/api/quotas/{A}", json={"budgets": tiny}, headers=admin).status_code == 200
        _post_spans(loaded, TOKEN_A, 100, 1, "gpt-4o", "own-crossing")
        _wait(lambda: crossed(tenant_stream, A))
        epoch = operator_stream.events[0][0].rpartition("-")[0]
        resumed = _SseReader(url, TOKEN_A, last_event_id=f"{epoch}-0")  # replays what the buffer holds
        _wait(lambda: crossed(resumed, A))
        assert not crossed(tenant_stream, "*") and not crossed(resumed, "*")
    finally:
        for reader in (tenant_stream, operator_stream, resumed):
            if reader is not None:
                reader.close()
        for tenant in ("*", A):
            httpx.delete(f"{loaded.http_url}/api/quotas/{tenant}", headers=admin, timeout=30)


def test_an_api_body_over_a_mebibyte_is_a_413_before_anything_reads_it(loaded: Collector) -> None:
    """FastAPI reads a body before a route checks its token: the port caps it first, counted."""
    before = httpx.get(f"{loaded.http_url}/healthz").json()["counters"]["bad_requests"].get("too_large", 0)
    big = b"[" + b"0," * (1024 * 1024) + b"0]"
    declared = httpx.post(f"{loaded.http_url}/api/quotas/{A}", content=big, headers={"Content-Type": "application/json"})
    streamed = httpx.post(f"{loaded.http_url}/api/quotas/{A}", content=iter([big[:700_000], big[700_000:]]))
    assert (declared.status_code, streamed.status_code) == (413, 413), (declared.text, streamed.text)
    assert "exceeds the limit of 1048576 bytes" in declared.json()["detail"]
    after = httpx.get(f"{loaded.http_url}/healthz").json()["counters"]["bad_requests"]["too_large"]
    assert after - before == 2
    assert _get(loaded, f"/api/quotas/{A}", TOKEN_A).status_code == 200  # and the API still answers


def test_hive_otel_api_alone_caps_bodies_as_the_collectors_port_does(tmp_path: Path) -> None:
    """`hive-otel api` over a store no collector owns, as its own process: the same body cap."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "hive_otel.cli", "api", "--store", f"chdb://{tmp_path / 'store'}",
               "--listen", f"127.0.0.1:{port}"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert "serving" in (process.stdout.readline() if process.stdout else ""), process.stderr
        _wait(lambda: _answers(f"{base}/openapi.json"), timeout_s=60)
        big = httpx.post(f"{base}/api/quotas/{A}", content=b"0" * (2 << 20), headers={"Content-Type": "application/json"})
        assert big.status_code == 413 and "exceeds the limit" in big.json()["detail"]
        assert httpx.get(f"{base}/api/usage/rollup", params={"group_by": "model"}).status_code == 200
    finally:
        process.terminate()
        process.wait(30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("limit", [b"1e400", b"NaN", b"-Infinity"])
def test_a_budget_limit_json_cannot_echo_back_is_a_422_not_a_500(loaded: Collector, limit: bytes) -> None:
    body = b'{"budgets": [{"id": "x", "scope": "tenant", "metric": "tokens", "period": "daily", "limit": ' + limit + b"}]}"
    headers = {"Authorization": f"Bearer {TOKEN_ADMIN}", "Content-Type": "application/json"}
    response = httpx.post(f"{loaded.http_url}/api/quotas/{B}", content=body, headers=headers, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == "limit"


def test_a_tenant_holds_at_most_so_many_live_streams_and_others_are_not_held_up(loaded: Collector) -> None:
    """Each stream holds a socket: one tenant opening thousands must not take the descriptors every
    other tenant's ingest needs. (Last in this module: the streams it leaves end at the next heartbeat.)"""
    from hive_otel.collector.api.broadcast import MAX_STREAMS_PER_TENANT

    port = int(loaded.http_url.rsplit(":", 1)[1])
    opened: list[socket.socket] = []

    def open_stream(token: str) -> int:
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        opened.append(connection)
        request = f"GET /api/agents/queen/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        connection.sendall(request.encode())
        return int(connection.recv(4096).split(b" ", 2)[1])

    try:
        statuses = [open_stream(TOKEN_B) for _ in range(MAX_STREAMS_PER_TENANT + 1)]
        assert statuses[-1] == 429 and statuses.count(200) <= MAX_STREAMS_PER_TENANT  # some may be earlier tests'
        assert open_stream(TOKEN_A) == 200  # another tenant is not held up
        refused = httpx.get(f"{loaded.http_url}/api/agents/queen/stream", headers={"Authorization": f"Bearer {TOKEN_B}"})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "10"
        assert "streams of this tenant are open" in refused.json()["detail"]
    finally:
        for connection in opened:
            connection.close()
