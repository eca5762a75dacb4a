"""Two collector processes, one store, the same workload through both at once: totals stay exact.

What runs for real: two ``hive-otel collector`` processes, started at the same moment (so they also
migrate the new store at once), each on its own loopback port with its own clickhouse-connect client,
ingest state and group commit, and real ``hive-otel backfill`` client processes sending real aden-hive
output over OTLP/HTTP. Per round, four clients run at once: the whole workload to each collector,
and its two halves crossed — the bus events (``events.jsonl``) to one and the L3 logs
(``tool_logs.jsonl``) to the other — so one call's versions, and the two halves of one call, reach
the two collectors at the same time. Three rounds, each from fresh client state (everything sent
again). Then the usage reports must equal what the workload counted.

What stands in for a server: no ClickHouse server can run on this machine, so the store is the real
ClickHouse engine (chDB) in a third process behind ClickHouse's HTTP interface
(``devtools/clickhouse_http.py``), which the collectors reach as they would reach a server
(``--store http://…``). It runs one statement at a time, each one whole; a server interleaves them
more finely. The key index is one table both see, as on one server node; on a cluster each node has
its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import clickhouse_http
from devtools.workload import GROUP_KEYS, UNPRICED, WorkloadTruth, write_workload
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.store import Store, open_store
from tests.redaction._otelcol import free_port
from tests.test_end_to_end import wait_healthy

FIELDS = ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cache_creation_tokens",
          "unpriced_calls", "tool_calls", "tool_errors")  # fmt: skip
KEYS = ("model", "session", "colony")


@pytest.fixture(scope="module")
def two_collectors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[str]]]:
    """The store (opened by the test over HTTP, for reads) and the two collectors' OTLP/HTTP URLs."""
    tmp = tmp_path_factory.mktemp("two")
    server, store_url = clickhouse_http.start(tmp / "clickhouse", tmp / "clickhouse.log")
    ports = [free_port(), free_port()]
    collectors = [collector_process(store_url, port, tmp / f"collector-{port}.log") for port in ports]  # at once
    try:
        for port, (proc, log) in zip(ports, collectors, strict=True):
            wait_healthy(proc, port, log)
        owner = open_store(store_url, migrate=False)
        yield owner, [f"http://127.0.0.1:{port}" for port in ports]
        owner.close()
    finally:
        for proc, _ in collectors:
            proc.terminate()
            proc.wait(30)
        server.terminate()
        server.wait(30)


def collector_process(store_url: str, port: int, log: Path, *options: str) -> tuple[subprocess.Popen[bytes], Path]:
    """``hive-otel collector`` in its own process, OTLP/HTTP on ``port``; ``options`` override the rest."""
    command = [sys.executable, "-m", "hive_otel.cli", "collector", "--store", store_url]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--http", f"127.0.0.1:{port}", "--grpc", "127.0.0.1:0", *options], stdout=out, stderr=out
        )
    return proc, log


def _halves(home: Path, into: Path) -> tuple[Path, Path]:
    """Copies of ``home`` with only the bus events, and with only the run logs."""
    events = shutil.copytree(home, into / "events", ignore=shutil.ignore_patterns("logs"))
    logs = shutil.copytree(home, into / "logs", ignore=shutil.ignore_patterns("events.jsonl", "event_logs"))
    return events, logs


def _backfill(home: Path, state: Path, endpoint: str, tenant: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "HIVE_HOME": str(home),
        "HIVE_OTEL_STATE_DIR": str(state),
        "HIVE_OTEL_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-hive-tenant-id={tenant}",
    }
    command = [sys.executable, "-m", "hive_otel.cli", "backfill", "--timeout", "120"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _deliver_round(homes: dict[str, Path], urls: list[str], state: Path, tenant: str, r: int) -> None:
    """Four clients at once: the whole workload to each collector, and its halves crossed between them."""
    a, b = (urls[0], urls[1]) if r % 2 == 0 else (urls[1], urls[0])
    plan = [("all", a), ("all", b), ("events", a), ("logs", b)]
    procs = [_backfill(homes[h], state / f"{r}-{i}", url, tenant) for i, (h, url) in enumerate(plan)]
    for proc in procs:
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out.decode()


def _expected(truth: WorkloadTruth, key: str) -> dict[str, dict[str, object]]:
    out = {}
    for value, totals in truth.totals_by(key).items():
        row: dict[str, object] = {f: getattr(totals, f) for f in FIELDS} | {"cost_usd": round(totals.cost_usd, 6)}
        row["unpriced_calls"] = sum(  # nobody priced: the private model, and graph agents' calls (L3 names no model)
            1
            for c in truth.llm_calls
            if getattr(c, GROUP_KEYS[key]) == value and c.model in (UNPRICED.name, None) and not c.priced
        )
        out[value or ""] = row
    return out


def _actual(store: Store, key: str, tenant: str) -> dict[str, dict[str, object]]:
    report = usage(store, [key], tenant=tenant).as_dict()
    return {
        (row[key] or ""): {f: row[f] for f in FIELDS} | {"cost_usd": round(float(row["cost_usd"]), 6)}
        for row in report["rows"]
    }


def test_same_workload_through_two_collectors_at_once_three_times_is_counted_once(two_collectors, tmp_path) -> None:
    owner, urls = two_collectors
    truth = write_workload(tmp_path / "home", queens=2, colonies=1, workers_per_colony=2, seed=13)
    events, logs = _halves(tmp_path / "home", tmp_path / "halves")
    homes = {"all": tmp_path / "home", "events": events, "logs": logs}
    tenant = "two-collectors"
    for r in range(3):
        _deliver_round(homes, urls, tmp_path / "state", tenant, r)
        owner.settle()
        facts = owner.query(f"SELECT count() FROM usage_facts FINAL WHERE tenant = '{tenant}'")[1][0][0]
        assert facts == len(truth.llm_calls) + len(truth.tool_calls), f"round {r}"
        for key in KEYS:
            assert _actual(owner, key, tenant) == _expected(truth, key), f"round {r}, by {key}"
    before = _last_blocks(owner)
    owner.settle()  # a settled store: no insert writes anything (merges may only retire blocks)
    after = _last_blocks(owner)
    assert all(after.get(table, 0) <= block for table, block in before.items()), (before, after)


def _last_blocks(store: Store) -> dict[str, int]:
    """The highest insert block number of each usage table's parts."""
    tables = "('usage_facts', 'usage_hourly', 'usage_daily', 'usage_session_totals')"
    where = f"active AND table IN {tables}"
    _, rows = store.query(f"SELECT table, max(max_block_number) FROM system.parts WHERE {where} GROUP BY table")
    return {table: int(block) for table, block in rows}
