"""The main job end to end: real aden-hive output → hive-otel backfill → the collector over OTLP/HTTP
and OTLP/gRPC → ClickHouse (chDB) → ``hive-otel usage --format json``, equal to the totals the
workload counted itself while emitting — through replays and collector restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from devtools.workload import GROUP_KEYS, UNPRICED, UsageTotals, WorkloadTruth, write_workload
from hive_otel.cli import run
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.queries.remote import RemoteStore
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from hive_otel.collector.store.transport import read_admin_token
from hive_otel.settings import ClientSettings
from tests.client_helpers import running_collector

KEYS = ("model", "colony", "session", "root_session", "agent_role")
FIELDS = ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cache_creation_tokens",
          "unpriced_calls", "tool_calls", "tool_errors")  # fmt: skip


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Collector, str]]:
    with running_collector(tmp_path_factory.mktemp("e2e") / "clickhouse") as running:
        yield running


def _settings(home: Path, state: Path, endpoint: str, tenant: str, **env: str) -> ClientSettings:
    return ClientSettings.from_env(
        {
            "HIVE_HOME": str(home),
            "HIVE_OTEL_STATE_DIR": str(state),
            "HIVE_OTEL_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-hive-tenant-id={tenant}",
            **env,
        }
    )


def _expected(truth: WorkloadTruth, key: str) -> dict[str, dict[str, object]]:
    """Totals per key from what the workload emitted. ``unpriced_calls`` in usage counts calls nobody
    priced: not the runtime and not genai-prices, which in this workload is exactly the private model
    and the graph agents' calls (L3 names no model)."""
    attr = GROUP_KEYS[key]
    out = {}
    for value, totals in truth.totals_by(key).items():
        row = {f: getattr(totals, f) for f in FIELDS} | {"cost_usd": round(totals.cost_usd, 6)}
        row["unpriced_calls"] = sum(
            1
            for c in truth.llm_calls
            if getattr(c, attr) == value and c.model in (UNPRICED.name, None) and not c.priced
        )
        out[value or ""] = row
    return out


def _actual(report: dict, key: str) -> dict[str, dict[str, object]]:
    return {
        (row[key] or ""): {f: row[f] for f in FIELDS} | {"cost_usd": round(float(row["cost_usd"]), 6)}
        for row in report["rows"]
    }


def _usage_json(capsys: pytest.CaptureFixture[str], url: str, key: str, tenant: str) -> dict:
    """``hive-otel usage --format json``: the collector owns the chDB path, so the CLI asks it."""
    code = run(["usage", "--store", url, "--group-by", key, "--tenant", tenant, "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_usage_equals_what_hive_emitted(hive_workload, collector, tmp_path, capsys, protocol) -> None:
    home, truth = hive_workload
    _, server, url = collector
    tenant = f"e2e-{protocol.replace('/', '-')}"
    endpoint = server.http_url if protocol == "http/protobuf" else f"http://{server.grpc_target}"
    settings = _settings(home, tmp_path / "state", endpoint, tenant, OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
    assert backfill(settings, timeout_s=120) == EXIT_OK
    capsys.readouterr()
    for key in KEYS:
        report = _usage_json(capsys, url, key, tenant)
        assert report["group_by"] == [key]
        assert _actual(report, key) == _expected(truth, key), key
    totals: UsageTotals = truth.totals()
    assert report["totals"]["llm_calls"] == totals.llm_calls
    assert float(report["totals"]["cost_usd"]) == pytest.approx(totals.cost_usd)


def test_three_replays_change_nothing(hive_workload, collector, tmp_path) -> None:
    home, truth = hive_workload
    store, server, _ = collector
    tenant = "e2e-replays"
    settings = _settings(home, tmp_path / "state", server.http_url, tenant)
    snapshots = []
    for attempt in range(3):
        assert backfill(settings, replay=attempt > 0, timeout_s=120) == EXIT_OK
        facts = store.query(f"SELECT count() FROM usage_facts FINAL WHERE tenant = '{tenant}'")[1][0][0]
        snapshots.append((facts, [usage(store, [k], tenant=tenant).as_dict() for k in KEYS]))
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert snapshots[0][0] == len(truth.llm_calls) + len(truth.tool_calls)


# Hive lines that never become a log record (README "What is sent: the mapping"): streamed deltas are
# dropped, and a call's events are its chat and execute_tool spans.
_NOT_LOGGED = frozenset({"llm_text_delta", "llm_reasoning_delta", "client_output_delta", "client_reasoning",
                         "llm_turn_complete", "tool_call_started", "tool_call_completed"})  # fmt: skip


def _hive_events_by_key(truth: WorkloadTruth) -> dict[tuple[str, int, str], int]:
    """How many distinct Hive events each (session, seq, event type) names, read from the files the
    workload wrote. A line belongs to the worker its ``worker:<id>`` stream names, else to the session its
    execution id names (a copied line keeps its origin's), else to its file's session; an event written
    to two files (a worker's lifecycle lines) or copied (a fork, a colony) is one event, told apart from
    another of the same key only by its timestamp (a fork's own seq restarts at 1)."""
    events: dict[tuple[str, int, str], set[str]] = {}
    for session in truth.sessions.values():
        if session.events_path is None:
            continue
        for line in session.events_path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event["type"] in _NOT_LOGGED or "seq" not in event:  # create-colony's marker line has no seq
                continue
            stream = event.get("stream_id") or ""
            owner = stream.split(":", 1)[1] if stream.startswith("worker:") else event.get("execution_id")
            owner = owner if owner in truth.sessions else session.session_id
            events.setdefault((owner, event["seq"], event["type"]), set()).add(event["timestamp"])
    return {key: len(times) for key, times in events.items()}


def test_each_hive_event_is_one_log_row(hive_workload, collector, tmp_path) -> None:
    """A worker's lifecycle lines sit in its own file and its queen's, a fork's and a colony's copied lines
    in the copy: each copy must map to the very same log record (the store's key hashes every field of
    it, the span id included), so that ``otel_logs`` holds each Hive event once."""
    home, truth = hive_workload
    store, server, _ = collector
    tenant = "e2e-log-rows"
    assert backfill(_settings(home, tmp_path / "state", server.http_url, tenant), timeout_s=120) == EXIT_OK
    rows = store.query(
        "SELECT ResourceAttributes['hive.session.id'], toInt64(LogAttributes['hive.event.seq']),"
        " LogAttributes['hive.event.type'], count() FROM otel_logs"
        f" WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}' AND LogAttributes['hive.event.seq'] != ''"
        " GROUP BY 1, 2, 3"
    )[1]
    stored = {(session, seq, event_type): n for session, seq, event_type, n in rows}
    expected = _hive_events_by_key(truth)
    assert {"worker_completed", "worker_failed", "subagent_report"} <= {t for _, _, t in expected}
    doubled = {key: (stored.get(key), n) for key, n in expected.items() if stored.get(key) != n}
    assert not doubled, f"(session, seq, type): (rows, events) {doubled}"
    assert stored.keys() == expected.keys()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_collector(store_url: str, port: int, *options: str) -> subprocess.Popen:
    """``hive-otel collector`` in its own process, HTTP on ``port``; ``options`` override the defaults."""
    command = [sys.executable, "-m", "hive_otel.cli", "collector", "--store", store_url]
    proc = subprocess.Popen(
        [*command, "--http", f"127.0.0.1:{port}", "--grpc", "127.0.0.1:0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_healthy(proc, port)
    return proc


def wait_healthy(proc: subprocess.Popen, port: int, log: Path | None = None) -> None:
    """Until the collector ``proc`` answers ``/healthz`` on ``port``; its output (or ``log``) if it died."""
    http = urllib3.PoolManager()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http.request("GET", f"http://127.0.0.1:{port}/healthz", timeout=1.0, retries=False).status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        if proc.poll() is not None:
            output = log.read_text(errors="replace") if log else proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"the collector exited with {proc.returncode}: {output[-3000:]}")
        time.sleep(0.1)
    raise AssertionError("collector did not come up")


def _admin_token(store_path) -> str:
    """The local admin token the running collector wrote into its store (what `hive-otel sql` sends)."""
    deadline = time.monotonic() + 30
    while (token := read_admin_token(store_path)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert token, "the collector wrote no admin token"
    return token


def test_collector_killed_mid_stream_loses_and_doubles_nothing(tmp_path) -> None:
    """kill -9 of the collector process while the client is delivering; a restart on the same port."""
    home = tmp_path / "home"
    truth = write_workload(home, queens=2, colonies=2, workers_per_colony=4, turns_per_session=200, seed=11)
    store_url = f"chdb://{tmp_path / 'clickhouse'}"
    port = _free_port()
    proc = _start_collector(store_url, port)
    remote = RemoteStore(f"http://127.0.0.1:{port}", token=_admin_token(tmp_path / "clickhouse"))
    settings = _settings(home, tmp_path / "state", f"http://127.0.0.1:{port}", "e2e-crash")
    result: list[int] = []
    client = threading.Thread(target=lambda: result.append(backfill(settings, timeout_s=180)))
    try:
        client.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until some, not all, calls are stored
            stored = remote.query("SELECT count() FROM usage_facts FINAL")[1][0][0]
            if stored > 0:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # Killed mid-stream: here about a quarter of the calls are stored by now (a machine fast enough to
        # store them all first would still check the restart below, just not the mid-stream part).
        assert stored > 0
        proc = _start_collector(store_url, port)
        client.join(180)
        assert result == [EXIT_OK]
        remote = RemoteStore(f"http://127.0.0.1:{port}", token=_admin_token(tmp_path / "clickhouse"))
        report = usage(remote, ["model"], tenant="e2e-crash").as_dict()
        assert _actual(report, "model") == _expected(truth, "model")
        facts = remote.query("SELECT count() FROM usage_facts FINAL WHERE tenant = 'e2e-crash'")[1][0][0]
        assert facts == len(truth.llm_calls) + len(truth.tool_calls)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
