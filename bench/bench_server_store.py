"""Collector ingest with ClickHouse in another process: the collector's own CPU per span.

``python -m bench.bench_server_store`` writes bench/results/ingest_server_store.json.

The ingest rows of ``bench_ingest`` count ClickHouse's work inside the collector's process (the
embedded chDB). The OpenTelemetry Collector's clickhouseexporter figure (~137k spans/s per core) counts
the collector process only, with ClickHouse elsewhere. This bench measures that split: our collector as
``hive-otel collector --store http://…`` in a process of its own, the store in another
(``devtools/clickhouse_http.py``: the real engine behind ClickHouse's HTTP interface, no server
being installable here), the client's own OTLP/HTTP exporter sending from a third (8 senders, gzip).
The spans are those of ``bench_ingest --split`` (Hive's own, mapped, redacted and encoded by the
client, 2,048 per request). CPU seconds of each process come from ``/proc/<pid>/stat``.

In the same rounds, the plain insert of the same spans as JSONEachRow into one MergeTree table with
no views, sent to the same store process over HTTP (clickhouse-connect, one insert per request):
what the store process spends on it is the baseline for ours. Every round checks the stored
call count against the spans sent. Each round then sends the log records of the same workload
(~4 per span: Hive's status events and stream-state changes; no usage path), 2,048 per request,
and checks that every one was stored. The store process includes the stand-in's own Python HTTP
handling (parsing a request, copying its body); a ClickHouse server does that in C++.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import machine, write_result
from bench._ingest_split import (
    PLAIN_SCHEMA,
    PLAIN_TABLE,
    ROUNDS,
    batches,
    client_telemetry,
    empty_data_tables,
    json_rows,
    load_average,
    percentile,
    send_all,
)
from devtools import clickhouse_http
from hive_otel.client.encoding import encode_logs, encode_spans
from hive_otel.collector.store.store import Store, open_store
from tests.collector.test_two_collectors import collector_process
from tests.redaction._otelcol import free_port
from tests.test_end_to_end import wait_healthy

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def plain_round(store: Store, store_pid: int, rows: list[bytes], spans: int) -> dict[str, Any]:
    """The JSONEachRow inserts of every batch through HTTP; the store process's CPU for them."""
    store.execute("DROP DATABASE IF EXISTS bench_plain")
    store.execute("CREATE DATABASE bench_plain")
    store.execute(PLAIN_SCHEMA)
    cpu0, wall0 = process_cpu(store_pid), time.perf_counter()
    for data in rows:
        store._transport.insert_bytes(PLAIN_TABLE, "JSONEachRow", data, {"async_insert": 0})
    wall, cpu = time.perf_counter() - wall0, process_cpu(store_pid) - cpu0
    stored = store.query(f"SELECT count() FROM {PLAIN_TABLE}")[1][0][0]
    store.execute("DROP DATABASE bench_plain")
    assert stored == spans, (stored, spans)
    return {"wall_s": round(wall, 3), "store_cpu_s": round(cpu, 3), "store_spans_per_s_per_core": round(spans / cpu)}


def ours_round(store: Store, pids: dict[str, int], endpoint: str, bodies: list[bytes], spans: int, calls: int,
               clients: int) -> dict[str, Any]:  # fmt: skip
    """Every body through our collector; each process's CPU, the latencies, and the calls stored."""
    report, cpu = _sent(pids, endpoint, bodies, clients, "traces")
    stored = store.query("SELECT count() FROM usage_facts FINAL")[1][0][0]
    assert stored == calls, (stored, calls)
    return {
        **_figures(report, cpu, spans, "spans"),
        "both_spans_per_s_per_core": round(spans / (cpu["collector"] + cpu["store"])),
        "ack_latency_ms_p99": round(percentile(report["latencies"], 0.99) * 1000, 1),
        "retried_after_429_or_503": report["refusals"],
        "calls_stored": stored,
    }


def _sent(pids: dict[str, int], endpoint: str, bodies: list[bytes], clients: int,
          signal: str) -> tuple[dict[str, Any], dict[str, float]]:  # fmt: skip
    """Every body sent; the senders' report and the CPU seconds each process spent meanwhile."""
    before = {name: process_cpu(pid) for name, pid in pids.items()}
    report = send_all(endpoint, bodies, clients, signal=signal)
    return report, {name: process_cpu(pid) - before[name] for name, pid in pids.items()}


def _figures(report: dict[str, Any], cpu: dict[str, float], items: int, unit: str) -> dict[str, Any]:
    return {
        "wall_s": round(report["wall_s"], 3),
        "collector_cpu_s": round(cpu["collector"], 3),
        "store_cpu_s": round(cpu["store"], 3),
        f"collector_{unit}_per_s_per_core": round(items / cpu["collector"]),
        f"store_{unit}_per_s_per_core": round(items / cpu["store"]),
        "ack_latency_ms_p50": round(percentile(report["latencies"], 0.5) * 1000, 1),
    }


def logs_round(store: Store, pids: dict[str, int], endpoint: str, bodies: list[bytes], records: int, distinct: int,
               clients: int) -> dict[str, Any]:  # fmt: skip
    """The log records through our collector (no usage path: status and events); each process's CPU.
    ``distinct``: the records the store keeps, one of each (a fork's copies of its origin's events are
    the same records)."""
    report, cpu = _sent(pids, endpoint, bodies, clients, "logs")
    stored = store.query("SELECT count() FROM otel_logs")[1][0][0]
    assert stored == distinct, (stored, distinct)
    return _figures(report, cpu, records, "records")


def run(turns: int, clients: int, rounds: int = ROUNDS) -> dict[str, Any]:
    telemetry = client_telemetry(turns)
    spans, logs = telemetry.spans, telemetry.logs
    chunks = batches(spans)
    bodies = [encode_spans(chunk) for chunk in chunks]
    log_bodies = [encode_logs(chunk) for chunk in batches(logs)]
    distinct_logs = len({(r.time_ns, r.trace_id, r.span_id, r.severity_number, r.severity_text, r.body, r.event_name,
                          tuple(sorted(r.attributes.items())), r.resource) for r in logs})  # fmt: skip
    rows = [json_rows(chunk) for chunk in chunks]
    calls = sum(1 for s in spans if s.name.split(" ")[0] in ("chat", "execute_tool"))  # one usage fact each
    load_before = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="hive-otel-bench-server-"))
    server, url = clickhouse_http.start(workdir / "clickhouse", workdir / "clickhouse.log")
    port = free_port()
    collector, log = collector_process(f"{url}/default", port, workdir / "collector.log")
    wait_healthy(collector, port, log)
    pids = {"collector": collector.pid, "store": server.pid}
    endpoint = f"http://127.0.0.1:{port}"
    store = open_store(f"{url}/default", migrate=False)
    results = []
    try:
        # Warm up with a whole untimed round: the first round in a process paid ~6 µs a span more in
        # the collector (page faults as its heaps grow, pyarrow's kernels set up), which a collector
        # that has run for a while no longer pays.
        send_all(endpoint, bodies, clients)
        send_all(endpoint, log_bodies, clients, signal="logs")
        empty_data_tables(store)
        for r in range(rounds):
            print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
            plain = plain_round(store, server.pid, rows, len(spans))
            ours = ours_round(store, pids, endpoint, bodies, len(spans), calls, clients)
            empty_data_tables(store)
            log_records = logs_round(store, pids, endpoint, log_bodies, len(logs), distinct_logs, clients)
            empty_data_tables(store)
            ratio = round(ours["store_spans_per_s_per_core"] / plain["store_spans_per_s_per_core"], 2)
            results.append({"plain": plain, "ours": ours, "store_ratio_ours_over_plain": ratio, "logs": log_records})
    finally:
        store.close()
        collector.terminate()
        collector.wait(30)
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    median = sorted(results, key=lambda one: one["ours"]["collector_spans_per_s_per_core"])[len(results) // 2]
    logs_median = sorted(results, key=lambda one: one["logs"]["collector_records_per_s_per_core"])[len(results) // 2]
    return {
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "spans": len(spans),
        "calls": calls,
        "requests": len(bodies),
        "clients": clients,
        "rounds": rounds,
        "log_records": len(logs),
        "log_records_distinct": distinct_logs,
        "log_requests": len(log_bodies),
        "median_round_by_collector_cpu": median,
        "logs_median_round_by_collector_cpu": logs_median["logs"],
        "every_round": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=400, help="LLM turns per session (400: ~52k spans)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    result = run(args.turns, args.clients, args.rounds)
    path = write_result("ingest_server_store", result)
    print(path)
    median = result["median_round_by_collector_cpu"]
    print(f"collector process: {median['ours']['collector_spans_per_s_per_core']:,} spans/s per core; "
          f"store process: {median['ours']['store_spans_per_s_per_core']:,} (plain insert "
          f"{median['plain']['store_spans_per_s_per_core']:,}); both: {median['ours']['both_spans_per_s_per_core']:,}")
    logs = result["logs_median_round_by_collector_cpu"]
    print(f"log records: collector process {logs['collector_records_per_s_per_core']:,} per second per core; "
          f"store process {logs['store_records_per_s_per_core']:,}")


if __name__ == "__main__":
    main()
