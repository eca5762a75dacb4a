"""Mapping + encoding throughput: Hive records → OTLP protobuf bytes, on one core.

    python -m bench.bench_mapping [--turns 200] [--runs 3]

Records come from a workload written by the real runtime (devtools.workload), read by the real
FileTailer and held in memory, so reading and JSON decoding are not measured (bench_backfill
measures the whole path from the files). One pass does what ClientPipeline does between consume()
and the outbox: map every record, and every 2048 items (optionally redact, then) encode the spans,
the metrics derived from them and the log records, as its requests of at most 2048 spans or log
records each (~4 log records per span: each turn's stream-state changes and status events).

In the same run, on the very telemetry that pass produced (SDK objects built untimed):
- ``official_same_work``: the fair baseline. opentelemetry-exporter-otlp's ``encode_spans``,
  ``encode_metrics`` and ``encode_logs`` plus ``SerializeToString()``, request for request on the
  pass's requests, given SDK ``ReadableSpan``s, ``MetricsData`` and ``ReadableLogRecord``s with the
  same resources, scope, ids, names, times, severities, bodies, attributes, links, status and points.
  Decoded, its requests equal ours but for what the SDK always writes (span flags; an empty body);
- ``official_spans_only``: the official ``encode_spans`` on the spans alone, in the SDK batch
  processor's default batches of 512 (the baseline this bench gave before: the same work only as
  ``encode_only``, not as the passes, which also map every record and encode logs and metrics);
- ``encode_only``: hive_otel.client.encoding.encode_spans alone (no mapping), batches of 512.

Each configuration runs in a fresh process (cold caches, as a backfill starts) ``--runs`` times;
the fastest run counts. Reported: spans/s (spans only), items/s (spans + log records + metric
points), and two ratios: ``same_work_items`` (items/s against ``official_same_work``: the fair
one) and ``spans_only`` (spans/s against ``official_spans_only``). The redacting pass is compared
with the official encoders on the unredacted telemetry (the SDK does not redact). The goals are
issue 13's: ≥ 100k spans/s per core and ≥ 4x the official encoder. The machine is shared: the
1-minute load average before and after is recorded with the figures. Writes bench/results/mapping.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry._logs import LogRecord as SdkLogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official_encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics as official_encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.export import Metric as SdkMetric
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from bench._common import machine, read_records, workload, write_result
from hive_otel import __version__
from hive_otel import attributes as A
from hive_otel.client.encoding import encode_logs, encode_spans
from hive_otel.client.encoding.metrics import encode_metric_batch
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.metrics import Metric, MetricBatch, derive_metrics
from hive_otel.client.mapping.telemetry import LogRecord, Resource, SpanRecord, Telemetry
from hive_otel.client.pipeline import DEFAULT_BATCH_ITEMS
from hive_otel.client.redaction import RedactionPolicy, RedactionProcessor
from hive_otel.client.sources.records import HiveRecord

# Ours, then the official encoders: on the same telemetry as map_encode (spans, log records, metrics), and
# on the spans alone (the figure this bench gave before: unequal work except beside encode_only).
CONFIGS = ("map_encode", "map_redact_encode", "encode_only", "official_same_work", "official_spans_only")
OURS = ("map_encode", "map_redact_encode")
SDK_BATCH = 512  # BatchSpanProcessor's default max_export_batch_size
NOW_NS = 1_790_000_000_000_000_000  # the pipeline's clock, fixed
GOAL_SPANS_PER_S = 100_000
GOAL_RATIO = 4.0
T = TypeVar("T")


def map_all(records: list[HiveRecord]) -> Telemetry:
    """Every record mapped, in one Telemetry (bench/_ingest_split.py takes its spans)."""
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    out = Telemetry()
    for record in records:
        out.extend(mapper.map(record, NOW_NS))
    out.extend(mapper.flush())
    return out


def batches(records: list[HiveRecord]) -> Iterator[Telemetry]:
    """Every record mapped, cut into ClientPipeline's batches (a batch goes when it holds 2048 items)."""
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    pending = Telemetry()
    for record in records:
        mapper.map_into(record, NOW_NS, pending)
        if len(pending.spans) + len(pending.logs) >= DEFAULT_BATCH_ITEMS:
            yield pending
            pending = Telemetry()
    pending.extend(mapper.flush())
    yield pending


def metric_points(metrics: MetricBatch | None) -> int:
    return 0 if metrics is None else sum(len(m.points) for ms in metrics.resources.values() for m in ms)


def chunks(items: list[T]) -> Iterator[list[T]]:
    """A batch's spans or log records as ClientPipeline.emit cuts them: one request per 2048 (at
    this workload's sizes, ~1.3 MB of spans, none over HIVE_OTEL_MAX_REQUEST_BYTES: no halving)."""
    for start in range(0, len(items), DEFAULT_BATCH_ITEMS):
        yield items[start : start + DEFAULT_BATCH_ITEMS]


def pipeline_pass(records: list[HiveRecord], redaction: RedactionProcessor | None) -> dict[str, Any]:
    """Map, (redact,) encode in ClientPipeline's batches and requests; phase times are taken per batch."""
    clock = time.perf_counter
    totals = dict.fromkeys(("spans", "logs", "points", "bytes"), 0) | dict.fromkeys(("map_s", "redact_s", "encode_s"), 0.0)

    def emit(batch: Telemetry) -> None:
        t0 = clock()
        if redaction is not None:
            batch = redaction.process(batch)
        t1 = clock()
        size, metric_batches = 0, []
        for spans in chunks(batch.spans):  # the metrics as encode_metrics makes them, in its two steps
            size += len(encode_spans(spans))
            metrics = derive_metrics(spans, NOW_NS)
            if metrics is not None:
                size += len(encode_metric_batch(metrics))
                metric_batches.append(metrics)
        for logs in chunks(batch.logs):
            size += len(encode_logs(logs))
        totals["redact_s"] += t1 - t0
        totals["encode_s"] += clock() - t1
        totals["spans"] += len(batch.spans)
        totals["logs"] += len(batch.logs)
        totals["points"] += sum(map(metric_points, metric_batches))
        totals["bytes"] += size

    started = mapping_since = clock()
    for batch in batches(records):
        totals["map_s"] += clock() - mapping_since
        emit(batch)
        mapping_since = clock()
    totals["seconds"] = clock() - started
    return totals


class SdkTelemetry:
    """The same telemetry as the OpenTelemetry SDK's objects (what the official encoders take), built untimed.

    Resources and the scope carry the schema URL ours do; log records carry no trace flags, as ours.
    """

    def __init__(self) -> None:
        self._resources: dict[Resource, SdkResource] = {}
        self._scope = InstrumentationScope("hive_otel", __version__, A.SEMCONV_SCHEMA_URL)

    def resource(self, resource: Resource) -> SdkResource:
        sdk = self._resources.get(resource)
        if sdk is None:
            sdk = self._resources[resource] = SdkResource(resource.as_dict(), A.SEMCONV_SCHEMA_URL)  # type: ignore[arg-type]
        return sdk

    def spans(self, spans: list[SpanRecord]) -> list[ReadableSpan]:
        kinds = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT}
        sampled = TraceFlags(TraceFlags.SAMPLED)
        return [
            ReadableSpan(
                name=s.name,
                context=_span_context(s.trace_id, s.span_id, sampled),
                parent=_span_context(s.trace_id, s.parent_span_id, sampled) if s.parent_span_id else None,
                resource=self.resource(s.resource),
                attributes=dict(s.attributes),
                kind=kinds[int(s.kind)],
                links=[Link(_span_context(t, i, sampled)) for t, i in s.links],
                status=Status(StatusCode(int(s.status_code)), s.status_message or None),
                start_time=s.start_ns,
                end_time=s.end_ns,
                instrumentation_scope=self._scope,
            )
            for s in spans
        ]

    def logs(self, logs: list[LogRecord]) -> list[ReadableLogRecord]:
        unflagged = TraceFlags(TraceFlags.DEFAULT)
        return [
            ReadableLogRecord(
                log_record=SdkLogRecord(
                    timestamp=r.time_ns,
                    observed_timestamp=r.time_ns,  # ours: observed time = time
                    context=set_span_in_context(NonRecordingSpan(_span_context(r.trace_id, r.span_id, unflagged)))
                    if r.trace_id
                    else Context(),
                    severity_text=r.severity_text,
                    severity_number=SeverityNumber(r.severity_number),
                    body=r.body,
                    attributes=dict(r.attributes),
                    event_name=r.event_name,
                ),
                resource=self.resource(r.resource),
                instrumentation_scope=self._scope,
            )
            for r in logs
        ]

    def metrics(self, batch: MetricBatch) -> MetricsData:
        """One MetricsData as the SDK's reader collects it: per resource one scope with the batch's metrics."""
        return MetricsData(
            [
                ResourceMetrics(
                    self.resource(resource),
                    [ScopeMetrics(self._scope, [_sdk_metric(m, batch) for m in metrics], A.SEMCONV_SCHEMA_URL)],
                    A.SEMCONV_SCHEMA_URL,
                )
                for resource, metrics in batch.resources.items()
            ]
        )


def _span_context(trace_id: bytes, span_id: bytes, flags: TraceFlags) -> SpanContext:
    return SpanContext(int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), False, flags)


def _sdk_metric(metric: Metric, batch: MetricBatch) -> SdkMetric:
    start, end, delta = batch.start_ns, batch.time_ns, AggregationTemporality.DELTA
    instrument = metric.instrument
    if instrument.histogram:
        points = [
            HistogramDataPoint(dict(key), start, end, p.count, p.sum, p.counts, p.bounds, p.min, p.max)  # type: ignore[union-attr]
            for key, p in metric.points.items()
        ]
        data: Histogram | Sum = Histogram(points, delta)
    else:
        data = Sum([NumberDataPoint(dict(key), start, end, v) for key, v in metric.points.items()], delta, True)  # type: ignore[arg-type]
    return SdkMetric(instrument.name, instrument.description, instrument.unit, data)


def run_config(config: str, hive_home: Path) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    records = read_records(hive_home)
    if config in OURS:
        redaction = RedactionProcessor(RedactionPolicy.load()) if config == "map_redact_encode" else None
        gc.collect()
        gc.freeze()  # the pre-read records are input, not garbage the pass should keep scanning
        cpu = time.process_time()
        result = pipeline_pass(records, redaction)
        result["cpu_seconds"] = time.process_time() - cpu
        result["records"] = len(records)
        return result
    encode_all, counts = official_same_work(records) if config == "official_same_work" else spans_only(config, records)
    del records
    gc.collect()
    gc.freeze()
    cpu = time.process_time()
    started = time.perf_counter()
    size = encode_all()
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu, **counts, "bytes": size}


Work = tuple[Callable[[], int], dict[str, int]]  # (encode everything, returning the bytes; item counts)


def official_same_work(records: list[HiveRecord]) -> Work:
    """The official encoders on map_encode's very requests (each chunk of spans, its metrics, each chunk of
    log records, as ClientPipeline sends them); the SDK objects are built here, untimed."""
    sdk = SdkTelemetry()
    requests: list[tuple[Callable[[Any], Any], Any]] = []
    counts = dict.fromkeys(("spans", "logs", "points"), 0)
    for batch in batches(records):
        for spans in chunks(batch.spans):
            requests.append((official_encode_spans, sdk.spans(spans)))
            metrics = derive_metrics(spans, NOW_NS)
            if metrics is not None:
                requests.append((official_encode_metrics, sdk.metrics(metrics)))
                counts["points"] += metric_points(metrics)
        requests += [(official_encode_logs, sdk.logs(logs)) for logs in chunks(batch.logs)]
        counts["spans"] += len(batch.spans)
        counts["logs"] += len(batch.logs)

    def encode_all() -> int:
        return sum(len(encode(request).SerializeToString()) for encode, request in requests)

    return encode_all, counts


def spans_only(config: str, records: list[HiveRecord]) -> Work:
    """The spans alone, in the SDK batch processor's batches: ours (encode_only) or the official encoder."""
    spans = map_all(records).spans
    inputs: list[Any] = spans if config == "encode_only" else SdkTelemetry().spans(spans)

    def encode(batch: list[Any]) -> int:
        if config == "encode_only":
            return len(encode_spans(batch))
        return len(official_encode_spans(batch).SerializeToString())

    def encode_all() -> int:
        return sum(encode(inputs[i : i + SDK_BATCH]) for i in range(0, len(inputs), SDK_BATCH))

    return encode_all, {"spans": len(inputs), "logs": 0, "points": 0}


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
        items = spans + r["logs"] + r["points"]
        figures = {
            "spans_per_s": round(spans / seconds),
            "items_per_s": round(items / seconds),
            "us_per_span": round(seconds / spans * 1e6, 2),
            "seconds": round(seconds, 3),
            "cpu_seconds": round(r["cpu_seconds"], 3),
            "spans": spans,
            "logs": r["logs"],
            "metric_points": r["points"],
            "items": items,
            "bytes": r["bytes"],
        }
        if "records" in r:
            figures |= {
                "records": r["records"],
                "records_per_s": round(r["records"] / seconds),
                "us_per_span_by_phase": {
                    phase: round(r[f"{phase}_s"] / spans * 1e6, 2) for phase in ("map", "redact", "encode")
                },
            }
        out[config] = figures
    if out["map_encode"]["items"] != out["official_same_work"]["items"]:
        raise RuntimeError("the official baseline did not encode the telemetry our pass produced")
    same_work, spans_official = out["official_same_work"]["items_per_s"], out["official_spans_only"]["spans_per_s"]
    out["ratio_vs_official"] = {
        # The fair ratio: items per second, both sides encoding the same spans, log records and metric points.
        "same_work_items": {config: round(out[config]["items_per_s"] / same_work, 2) for config in OURS},
        # Spans per second against the official encoder given the spans alone: only encode_only does the same work.
        "spans_only": {config: round(out[config]["spans_per_s"] / spans_official, 2) for config in (*OURS, "encode_only")},
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
