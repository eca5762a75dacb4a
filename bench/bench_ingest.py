"""Collector ingest into chDB (spans/s per core) and rollup vs raw-scan query latency.

    python -m bench.bench_ingest [--calls 1000000] [--batch 5000]

Spans are LLM calls shaped like the client's payload (17 attributes, 11 resource attributes), sent
as ExportTraceServiceRequests of --batch spans. "per core" divides by the process's CPU seconds
(user + system), so it is comparable with the OpenTelemetry Collector's published per-core figure.
Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from hive_otel.collector.store import open_store
from hive_otel.collector.usage import usage
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, traces_request

MODELS = [("gpt-4o", "openai", 0.0125), ("claude-sonnet-4-5", "anthropic", 0.0), ("gpt-4o-mini", "openai", 0.0003)]


def build_requests(calls: int, batch: int) -> list:
    requests = []
    for start in range(0, calls, batch):
        session = Session(f"sess-{start // 50_000}", f"sess-{start // 200_000}", colony=f"colony-{start % 7}")
        spans = []
        for i in range(start, min(start + batch, calls)):
            model, provider, cost = MODELS[i % 3]
            spans.append(
                LlmCall(f"{session.session}:node:{i}", model=model, provider=provider, cost_usd=cost,
                        input_tokens=1000 + i % 500, output_tokens=100 + i % 50, cached_tokens=100 * (i % 2),
                        at_ns=BASE_NS + i * 1_000_000_000, span_id=(i + 1).to_bytes(8, "big")).span()
            )  # fmt: skip
        requests.append(traces_request([SessionBatch(session, spans)]))
    return requests


def timed(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ingest.json"))
    args = parser.parse_args()

    requests = build_requests(args.calls, args.batch)
    workdir = Path(tempfile.mkdtemp(prefix="hive-otel-bench-"))
    store = open_store(f"chdb://{workdir / 'store'}")
    try:
        cpu0, wall0 = os.times(), time.perf_counter()
        for request in requests:
            store.ingest_traces(request, tenant="bench")
        wall = time.perf_counter() - wall0
        cpu1 = os.times()
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)

        # The same LLM calls sent again: every key is found unchanged, nothing is written to facts.
        replay = requests[: max(1, len(requests) // 10)]
        r_cpu0, r_wall0 = os.times(), time.perf_counter()
        for request in replay:
            store.ingest_traces(request, tenant="bench")
        r_wall = time.perf_counter() - r_wall0
        r_cpu1 = os.times()
        replay_spans = sum(len(r.resource_spans[0].scope_spans[0].spans) for r in replay)

        rollup_ms = timed(lambda: usage(store, ["model"], tenant="bench"))
        facts_ms = timed(lambda: usage(store, ["session"], tenant="bench"), repeat=3)
        raw_sql = (
            "SELECT SpanAttributes['gen_ai.response.model'] AS model, count(), "
            "sum(toUInt64OrZero(SpanAttributes['gen_ai.usage.input_tokens'])), "
            "sum(toFloat64OrZero(SpanAttributes['hive.cost_usd'])) FROM otel_traces "
            "WHERE SpanAttributes['gen_ai.operation.name'] = 'chat' GROUP BY model"
        )
        raw_ms = timed(lambda: store.query(raw_sql), repeat=3)
        _, facts = store.query("SELECT count() FROM usage_facts FINAL")
        _, sizes = store.query(
            "SELECT table, sum(bytes_on_disk) FROM system.parts WHERE active AND table IN "
            "('otel_traces', 'usage_facts', 'usage_ledger', 'usage_hourly', 'usage_daily') GROUP BY table"
        )
        report = usage(store, ["model"], tenant="bench").totals
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)

    bytes_by_table = {t: int(b) for t, b in sizes}
    result = {
        "calls": args.calls,
        "batch_spans": args.batch,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "ingest": {
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "spans_per_s_wall": round(args.calls / wall),
            "spans_per_s_per_core": round(args.calls / cpu),
        },
        "replay": {
            "spans": replay_spans,
            "spans_per_s_wall": round(replay_spans / r_wall),
            "spans_per_s_per_core": round(replay_spans / ((r_cpu1.user - r_cpu0.user) + (r_cpu1.system - r_cpu0.system))),
        },
        "facts_after_replay": int(facts[0][0]),
        "llm_calls_in_rollup": report["llm_calls"],
        "query_ms": {
            "usage_by_model_rollup": round(rollup_ms, 2),
            "usage_by_session_facts_final": round(facts_ms, 2),
            "raw_scan_otel_traces_by_model": round(raw_ms, 2),
            "raw_scan_over_rollup": round(raw_ms / rollup_ms, 1),
        },
        "bytes_on_disk": bytes_by_table,
        "bytes_per_call": {t: round(b / args.calls, 1) for t, b in bytes_by_table.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
