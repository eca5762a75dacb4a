"""Mapping + encoding throughput: Hive records → OTLP protobuf bytes, on one core.

    python -m bench.bench_mapping [--turns 200] [--runs 3]

Records come from a workload written by the real runtime (devtools.workload), read by the real
FileTailer and held in memory, so reading and JSON decoding are not measured (bench_backfill
measures the whole path from the files). One pass does what ClientPipeline does between consume()
and the outbox: map every record, and every 2048 items (optionally redact, then) encode the spans,
their metrics and the log records.

In the same run, on the very spans that pass produced:
- ``encode_only``: hive_otel.client.encoding.encode_spans alone (no mapping), batches of 512;
- ``official_encode``: the official encoder, opentelemetry-exporter-otlp's ``encode_spans`` plus
  ``SerializeToString()``, on SDK ``ReadableSpan``s with the same resource, ids, names, kinds,
  times, attributes, links and status, in the SDK batch processor's default batches of 512.

Each configuration runs in a fresh process (cold caches, as a backfill starts) ``--runs`` times;
the fastest run counts. Spans per second count spans only, although the passes also map every
other record and encode its log record (here ~4 per span: each turn's stream-state changes and
status events) and the metrics (``items`` counts spans and logs). The goals are issue 13's:
≥ 100k spans/s per core and ≥ 4x the official encoder. The machine is shared: the 1-minute load
average before and after is recorded with the figures. Writes bench/results/mapping.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import machine, read_records, workload, write_result
from hive_otel import __version__
from hive_otel.client.encoding import encode_logs, encode_metrics, encode_spans
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.telemetry import SpanRecord, Telemetry
from hive_otel.client.pipeline import DEFAULT_BATCH_ITEMS
from hive_otel.client.redaction import RedactionPolicy, RedactionProcessor
from hive_otel.client.sources.records import HiveRecord

CONFIGS = ("map_encode", "map_redact_encode", "encode_only", "official_encode")
SDK_BATCH = 512  # BatchSpanProcessor's default max_export_batch_size
NOW_NS = 1_790_000_000_000_000_000  # the pipeline's clock, fixed
GOAL_SPANS_PER_S = 100_000
GOAL_RATIO = 4.0


def map_all(records: list[HiveRecord]) -> Telemetry:
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    out = Telemetry()
    for record in records:
        out.extend(mapper.map(record, NOW_NS))
    out.extend(mapper.flush())
    return out


def pipeline_pass(records: list[HiveRecord], redaction: RedactionProcessor | None) -> dict[str, Any]:
    """Map, (redact,) encode in ClientPipeline's batches; phase times are taken per batch, not per record."""
    clock = time.perf_counter
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    pending = Telemetry()
    totals = {"spans": 0, "logs": 0, "bytes": 0, "map_s": 0.0, "redact_s": 0.0, "encode_s": 0.0}

    def emit(batch: Telemetry) -> None:
        t0 = clock()
        if redaction is not None:
            batch = redaction.process(batch)
        t1 = clock()
        size = 0
        if batch.spans:
            size += len(encode_spans(batch.spans))
            size += len(encode_metrics(batch.spans, NOW_NS) or b"")
        if batch.logs:
            size += len(encode_logs(batch.logs))
        totals["redact_s"] += t1 - t0
        totals["encode_s"] += clock() - t1
        totals["spans"] += len(batch.spans)
        totals["logs"] += len(batch.logs)
        totals["bytes"] += size

    started = mapping_since = clock()
    for record in records:
        pending.extend(mapper.map(record, NOW_NS))
        if len(pending.spans) + len(pending.logs) >= DEFAULT_BATCH_ITEMS:
            totals["map_s"] += clock() - mapping_since
            emit(pending)
            pending = Telemetry()
            mapping_since = clock()
    pending.extend(mapper.flush())
    totals["map_s"] += clock() - mapping_since
    emit(pending)
    totals["seconds"] = clock() - started
    return totals


def sdk_spans(spans: list[SpanRecord]) -> list[Any]:
    """The same spans as the OpenTelemetry SDK's ReadableSpans (what the official exporter encodes)."""
    from opentelemetry.sdk.resources import Resource as SdkResource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    scope = InstrumentationScope("hive_otel", __version__)
    kinds = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT}
    resources: dict[Any, SdkResource] = {}

    def context(trace_id: bytes, span_id: bytes) -> SpanContext:
        return SpanContext(
            int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), False, TraceFlags(TraceFlags.SAMPLED)
        )

    out = []
    for s in spans:
        resource = resources.get(s.resource)
        if resource is None:
            resource = resources[s.resource] = SdkResource(dict(s.resource.attributes))
        status = Status(StatusCode(int(s.status_code)), s.status_message or None)
        out.append(
            ReadableSpan(
                name=s.name,
                context=context(s.trace_id, s.span_id),
                parent=context(s.trace_id, s.parent_span_id) if s.parent_span_id else None,
                resource=resource,
                attributes=dict(s.attributes),
                kind=kinds[int(s.kind)],
                links=[Link(context(t, i)) for t, i in s.links],
                status=status,
                start_time=s.start_ns,
                end_time=s.end_ns,
                instrumentation_scope=scope,
            )
        )
    return out


def run_config(config: str, hive_home: Path) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    records = read_records(hive_home)
    if config in ("map_encode", "map_redact_encode"):
        redaction = RedactionProcessor(RedactionPolicy.load()) if config == "map_redact_encode" else None
        gc.collect()
        gc.freeze()  # the pre-read records are input, not garbage the pass should keep scanning
        cpu = time.process_time()
        result = pipeline_pass(records, redaction)
        result["cpu_seconds"] = time.process_time() - cpu
        result["records"] = len(records)
        return result
    spans = map_all(records).spans
    if config == "encode_only":

        def encode(batch: list[Any]) -> int:
            return len(encode_spans(batch))

        inputs: list[Any] = spans
    else:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode_spans

        def encode(batch: list[Any]) -> int:
            return len(official_encode_spans(batch).SerializeToString())

        inputs = sdk_spans(spans)
    del records
    gc.collect()
    gc.freeze()
    cpu = time.process_time()
    started = time.perf_counter()
    size = sum(encode(inputs[i : i + SDK_BATCH]) for i in range(0, len(inputs), SDK_BATCH))
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "spans": len(inputs),
        "bytes": size,
    }


def measure(config: str, hive_home: Path, runs: int) -> dict[str, Any]:
    """The fastest of ``runs`` fresh processes."""
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_mapping", "--worker", config, "--home", str(hive_home)],
            cwd=Path(__file__).resolve().parents[1],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.splitlines()[-1]))
    return min(results, key=lambda r: r["seconds"])


def summarize(raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for config, r in raw.items():
        spans, seconds = r["spans"], r["seconds"]
        figures = {
            "spans_per_s": round(spans / seconds),
            "us_per_span": round(seconds / spans * 1e6, 2),
            "seconds": round(seconds, 3),
            "cpu_seconds": round(r["cpu_seconds"], 3),
            "spans": spans,
            "bytes": r["bytes"],
        }
        if "records" in r:
            items = spans + r["logs"]
            figures |= {
                "records": r["records"],
                "logs": r["logs"],
                "records_per_s": round(r["records"] / seconds),
                "items_per_s": round(items / seconds),
                "us_per_span_by_phase": {
                    phase: round(r[f"{phase}_s"] / spans * 1e6, 2) for phase in ("map", "redact", "encode")
                },
            }
        out[config] = figures
    official = out["official_encode"]["spans_per_s"]
    out["ratio_vs_official"] = {
        config: round(out[config]["spans_per_s"] / official, 2) for config in CONFIGS if config != "official_encode"
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_mapping", description=__doc__.split("\n\n")[0])
    parser.add_argument("--queens", type=int, default=20)
    parser.add_argument("--colonies", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3, help="workers per colony")
    parser.add_argument("--turns", type=int, default=200, help="LLM turns per session")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per configuration; the fastest counts")
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_config(args.worker, args.home)))
        return 0

    load = workload(
        queens=args.queens, colonies=args.colonies, workers_per_colony=args.workers, turns_per_session=args.turns
    )
    load_before = os.getloadavg()[0]
    raw = {config: measure(config, load.hive_home, args.runs) for config in CONFIGS}
    figures = summarize(raw)
    result = {
        "name": "mapping",
        "machine": machine(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "workload": load.describe(),
        "runs": args.runs,
        "goals": {"spans_per_s": GOAL_SPANS_PER_S, "ratio_vs_official": GOAL_RATIO},
        **figures,
    }
    path = write_result("mapping", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
