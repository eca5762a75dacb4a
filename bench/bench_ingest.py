"""Collector ingest into chDB (spans/s per core), rollup vs raw-scan query latency, stored bytes per call.

    python -m bench.bench_ingest [--calls 1000000] [--batch 5000] [--clients 8] [--out FILE]

bench/results/ingest.json is the default run (1M calls); bench/results/ingest_10m.json the same at
``--calls 10000000 --out bench/results/ingest_10m.json`` (about 8 minutes on 2 cores).

Workload: ``--calls`` LLM calls shaped like the client's payload (15 span and 11 resource attributes;
``hive.call_key`` is the client's own hashed key, so a batch's keys are spread over the whole facts
table; a third of the calls priced by the runtime, a third unpriced and estimated from genai-prices),
in OTLP ExportTraceServiceRequests of ``--batch`` spans. A separate process builds and serializes the
requests, so building them is not counted; what is counted is what the collector does per request:
decode the protobuf body (as the receiver does) and ``Store.ingest_traces``.

Phases, on one chDB store:

1. ``ingest_one_client``: the first 10% of the requests, one after another.
2. ``ingest``: the other 90%, from ``--clients`` threads at once, as several exporters would send;
   requests that queue up while the store is busy share one insert (group commit).
3. ``replay``: the first 10% again, from ``--clients`` threads: every call is already stored.
4. Queries: the usage rollup by model (``hive-otel usage --group-by model``, from ``usage_daily``),
   by session (``usage_facts FINAL``), and the same totals by a raw scan of ``otel_traces``; by model
   from the calls as ClickHouse merged them (``usage_calls``, read-time merge); one ``Store.settle``
   of the settled store (what a periodic settle costs when nothing raced).

``--split`` runs instead the comparison of bench/_ingest_split.py on Hive's own spans as the client
encodes them: a plain JSONEachRow insert into one MergeTree table (the baseline), our collector end
to end over OTLP/HTTP, the split of its time and the cost of each view; it writes
bench/results/ingest_split.json (``--turns``: workload size, ``--skip-views``: no detach trials).

``--without-usage-calls`` drops the view that feeds ``usage_calls`` before ingest (then the merged-calls
query and settle read an empty table): run it beside a default run to see what the view costs.

"per core" is spans / CPU seconds of the process (user + system, all threads: Python, ClickHouse's
query threads and its background merges). The OpenTelemetry Collector's published ~137k spans/s/core
counts the collector process only, with ClickHouse on another machine; here the same process also
parses, stores, merges and rolls up.

Writes ``--out`` (default bench/results/ingest.json)::

    {"calls", "batch_spans", "clients", "machine": {...},
     "goals": {"spans_per_s_per_core", "rollup_ms", "rollup_speedup"},
     "ingest_one_client" | "ingest" | "replay": {"spans", "wall_s", "cpu_s", "spans_per_s_wall",
                                                 "spans_per_s_per_core", "requests_per_insert"},
     "facts_after_replay", "llm_calls_in_rollup",
     "query_ms": {"usage_by_model_rollup", "usage_by_session_facts_final", "raw_scan_otel_traces_by_model",
                  "raw_scan_over_rollup", "usage_by_model_merged_calls", "settle"},
     "without_usage_calls",
     "bytes_on_disk": {table: bytes}, "bytes_per_call": {table: bytes, "total": bytes},
     "key_index_bytes_in_memory"}
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench import _ingest_split
from bench._common import machine
from hive_otel.client.mapping.ids import llm_call_key
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.rollups.settle import MERGED_SQL
from hive_otel.collector.store.store import Store, open_store
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, traces_request

MODELS = [("gpt-4o", "openai", 0.0125), ("claude-sonnet-4-5", "anthropic", 0.0), ("gpt-4o-mini", "openai", 0.0003)]
GOALS = {"spans_per_s_per_core": 150_000, "rollup_ms": 50, "rollup_speedup": 20}
REQUESTS_PER_CHUNK = 20  # requests built per message to the builder process
# Every table that stores rows on ingest (usage_ledger is a Null table; the store empties usage_staging).
TABLES = ("otel_traces", "otel_traces_trace_id_ts", "agent_sessions", "usage_facts", "usage_hourly", "usage_daily",
          "usage_session_totals", "usage_staging", "usage_calls")  # fmt: skip
# The usage rollup by model computed at read time from the calls as ClickHouse merged them: what
# reading would cost if the rollups were not kept at ingest (the scale-out alternative to settling).
MERGED_BY_MODEL_SQL = (
    "SELECT model, countIf(kind = 'llm'), sum(input_tokens), sum(cost_usd) "
    f"FROM ({MERGED_SQL}) WHERE tenant = 'bench' GROUP BY model"
)


def build_request(start: int, stop: int) -> bytes:
    """Calls ``start`` … ``stop - 1`` as one serialized request (deterministic: a replay is byte-identical)."""
    session = Session(f"sess-{start // 50_000}", f"sess-{start // 200_000}", colony=f"colony-{start % 7}")
    spans = []
    for i in range(start, stop):
        model, provider, cost = MODELS[i % 3]
        tokens_in, tokens_out = 1000 + i % 500, 100 + i % 50
        key = llm_call_key(session.session, "node-1", i, tokens_in, tokens_out)
        spans.append(
            LlmCall(key, model=model, provider=provider, cost_usd=cost, input_tokens=tokens_in,
                    output_tokens=tokens_out, cached_tokens=100 * (i % 2), at_ns=BASE_NS + i * 1_000_000_000,
                    span_id=(i + 1).to_bytes(8, "big")).span()
        )  # fmt: skip
    return traces_request([SessionBatch(session, spans)]).SerializeToString()


def _build_chunk(bounds: list[tuple[int, int]]) -> list[bytes]:
    return [build_request(start, stop) for start, stop in bounds]


def request_bytes(first_call: int, last_call: int, batch: int) -> Iterator[bytes]:
    """Serialized requests for calls [first_call, last_call), built in another process."""
    bounds = [(s, min(s + batch, last_call)) for s in range(first_call, last_call, batch)]
    chunks = [bounds[i : i + REQUESTS_PER_CHUNK] for i in range(0, len(bounds), REQUESTS_PER_CHUNK)]
    with get_context("spawn").Pool(1) as pool:
        for chunk in pool.imap(_build_chunk, chunks):
            yield from chunk


def run_phase(store: Store, requests: Iterator[bytes], clients: int) -> dict[str, float]:
    """Decode and ingest every request from ``clients`` threads; spans, wall and CPU seconds."""
    work: queue.Queue[bytes | None] = queue.Queue(maxsize=4 * clients)
    spans = [0] * clients
    inserts = [0]
    write = store._traces._write

    def counting(group):  # type: ignore[no-untyped-def]
        inserts[0] += 1
        return write(group)

    def client(index: int) -> None:
        while (body := work.get()) is not None:
            request = ExportTraceServiceRequest.FromString(body)
            spans[index] += store.ingest_traces(request, tenant="bench").accepted

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    store._traces._write = counting
    cpu0, wall0 = os.times(), time.perf_counter()
    for thread in threads:
        thread.start()
    requests_sent = 0
    for body in requests:
        work.put(body)
        requests_sent += 1
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    wall, cpu1 = time.perf_counter() - wall0, os.times()
    store._traces._write = write
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    total = sum(spans)
    return {
        "spans": total,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "spans_per_s_wall": round(total / wall),
        "spans_per_s_per_core": round(total / cpu),
        "requests_per_insert": round(requests_sent / max(1, inserts[0]), 2),
    }


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ingest.json"))
    parser.add_argument("--without-usage-calls", action="store_true",
                        help="drop the view feeding usage_calls first, to measure what it costs at ingest")  # fmt: skip
    parser.add_argument(
        "--split",
        action="store_true",
        help="instead: the same Hive spans as a plain insert, end to end, and the split of our time",
    )
    parser.add_argument("--turns", type=int, default=400, help="with --split: LLM turns per session (400: ~52k spans)")
    parser.add_argument("--skip-views", action="store_true", help="with --split: no per-view detach trials")
    return parser.parse_args()


def _queries(store: Store) -> dict[str, float]:
    """Milliseconds of the usage reads on the ingested store (rollup, facts, raw scan, merged calls, settle)."""
    rollup_ms = timed(lambda: usage(store, ["model"], tenant="bench"))
    facts_ms = timed(lambda: usage(store, ["session"], tenant="bench"), repeat=3)
    raw_sql = (
        "SELECT SpanAttributes['gen_ai.response.model'] AS model, count(), "
        "sum(toUInt64OrZero(SpanAttributes['gen_ai.usage.input_tokens'])), "
        "sum(toFloat64OrZero(SpanAttributes['hive.cost_usd'])) FROM otel_traces "
        "WHERE SpanAttributes['gen_ai.operation.name'] = 'chat' GROUP BY model"
    )
    raw_ms = timed(lambda: store.query(raw_sql), repeat=3)
    merged_ms = timed(lambda: store.query(MERGED_BY_MODEL_SQL), repeat=3)
    settle_ms = timed(store.settle, repeat=3)  # a settled store: the cost of one periodic settle
    return {
        "usage_by_model_rollup": round(rollup_ms, 2),
        "usage_by_session_facts_final": round(facts_ms, 2),
        "raw_scan_otel_traces_by_model": round(raw_ms, 2),
        "raw_scan_over_rollup": round(raw_ms / rollup_ms, 1),
        "usage_by_model_merged_calls": round(merged_ms, 2),
        "settle": round(settle_ms, 2),
    }


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """The three ingest phases, the queries and the stored bytes, on a fresh store."""
    tenth = max(args.batch, args.calls // 10 // args.batch * args.batch)
    workdir = Path(tempfile.mkdtemp(prefix="hive-otel-bench-"))
    store = open_store(f"chdb://{workdir / 'store'}")
    if args.without_usage_calls:
        store.execute("DROP VIEW usage_facts_to_usage_calls_mv")
    try:
        measured: dict[str, Any] = {
            "ingest_one_client": run_phase(store, request_bytes(0, tenth, args.batch), clients=1),
            "ingest": run_phase(store, request_bytes(tenth, args.calls, args.batch), clients=args.clients),
            "replay": run_phase(store, request_bytes(0, tenth, args.batch), clients=args.clients),
        }
        measured["query_ms"] = _queries(store)
        _, facts = store.query("SELECT count() FROM usage_facts FINAL")
        listed = ", ".join(f"'{t}'" for t in TABLES)
        _, sizes = store.query(
            f"SELECT table, sum(bytes_on_disk) FROM system.parts WHERE active AND table IN ({listed}) GROUP BY table"
        )
        _, index = store.query("SELECT total_bytes FROM system.tables WHERE name = 'usage_key_index'")
        measured["facts_after_replay"] = int(facts[0][0])
        measured["llm_calls_in_rollup"] = usage(store, ["model"], tenant="bench").totals["llm_calls"]
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    bytes_by_table = {t: int(b) for t, b in sorted(sizes)}
    per_call = {t: round(b / args.calls, 1) for t, b in bytes_by_table.items()}
    per_call["total"] = round(sum(bytes_by_table.values()) / args.calls, 1)
    measured["bytes_on_disk"] = bytes_by_table
    measured["bytes_per_call"] = per_call
    measured["key_index_bytes_in_memory"] = int(index[0][0] or 0) if index else 0
    return measured


def main() -> None:
    args = _parse_args()
    if args.split:
        split = _ingest_split.run(args.turns, args.clients, with_views=not args.skip_views)
        path = Path(__file__).parent / "results" / "ingest_split.json"
        path.write_text(json.dumps(split, indent=2) + "\n")
        print(json.dumps(split, indent=2))
        return
    measured = _measure(args)
    result = {
        "calls": args.calls,
        "batch_spans": args.batch,
        "clients": args.clients,
        "machine": machine(),
        "goals": GOALS,
        **{k: measured[k] for k in ("ingest_one_client", "ingest", "replay", "facts_after_replay")},
        "llm_calls_in_rollup": measured["llm_calls_in_rollup"],
        "query_ms": measured["query_ms"],
        "without_usage_calls": args.without_usage_calls,
        **{k: measured[k] for k in ("bytes_on_disk", "bytes_per_call", "key_index_bytes_in_memory")},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
