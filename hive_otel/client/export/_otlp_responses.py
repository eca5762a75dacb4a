"""OTLP response messages per signal, and what a partial success says."""

from __future__ import annotations

import logging

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from hive_otel.client.export._result import ExportResult
from hive_otel.client.outbox import Signal

_log = logging.getLogger(__name__)

RESPONSE_TYPES: dict[Signal, type[Message]] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}

_REJECTED_FIELD: dict[Signal, tuple[str, str]] = {
    "traces": ("rejected_spans", "spans"),
    "metrics": ("rejected_data_points", "data points"),
    "logs": ("rejected_log_records", "log records"),
}


def describe_partial_success(signal: Signal, response: Message) -> ExportResult:
    """The success ``response`` reports: its reason ``""`` for a full success, else e.g. ``"partial
    success: 3 spans rejected: <message>"``, with the rejected count.

    A partial success is still a success for delivery: the receiver has decided about every item and
    sending the request again would not change its mind, so it is logged and counted, not retried.
    """
    if not response.HasField("partial_success"):
        return ExportResult.success()
    partial = response.partial_success  # type: ignore[attr-defined]
    field, noun = _REJECTED_FIELD[signal]
    rejected = max(0, getattr(partial, field))
    if not rejected and not partial.error_message:
        return ExportResult.success()
    reason = f"partial success: {rejected} {noun} rejected"
    if partial.error_message:
        reason += f": {partial.error_message}"
    _log.warning("OTLP %s export: %s", signal, reason)
    return ExportResult.success(reason, rejected)


def parse_partial_success(signal: Signal, payload: bytes) -> ExportResult:
    """:func:`describe_partial_success` for a serialized response; an unreadable body counts as full
    success because the status code already said so."""
    if not payload:
        return ExportResult.success()
    try:
        response = RESPONSE_TYPES[signal].FromString(payload)
    except DecodeError:
        _log.debug("OTLP %s export: response body is not an Export%sServiceResponse", signal, signal)
        return ExportResult.success()
    return describe_partial_success(signal, response)
