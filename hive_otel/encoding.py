"""Telemetry → OTLP export requests (serialized protobuf), and the metrics derived from the spans.

Metrics are computed from the very spans in the batch (delta temporality, one point set per
batch), so span totals and metric totals agree by construction. Usage accounting downstream reads
the spans (deduplicated by call key); the metrics are for backends that chart them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from hive_otel import __version__
from hive_otel import attributes as A
from hive_otel.mapping.telemetry import AttrValue, LogRecord, Resource, SpanRecord

SCOPE = InstrumentationScope(name="hive_otel", version=__version__)
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def any_value(value: AttrValue) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def key_values(attrs: Iterable[tuple[str, AttrValue]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs]


def _resource_pb(resource: Resource, cache: dict[Resource, PbResource]) -> PbResource:
    pb = cache.get(resource)
    if pb is None:
        pb = cache[resource] = PbResource(attributes=key_values(resource.attributes))
    return pb


def encode_spans(spans: Sequence[SpanRecord]) -> bytes:
    by_resource: dict[Resource, list[PbSpan]] = defaultdict(list)
    for s in spans:
        by_resource[s.resource].append(
            PbSpan(
                trace_id=s.trace_id,
                span_id=s.span_id,
                parent_span_id=s.parent_span_id,
                name=s.name,
                kind=int(s.kind),
                start_time_unix_nano=s.start_ns,
                end_time_unix_nano=s.end_ns,
                attributes=key_values(s.attributes.items()),
                status=Status(code=int(s.status_code), message=s.status_message),
                links=[PbSpan.Link(trace_id=t, span_id=i) for t, i in s.links],
            )
        )
    cache: dict[Resource, PbResource] = {}
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=_resource_pb(r, cache),
                scope_spans=[ScopeSpans(scope=SCOPE, spans=pb_spans)],
                schema_url="",
            )
            for r, pb_spans in by_resource.items()
        ]
    )
    return request.SerializeToString()


def encode_logs(logs: Sequence[LogRecord]) -> bytes:
    by_resource: dict[Resource, list[PbLogRecord]] = defaultdict(list)
    for r in logs:
        by_resource[r.resource].append(
            PbLogRecord(
                time_unix_nano=r.time_ns,
                observed_time_unix_nano=r.time_ns,
                severity_number=r.severity_number,  # type: ignore[arg-type]
                severity_text=r.severity_text,
                event_name=r.event_name,
                body=AnyValue(string_value=r.body) if r.body is not None else None,
                attributes=key_values(r.attributes.items()),
                trace_id=r.trace_id,
                span_id=r.span_id,
            )
        )
    cache: dict[Resource, PbResource] = {}
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(resource=_resource_pb(r, cache), scope_logs=[ScopeLogs(scope=SCOPE, log_records=records)])
            for r, records in by_resource.items()
        ]
    )
    return request.SerializeToString()


class _HistogramPoint:
    __slots__ = ("bounds", "count", "counts", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count, self.sum = 0, 0.0
        self.min, self.max = float("inf"), float("-inf")

    def record(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)


def encode_metrics(spans: Sequence[SpanRecord], now_ns: int) -> bytes | None:
    """Delta metrics for the calls in this batch, or None when the batch has no calls."""
    # resource → metric name → attribute set → point
    tokens: dict[Resource, dict[tuple, _HistogramPoint]] = defaultdict(dict)
    durations: dict[Resource, dict[tuple, _HistogramPoint]] = defaultdict(dict)
    costs: dict[Resource, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
    tool_calls: dict[Resource, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    errors: dict[Resource, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    start_ns = now_ns
    for s in spans:
        a = s.attributes
        op = a.get(A.GEN_AI_OPERATION_NAME)
        if op not in (A.OP_CHAT, A.OP_EXECUTE_TOOL):
            continue
        start_ns = min(start_ns, s.start_ns)
        if A.ERROR_TYPE in a:
            errors[s.resource][((A.GEN_AI_OPERATION_NAME, op), (A.ERROR_TYPE, a[A.ERROR_TYPE]))] += 1
        if op == A.OP_EXECUTE_TOOL:
            tool = a.get(A.GEN_AI_TOOL_NAME, "")
            tool_calls[s.resource][((A.GEN_AI_TOOL_NAME, tool), (A.HIVE_TOOL_IS_ERROR, a.get(A.HIVE_TOOL_IS_ERROR)))] += 1
            continue
        base = tuple(
            (k, a[k]) for k in (A.GEN_AI_OPERATION_NAME, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_REQUEST_MODEL) if k in a
        )
        for token_type, attr in (("input", A.GEN_AI_USAGE_INPUT_TOKENS), ("output", A.GEN_AI_USAGE_OUTPUT_TOKENS)):
            key = (*base, (A.GEN_AI_TOKEN_TYPE, token_type))
            point = tokens[s.resource].get(key)
            if point is None:
                point = tokens[s.resource][key] = _HistogramPoint(A.TOKEN_USAGE_BUCKETS)
            point.record(float(a.get(attr, 0)))  # type: ignore[arg-type]
        point = durations[s.resource].get(base)
        if point is None:
            point = durations[s.resource][base] = _HistogramPoint(A.OPERATION_DURATION_BUCKETS)
        point.record(max(0, s.end_ns - s.start_ns) / 1e9)
        if A.HIVE_COST_USD in a:
            costs[s.resource][(*base, (A.HIVE_COST_SOURCE, a.get(A.HIVE_COST_SOURCE, "")))] += a[A.HIVE_COST_USD]  # type: ignore[operator]
    resources = set(tokens) | set(tool_calls) | set(errors)
    if not resources:
        return None

    def histogram(name: str, unit: str, description: str, points: dict[tuple, _HistogramPoint]) -> Metric:
        return Metric(
            name=name,
            unit=unit,
            description=description,
            histogram=Histogram(
                aggregation_temporality=_DELTA,
                data_points=[
                    HistogramDataPoint(
                        attributes=key_values(k),
                        start_time_unix_nano=start_ns,
                        time_unix_nano=now_ns,
                        count=p.count,
                        sum=p.sum,
                        min=p.min,
                        max=p.max,
                        bucket_counts=p.counts,
                        explicit_bounds=[float(b) for b in p.bounds],
                    )
                    for k, p in points.items()
                ],
            ),
        )

    def counter(name: str, unit: str, description: str, points: dict[tuple, float] | dict[tuple, int]) -> Metric:
        data_points = []
        for k, v in points.items():
            dp = NumberDataPoint(attributes=key_values(k), start_time_unix_nano=start_ns, time_unix_nano=now_ns)
            if isinstance(v, float):
                dp.as_double = v
            else:
                dp.as_int = v
            data_points.append(dp)
        return Metric(
            name=name,
            unit=unit,
            description=description,
            sum=Sum(aggregation_temporality=_DELTA, is_monotonic=True, data_points=data_points),
        )

    cache: dict[Resource, PbResource] = {}
    resource_metrics = []
    for r in resources:
        metrics = []
        if tokens.get(r):
            metrics.append(histogram(A.METRIC_TOKEN_USAGE, "{token}", "Tokens used per LLM call", tokens[r]))
            metrics.append(
                histogram(A.METRIC_OPERATION_DURATION, "s", "Duration of LLM calls", durations[r])
            )
        if costs.get(r):
            metrics.append(counter(A.METRIC_COST, "USD", "Runtime-reported LLM cost", costs[r]))
        if tool_calls.get(r):
            metrics.append(counter(A.METRIC_TOOL_CALLS, "{call}", "Tool calls", tool_calls[r]))
        if errors.get(r):
            metrics.append(counter(A.METRIC_ERRORS, "{error}", "Failed LLM and tool calls", errors[r]))
        resource_metrics.append(
            ResourceMetrics(resource=_resource_pb(r, cache), scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=metrics)])
        )
    return ExportMetricsServiceRequest(resource_metrics=resource_metrics).SerializeToString()
