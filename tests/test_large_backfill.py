"""A busy user's history (≥ 100k Hive records written by the real aden-hive) backfilled in one go:
every request the client builds stays under ``HIVE_OTEL_MAX_REQUEST_BYTES`` (4 MiB by default), and
``hive-otel usage --format json`` equals the totals the workload counted while writing — into our
collector, into a collector whose limit is smaller than the client's (refusals split the stored
requests, over OTLP/gRPC), and through the real OpenTelemetry Collector agent (its gRPC receiver's
default 4 MiB message limit).

Hive 1.0.12 writes L3 logs only for graph agents, so a queen's or worker's LLM call never meets an
L3 half: a backfill holds them all and releases them at the end. Before the limit they went out as
one request (14 MB here; the issue saw 34 MB for 55k spans) that the collector refused with 413,
so usage showed no calls.

One home is written once per test session (``large_hive_workload``, ~20 s); each test is one
backfill of it. Nothing is mocked: real chDB, real loopback OTLP, the otelcol binary `make otelcol` built.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.workload import WorkloadTruth
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from hive_otel.settings import DEFAULT_MAX_REQUEST_BYTES
from tests.client_helpers import running_collector
from tests.redaction._otelcol import Agent, free_port
from tests.test_end_to_end import KEYS, _actual, _expected, _settings, _start_collector, _usage_json

Large = tuple[Path, WorkloadTruth, int]
SMALL_COLLECTOR_LIMIT = 1 << 20  # 1 MiB: a quarter of what the client builds by default


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Collector, str]]:
    with running_collector(tmp_path_factory.mktemp("large") / "clickhouse") as running:
        yield running


def _queued_request_sizes(state: Path) -> list[int]:
    with sqlite3.connect(state / "outbox.db") as db:
        return [size for (size,) in db.execute("SELECT length(body) FROM outbox")]


def _outbox_counters(state: Path) -> dict[str, int]:
    with sqlite3.connect(state / "outbox.db") as db:
        return dict(db.execute("SELECT name, value FROM stat"))


def _assert_usage_is_exact(capsys: pytest.CaptureFixture[str], store_url: str, tenant: str, truth: WorkloadTruth) -> None:
    for key in KEYS:
        assert _actual(_usage_json(capsys, store_url, key, tenant), key) == _expected(truth, key), key


def test_100k_records_in_bounded_requests_into_our_collector(
    large_hive_workload: Large, collector, tmp_path, capsys
) -> None:
    home, truth, records = large_hive_workload
    _, server, store_url = collector
    assert records >= 100_000
    state, tenant = tmp_path / "state", "large-http"
    settings = _settings(home, state, server.http_url, tenant)

    assert backfill(settings, no_wait=True) == EXIT_OK  # everything mapped into the outbox, nothing sent yet
    sizes = _queued_request_sizes(state)
    assert max(sizes) <= DEFAULT_MAX_REQUEST_BYTES
    assert sum(sizes) > 4 * DEFAULT_MAX_REQUEST_BYTES  # what one request held before the limit

    assert backfill(settings, timeout_s=300) == EXIT_OK  # delivers what is queued
    capsys.readouterr()
    _assert_usage_is_exact(capsys, store_url, tenant, truth)
    counters = _outbox_counters(state)
    assert (counters["split"], counters["dead_count"], counters["pending_count"]) == (0, 0, 0)


def test_a_collector_with_a_smaller_limit_gets_the_requests_in_halves(
    large_hive_workload: Large, tmp_path, capsys
) -> None:
    """Our collector with ``--max-body 1 MiB`` refuses the client's 4 MiB requests (gRPC
    RESOURCE_EXHAUSTED "larger than max"): the client splits them in the outbox, nothing is dead."""
    home, truth, _ = large_hive_workload
    store_url, http_port, grpc_port = f"chdb://{tmp_path / 'clickhouse'}", free_port(), free_port()
    limit = ("--grpc", f"127.0.0.1:{grpc_port}", "--max-body", str(SMALL_COLLECTOR_LIMIT))
    proc = _start_collector(store_url, http_port, *limit)
    try:
        state, tenant = tmp_path / "state", "large-grpc-small-limit"
        settings = _settings(home, state, f"http://127.0.0.1:{grpc_port}", tenant, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        assert backfill(settings, timeout_s=300) == EXIT_OK
        capsys.readouterr()
        _assert_usage_is_exact(capsys, store_url, tenant, truth)
    finally:
        proc.terminate()
        proc.wait(30)
    counters = _outbox_counters(state)
    assert counters["split"] > 0
    assert (counters["dead_count"], counters["pending_count"]) == (0, 0)


def test_100k_records_through_the_otelcol_agent(large_hive_workload: Large, collector, tmp_path, capsys) -> None:
    """Client → otelcol-hive (collector/agent.yaml, OTLP/gRPC with its default 4 MiB receive limit)
    → our collector. The agent forwards with its own token, so the data lands as tenant ``local``."""
    home, truth, _ = large_hive_workload
    _, server, store_url = collector
    agent = Agent(server.http_url, "agent-token", tmp_path / "agent-queue", tmp_path / "agent.log")
    try:
        agent.wait_healthy()
        state = tmp_path / "state"
        endpoint = f"http://127.0.0.1:{agent.grpc_port}"
        settings = _settings(home, state, endpoint, "local", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        assert backfill(settings, timeout_s=300) == EXIT_OK, agent.log_tail()
        capsys.readouterr()
        # The agent acknowledged everything; it forwards from its own queue, in batches that may hold
        # a call's later version after every call was counted once. Wait until it has forwarded all.
        deadline = time.monotonic() + 180
        while True:
            try:
                _assert_usage_is_exact(capsys, store_url, "local", truth)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    print(agent.log_tail())
                    raise
                time.sleep(0.5)
    finally:
        agent.stop()
    counters = _outbox_counters(state)
    assert (counters["split"], counters["dead_count"]) == (0, 0)  # the agent refused none for size

