"""Issue 11's done-when, end to end: a Hive home written by aden-hive 1.0.12's own functions (two forks
in a chain, a colony created from a fork, its workers, a graph agent's run logs under agents/, a
stalled and idle queens) → ``hive-otel backfill`` three times → the collector (chDB) → usage, traces
and health equal what the workload counted and what Hive's lifecycle said."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from framework.host.event_bus import AgentEvent, EventBus, EventType

import hive_otel
from devtools.workload import UNPRICED, SessionTruth, WorkloadTruth, write_workload
from hive_otel.cli import run
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.client.mapping.timestamps import to_unix_ns
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store
from hive_otel.settings import ClientSettings

TENANT = "real-hive"
FIELDS = ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cache_creation_tokens", "tool_calls",
          "tool_errors", "unpriced_calls")  # fmt: skip


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, WorkloadTruth, Store, Collector, str]]:
    """The workload delivered three times (a backfill, then two replays of everything)."""
    work = tmp_path_factory.mktemp("real_hive")
    truth = write_workload(work / "home", seed=21)
    url = f"chdb://{work / 'clickhouse'}"
    store = open_store(url)
    server = Collector(store, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    server.start()
    settings = ClientSettings.from_env(
        {
            "HIVE_HOME": str(work / "home"),
            "HIVE_OTEL_STATE_DIR": str(work / "state"),
            "HIVE_OTEL_ENDPOINT": server.http_url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-hive-tenant-id={TENANT}",
        }
    )
    try:
        for delivery in range(3):
            assert backfill(settings, replay=delivery > 0, timeout_s=120) == EXIT_OK
        yield work / "home", truth, store, server, url
    finally:
        server.stop()
        store.close()


def _usage(capsys: pytest.CaptureFixture[str], url: str, key: str) -> dict[str, dict[str, float]]:
    capsys.readouterr()
    assert run(["usage", "--store", url, "--group-by", key, "--tenant", TENANT, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    return {row[key] or "": {f: row[f] for f in FIELDS} | {"cost_usd": float(row["cost_usd"])} for row in rows}


def _expected(truth: WorkloadTruth, key: str) -> dict[str, dict[str, float]]:
    out = {}
    for value, totals in truth.totals_by(key).items():
        row: dict[str, float] = {f: getattr(totals, f) for f in FIELDS} | {"cost_usd": totals.cost_usd}
        calls = [
            c
            for c in truth.llm_calls
            if getattr(c, {"colony": "colony_id", "root_session": "root_session_id"}.get(key, key)) == value
        ]
        row["unpriced_calls"] = sum(1 for c in calls if c.model in (UNPRICED.name, None) and not c.priced)
        out[value or ""] = row
    return out


@pytest.mark.parametrize("key", ["model", "colony", "root_session"])
def test_usage_equals_the_workload_totals(delivered, capsys, key: str) -> None:
    _, truth, _, _, url = delivered
    got, want = _usage(capsys, url, key), _expected(truth, key)
    assert set(got) == set(want)
    for value, row in want.items():
        assert {f: got[value][f] for f in FIELDS} == {f: row[f] for f in FIELDS}, (key, value)
        assert got[value]["cost_usd"] == pytest.approx(row["cost_usd"], abs=1e-6), (key, value)


def test_every_hive_trace_id_is_kept(delivered) -> None:
    _, truth, store, _, _ = delivered
    hive_traces = {s.trace_id for s in truth.sessions.values() if s.kind == "graph"}
    _, rows = store.query(
        f"SELECT DISTINCT lower(TraceId) FROM otel_traces WHERE ResourceAttributes['hive.tenant.id'] = '{TENANT}'"
    )
    assert len(hive_traces) == 3 and hive_traces <= {r[0] for r in rows}


def _newest_own_time_ns(s: SessionTruth) -> int:
    """The newest timestamp Hive wrote for this session: its own lines (not the copies of its origin's),
    or for a graph run the end of its L1 summary or of a tool call in L3."""
    if s.events_path is None:  # L1's end, or a tool call's (its start and duration, in L3)
        summary = json.loads((s.logs_dir / "summary.json").read_text())
        steps = [json.loads(x) for x in (s.logs_dir / "tool_logs.jsonl").read_text().splitlines()]
        tools = [
            to_unix_ns(t["start_timestamp"]) + round(t["duration_s"] * 1000) * 1_000_000
            for st in steps
            for t in st["tool_calls"]
        ]
        return max(to_unix_ns(summary["started_at"]) + summary["duration_ms"] * 1_000_000, *tools)
    times = []
    for line in s.events_path.read_text().splitlines():
        event = json.loads(line)
        stream = event.get("stream_id") or ""
        owner = stream.split(":", 1)[1] if stream.startswith("worker:") else event.get("execution_id") or s.session_id
        if owner == s.session_id and event["type"] not in ("llm_text_delta", "llm_reasoning_delta"):
            times.append(to_unix_ns(event["timestamp"]))
    return max(times)


def _iso_ns(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1_000_000) * 1000


def test_health_is_what_hive_said_and_last_seen_is_what_hive_wrote(delivered) -> None:
    _, truth, _, server, _ = delivered
    for s in truth.sessions.values():
        response = httpx.get(f"{server.http_url}/api/sessions/{s.session_id}/health", params={"tenant": TENANT}, timeout=30)
        assert response.status_code == 200, response.text
        health = response.json()
        assert health["health"] == s.health, (s.kind, s.session_id)
        assert abs(_iso_ns(health["last_event_at"]) - _newest_own_time_ns(s)) < 1_000, s.kind  # µs in the API


def test_the_tree_reaches_the_dm_session_at_the_root(delivered) -> None:
    _, truth, _, server, _ = delivered
    worker = next(s for s in truth.sessions.values() if s.kind == "worker")
    response = httpx.get(f"{server.http_url}/api/sessions/{worker.session_id}/tree", params={"tenant": TENANT}, timeout=30)
    assert response.status_code == 200, response.text
    tree = response.json()
    root = truth.sessions[worker.root_session_id]
    assert root.kind == "dm" and tree["root_session"] == root.session_id
    below = {m["session"] for c in tree["colonies"] for m in c["workers"]}
    assert below == {s.session_id for s in truth.sessions.values() if s.root_session_id == root.session_id} - {
        root.session_id
    }


async def _lifecycle(bus: EventBus) -> None:
    """A paused worker, one blocked on payment, one that stalled and then got a judge's verdict."""
    paused, blocked, judged = (f"worker:{w}" for w in ("w-paused", "w-payment", "w-judged"))
    for stream in (paused, blocked, judged):
        worker = stream.split(":", 1)[1]
        await bus.emit_node_loop_started(stream, worker, execution_id=worker)
    await bus.emit_execution_paused(paused, "w-paused", "waiting for the user", "w-paused")
    await bus.publish(AgentEvent(type=EventType.PAYMENT_REQUIRED, stream_id=blocked, node_id="w-payment",
                                 execution_id="w-payment", data={"reason": "credits exhausted"}))  # fmt: skip
    await bus.emit_node_stalled(judged, "w-judged", "similar responses", "w-judged")
    await bus.emit_judge_verdict(judged, "w-judged", "RETRY", execution_id="w-judged")


def test_paused_payment_and_verdicts_inform_health(delivered, tmp_path: Path) -> None:
    server = delivered[3]
    tenant = "real-hive-lifecycle"
    settings = ClientSettings.from_env(
        {"HIVE_HOME": str(tmp_path), "HIVE_OTEL_STATE_DIR": str(tmp_path / "state"), "HIVE_OTEL_ENDPOINT": server.http_url,
         "OTEL_EXPORTER_OTLP_HEADERS": f"x-hive-tenant-id={tenant}", "HIVE_OTEL_JOIN_WINDOW_S": "0"}
    )  # fmt: skip
    bus = EventBus()
    live = hive_otel.instrument(bus, session_id="session_lifecycle", queen_id="q", colony_id="c", settings=settings)
    asyncio.run(_lifecycle(bus))
    assert live.shutdown(timeout_millis=20_000)
    health = {}
    for worker in ("w-paused", "w-payment", "w-judged"):
        response = httpx.get(f"{server.http_url}/api/sessions/{worker}/health", params={"tenant": tenant}, timeout=30)
        assert response.status_code == 200, response.text
        health[worker] = (response.json()["health"], response.json()["stall_signals"])
    assert health == {
        "w-paused": ("idle", []),  # paused by Hive: waiting, not stalled
        "w-payment": ("stalled", ["payment_required"]),  # cannot go on by itself
        "w-judged": ("working", []),  # the judge's verdict came after the stall: progress
    }
