"""Split an encoded OTLP export request in two halves, for a receiver that refused it as too large.

Rare (the client already bounds its requests by ``HIVE_OTEL_MAX_REQUEST_BYTES``; this is for a
receiver with a smaller limit), so it decodes and re-encodes with the opentelemetry-proto messages
rather than walking the wire format. The items (spans, log records, metrics) keep their order and
their resource and scope; each half holds whole items only.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hive_otel.client.outbox import Signal

# Per signal: the request type and the field names of its three levels (resource, scope, item).
_LAYOUT: dict[Signal, tuple[type[Message], str, str, str]] = {
    "traces": (ExportTraceServiceRequest, "resource_spans", "scope_spans", "spans"),
    "logs": (ExportLogsServiceRequest, "resource_logs", "scope_logs", "log_records"),
    "metrics": (ExportMetricsServiceRequest, "resource_metrics", "scope_metrics", "metrics"),
}

_Leaf = tuple[int, int, Message]  # (resource index, scope index, item)


def split_request(signal: Signal, body: bytes) -> list[tuple[bytes, int]] | None:
    """Two ``(body, item_count)`` halves of ``body``, or None when it cannot be split: it holds
    fewer than two items, or it is not a readable request of that signal."""
    layout = _LAYOUT[signal]
    request_type, resource_field, scope_field, item_field = layout
    try:
        request = request_type.FromString(body)
    except DecodeError:
        return None
    leaves: list[_Leaf] = [
        (r, s, item)
        for r, resource in enumerate(getattr(request, resource_field))
        for s, scope in enumerate(getattr(resource, scope_field))
        for item in getattr(scope, item_field)
    ]
    if len(leaves) < 2:
        return None
    middle = len(leaves) // 2
    return [
        (_rebuild(request, leaves[:middle], layout).SerializeToString(), middle),
        (_rebuild(request, leaves[middle:], layout).SerializeToString(), len(leaves) - middle),
    ]


def _rebuild(request: Message, leaves: list[_Leaf], layout: tuple[type[Message], str, str, str]) -> Message:
    """A request of ``request``'s type holding ``leaves`` under copies of their resources and scopes."""
    _, resource_field, scope_field, item_field = layout
    out = type(request)()
    resources: dict[int, Message] = {}
    scopes: dict[tuple[int, int], Message] = {}
    for r, s, item in leaves:
        if r not in resources:
            source = getattr(request, resource_field)[r]
            resources[r] = getattr(out, resource_field).add()
            resources[r].resource.CopyFrom(source.resource)
            resources[r].schema_url = source.schema_url
        if (r, s) not in scopes:
            source_scope = getattr(getattr(request, resource_field)[r], scope_field)[s]
            scopes[r, s] = getattr(resources[r], scope_field).add()
            scopes[r, s].scope.CopyFrom(source_scope.scope)
            scopes[r, s].schema_url = source_scope.schema_url
        getattr(scopes[r, s], item_field).add().CopyFrom(item)
    return out

