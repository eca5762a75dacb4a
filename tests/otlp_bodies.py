"""Real OTLP export request bodies for the outbox and exporter tests, built with opentelemetry-proto."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

_RESOURCE = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="hive"))])
_T0 = 1_780_000_000_000_000_000


def trace_request(n: int = 0) -> bytes:
    """One ``chat`` span; ``n`` makes the ids (and so the body) distinct."""
    span = Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=(n + 1).to_bytes(8, "big"),
        name=f"chat model-{n}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=_T0 + n,
        end_time_unix_nano=_T0 + n + 1_000,
        attributes=[KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=100 + n))],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=_RESOURCE, scope_spans=[ScopeSpans(spans=[span])])]
    )
    return request.SerializeToString()


def metrics_request(n: int = 0) -> bytes:
    point = NumberDataPoint(time_unix_nano=_T0 + n, as_double=0.01 * n)
    metric = Metric(name="hive.cost", sum=Sum(data_points=[point], is_monotonic=True))
    request = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(resource=_RESOURCE, scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )
    return request.SerializeToString()


def logs_request(n: int = 0) -> bytes:
    record = LogRecord(time_unix_nano=_T0 + n, event_name="hive.queen_phase_changed")
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=_RESOURCE, scope_logs=[ScopeLogs(log_records=[record])])]
    )
    return request.SerializeToString()


REQUEST_BUILDERS = {"traces": trace_request, "metrics": metrics_request, "logs": logs_request}


def spans_request(ns: range | list[int]) -> bytes:
    """One span per ``n``, spread over two resources and, under each, two instrumentation scopes."""
    resources: dict[int, ResourceSpans] = {}
    for n in ns:
        span = ExportTraceServiceRequest.FromString(trace_request(n)).resource_spans[0].scope_spans[0].spans[0]
        group = n % 4
        if group // 2 not in resources:
            resource = Resource(attributes=[*_RESOURCE.attributes, _attribute("hive.session.id", f"s{group // 2}")])
            resources[group // 2] = ResourceSpans(resource=resource, schema_url="https://schema/1")
        scopes = resources[group // 2].scope_spans
        while len(scopes) <= group % 2:
            scopes.add().scope.name = f"scope-{len(scopes)}"
        scopes[group % 2].spans.append(span)
    return ExportTraceServiceRequest(resource_spans=list(resources.values())).SerializeToString()


def _attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def by_signal(requests: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Each signal's request bodies concatenated in order: what a receiver got, whether the sender
    merged queued requests of one signal or not (concatenated OTLP requests are the merged request)."""
    out: dict[str, bytes] = {}
    for signal, body in requests:
        out[signal] = out.get(signal, b"") + body
    return out
