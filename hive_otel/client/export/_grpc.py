"""OTLP/gRPC exporter: unary ``Export`` calls carrying bytes we already encoded."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import grpc
from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status

from hive_otel import __version__
from hive_otel.client.export._otlp_responses import RESPONSE_TYPES, describe_partial_success
from hive_otel.client.export._result import ExportResult, parse_exporter_args
from hive_otel.client.outbox import Signal
from hive_otel.settings import TlsFiles

_log = logging.getLogger(__name__)

EXPORT_METHODS: dict[Signal, str] = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

# The OTLP specification's retryable gRPC codes; all others mean the request itself was refused.
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.DATA_LOSS,
    }
)
AUTH_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
# How gRPC itself words a message over the receiver's limit (grpc-go: "grpc: received message larger
# than max (N vs. M)"; gRPC core: "Received message larger than max (N vs. M)").
_TOO_LARGE_WORDING = "larger than max"
_COMPRESSIONS = {"gzip": grpc.Compression.Gzip, "none": grpc.Compression.NoCompression}
_STATUS_DETAILS_KEY = "grpc-status-details-bin"

_CHANNEL_OPTIONS = [
    # Retrying is the sender's job alone; gRPC's own transparent retries would hide failures from it.
    ("grpc.enable_retries", 0),
    # gRPC's reconnect backoff grows to 120 s by default and fails calls fast meanwhile, which would
    # stretch the sender's own backoff after the receiver comes back; keep it short.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.primary_user_agent", f"hive-otel/{__version__}"),
]


class OtlpGrpcExporter:
    """Sends encoded requests over OTLP/gRPC on one persistent channel.

    ``endpoint`` is the same base URL as for HTTP (``http://host:port``); the scheme decides TLS.
    Success may carry a partial success (logged, reported in the reason). UNAVAILABLE,
    RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, CANCELLED, OUT_OF_RANGE and DATA_LOSS are
    retryable, honouring a ``RetryInfo`` in the status details, except a RESOURCE_EXHAUSTED without
    ``RetryInfo`` that says the message is larger than the receiver's maximum: that one is "too large"
    (the sender splits the request). UNAUTHENTICATED and PERMISSION_DENIED are "unauthorized" (the
    sender keeps the request); every other code is permanent. A failed TLS handshake is UNAVAILABLE, and
    its details say why.

    ``tls`` applies to an ``https://`` endpoint only: its CA file replaces the default roots (grpcio's bundled
    ones, or ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``), its client certificate and key are presented for mutual
    TLS. The files are read here, once: a renewed certificate needs a restart.
    """

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        compression: str = "gzip",
        timeout_s: float = 10.0,
        tls: TlsFiles | None = None,
    ) -> None:
        parsed = parse_exporter_args(endpoint, compression, timeout_s, default_port=4317)
        if parsed.scheme == "https":
            root_certificates, private_key, certificate_chain = tls.pem() if tls else (None, None, None)
            credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            self._channel = grpc.secure_channel(parsed.netloc, credentials, _CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(parsed.netloc, _CHANNEL_OPTIONS)
        self._timeout_s = timeout_s
        self._compression = _COMPRESSIONS[compression]
        # gRPC metadata keys must be lowercase.
        self._metadata = tuple((key.lower(), value) for key, value in (headers or {}).items())
        # request_serializer=None sends the bytes as they are: the body is already a serialized request.
        self._calls = {
            signal: self._channel.unary_unary(
                method,
                request_serializer=None,
                response_deserializer=RESPONSE_TYPES[signal].FromString,
            )
            for signal, method in EXPORT_METHODS.items()
        }
        self._shut_down = False

    def export(self, signal: Signal, body: bytes) -> ExportResult:
        if self._shut_down:
            return ExportResult.retryable("exporter is shut down")
        try:
            response = self._calls[signal](
                body, timeout=self._timeout_s, metadata=self._metadata, compression=self._compression
            )
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
            reason = f"gRPC {code.name}: {error.details()}"  # type: ignore[attr-defined]
            return _classify(code, reason, _retry_delay(error.trailing_metadata()))  # type: ignore[attr-defined]
        except ValueError as error:  # the channel was closed under a call in flight
            return ExportResult.retryable(f"{type(error).__name__}: {error}")
        return describe_partial_success(signal, response)

    def shutdown(self) -> None:
        self._shut_down = True
        self._channel.close()


def _classify(code: grpc.StatusCode, reason: str, retry_delay_s: float | None) -> ExportResult:
    """The outcome a failed call's status code means (see :class:`OtlpGrpcExporter`)."""
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and retry_delay_s is None and _TOO_LARGE_WORDING in reason.lower():
        return ExportResult.too_large(reason)
    if code in RETRYABLE_CODES:
        return ExportResult.retryable(reason, retry_delay_s)
    if code in AUTH_CODES:
        return ExportResult.unauthorized(reason)
    return ExportResult.permanent(reason)


def _retry_delay(trailing_metadata: Sequence[tuple[str, str | bytes]] | None) -> float | None:
    """The delay from a ``google.rpc.RetryInfo`` in ``grpc-status-details-bin``, if the server sent one."""
    for key, value in trailing_metadata or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = Status.FromString(value)
        except DecodeError:
            _log.debug("unreadable %s trailer", _STATUS_DETAILS_KEY)
            return None
        for detail in status.details:
            info = RetryInfo()
            if detail.Unpack(info):
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None
