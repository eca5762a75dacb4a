"""OTLP/gRPC receiver: the Export methods of the trace, metrics and logs services.

The handlers take the raw request bytes and decode them here rather than through the generated
``*_service_pb2_grpc`` servicers, whose deserializer turns a garbage body into an opaque INTERNAL
error; decoding ourselves answers INVALID_ARGUMENT with the reason, counted like on HTTP.
gzip-compressed requests are decompressed by gRPC itself, and its receive limit (``max_body``) applies
to the decompressed message, so an oversized or bomb message gets RESOURCE_EXHAUSTED before any of
this runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
from google.rpc import error_details_pb2, status_pb2

from hive_otel.collector.auth.principal import AUTHORIZATION, Unauthenticated
from hive_otel.collector.config import TENANT_HEADER, ReceiverConfig
from hive_otel.collector.receiver.ingest import Ingestor, StoreBusy, StoreUnavailable
from hive_otel.collector.receiver.otlp import SIGNALS, RequestRejected, Signal, decode_protobuf


def _abort_retryable(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, delay_s: int) -> None:
    """Abort with ``RetryInfo`` in the status details, which OTLP clients read as the back-off delay
    (and which makes RESOURCE_EXHAUSTED retryable for them)."""
    status = status_pb2.Status(code=code.value[0], message=message)
    retry_info = error_details_pb2.RetryInfo()
    retry_info.retry_delay.seconds = delay_s
    status.details.add().Pack(retry_info)
    context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    context.abort(code, message)


def _export_handler(signal: Signal, ingestor: Ingestor):
    def export(body: bytes, context: grpc.ServicerContext) -> bytes:
        peer = context.peer()
        ingestor.counters.request("grpc", signal.name)
        metadata = dict(context.invocation_metadata())
        try:
            principal = ingestor.authenticate(
                "grpc", signal.name, peer, metadata.get(AUTHORIZATION), metadata.get(TENANT_HEADER) or None
            )
        except Unauthenticated as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
        try:
            outcome = ingestor.export(signal, decode_protobuf(signal, body), principal.tenant, peer, wire=body)
        except RequestRejected as exc:  # undecodable, bad ids, or a schema version we cannot read
            ingestor.reject(signal.name, "grpc", peer, exc)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except StoreBusy as exc:
            _abort_retryable(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), exc.retry_after_s)
        except StoreUnavailable as exc:
            _abort_retryable(context, grpc.StatusCode.UNAVAILABLE, str(exc), exc.retry_after_s)
        return signal.response(outcome.rejected, outcome.message).SerializeToString()

    return export


def build_grpc_server(ingestor: Ingestor, config: ReceiverConfig) -> grpc.Server:
    """An unstarted gRPC server serving the three OTLP Export methods."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=config.grpc_workers, thread_name_prefix="otlp-grpc"),
        options=[
            ("grpc.max_receive_message_length", config.max_body),
            # gRPC sets SO_REUSEPORT by default, which would let a second collector bind the same
            # port and silently split traffic; one listener per port.
            ("grpc.so_reuseport", 0),
            # Slow or idle clients: gRPC itself closes a connection whose handshake has not finished
            # within 60 s; a finished one lives at most this long, whatever it carries.
            ("grpc.max_connection_age_ms", round(config.grpc_max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", round(config.request_timeout_s * 1000)),
        ],
    )
    for signal in SIGNALS:
        export = grpc.unary_unary_rpc_method_handler(_export_handler(signal, ingestor))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(signal.grpc_service, {"Export": export}),))
    return server


__all__ = ["build_grpc_server"]
