"""Exporters that send encoded OTLP requests and report the outcome, and the sender that retries.

Exporters (:class:`OtlpHttpExporter`, :class:`OtlpGrpcExporter`) make one attempt and return an
:class:`ExportResult`; they never raise and never retry. :class:`OutboxSender` is the only place
with retry and backoff: it moves requests from the durable outbox to an exporter.

The gRPC exporter is imported on first use: grpcio takes longer to import than the rest of the client
together, and the default protocol (http/protobuf) never needs it.
"""

from typing import TYPE_CHECKING, Any

from hive_otel.client.export._factory import create_exporter
from hive_otel.client.export._http import OtlpHttpExporter
from hive_otel.client.export._result import Exporter, ExportResult, ExportStatus
from hive_otel.client.export._retry_after import parse_retry_after
from hive_otel.client.export._sender import OutboxSender

if TYPE_CHECKING:
    from hive_otel.client.export._grpc import OtlpGrpcExporter


def __getattr__(name: str) -> Any:
    if name == "OtlpGrpcExporter":
        from hive_otel.client.export._grpc import OtlpGrpcExporter

        return OtlpGrpcExporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ExportResult",
    "ExportStatus",
    "Exporter",
    "OtlpGrpcExporter",
    "OtlpHttpExporter",
    "OutboxSender",
    "create_exporter",
    "parse_retry_after",
]
