"""OTLP/HTTP exporter: POST ``{endpoint}/v1/{signal}`` with an ``application/x-protobuf`` body.

protobuf is imported only to read a response body: receivers answer a full success with an empty
one, so the exporter usually never loads it (it is a third of the client's import time).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Mapping

import urllib3

from hive_otel import __version__
from hive_otel.client.export._result import ExportResult, parse_exporter_args
from hive_otel.client.export._retry_after import parse_retry_after
from hive_otel.client.outbox import Signal
from hive_otel.settings import TlsFiles

_log = logging.getLogger(__name__)

# The OTLP specification's retryable HTTP statuses; every other 4xx and 5xx must not be retried.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
TOO_LARGE_STATUS = 413
AUTH_STATUSES = frozenset({401, 403})
_GZIP_LEVEL = 6  # zlib's default: nearly level 9's ratio on OTLP protobuf at a fraction of the CPU
_MAX_REASON_CHARS = 300


class OtlpHttpExporter:
    """Sends encoded requests over OTLP/HTTP on one persistent (keep-alive) connection.

    2xx is success (a partial success is logged and reported in the reason); 429, 502, 503 and
    504 are retryable with the server's ``Retry-After`` (seconds or HTTP date) when it gives one;
    413 is "too large" (the sender splits the request), 401 and 403 "unauthorized" (the sender keeps
    the request); any other status is permanent, with the server's message; connection errors and
    timeouts are retryable (a TLS handshake that fails too: the reason says why). Meant for one sender thread.

    ``tls`` applies to an ``https://`` endpoint only (a plain ``http://`` connection has nothing to use it for):
    its CA file replaces the system's roots, its client certificate and key are presented for mutual TLS.
    """

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        compression: str = "gzip",
        timeout_s: float = 10.0,
        tls: TlsFiles | None = None,
    ) -> None:
        parsed = parse_exporter_args(endpoint, compression, timeout_s, default_port=4318)
        self._path_prefix = parsed.path.rstrip("/")
        self._gzip = compression == "gzip"
        self._headers = {
            "User-Agent": f"hive-otel/{__version__}",
            **(headers or {}),
            "Content-Type": "application/x-protobuf",
        }
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        # maxsize=1: one sender thread, one kept-alive connection. retries=False: a failed attempt
        # is reported to the sender, which owns all retrying.
        self._pool = urllib3.connection_from_url(
            f"{parsed.scheme}://{parsed.netloc}",
            maxsize=1,
            retries=False,
            timeout=urllib3.Timeout(total=timeout_s),
            **(_tls_options(tls) if parsed.scheme == "https" else {}),
        )
        self._shut_down = False

    def export(self, signal: Signal, body: bytes) -> ExportResult:
        if self._shut_down:
            return ExportResult.retryable("exporter is shut down")
        payload = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0) if self._gzip else body
        try:
            response = self._pool.urlopen(
                "POST",
                f"{self._path_prefix}/v1/{signal}",
                body=payload,
                headers=self._headers,
                redirect=False,
                retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # Refused, reset, timed out, TLS failure: the receiver may be fine again later.
            return ExportResult.retryable(f"{type(error).__name__}: {error}")
        status = response.status
        if 200 <= status < 300:
            return _partial_success(signal, response.data)
        message = _server_message(response.headers.get("Content-Type", ""), response.data)
        reason = f"HTTP {status}: {message}" if message else f"HTTP {status}"
        if status in RETRYABLE_STATUSES:
            return ExportResult.retryable(reason, parse_retry_after(response.headers.get("Retry-After")))
        if status == TOO_LARGE_STATUS:
            return ExportResult.too_large(reason)
        if status in AUTH_STATUSES:
            return ExportResult.unauthorized(reason)
        return ExportResult.permanent(reason)

    def shutdown(self) -> None:
        self._shut_down = True
        self._pool.close()


def _tls_options(tls: TlsFiles | None) -> dict[str, str]:
    """urllib3's options for ``tls``. Paths, not a prebuilt context: urllib3 reads them on each new connection
    (a renewed certificate is picked up at the next reconnect) and keeps its own hardened defaults."""
    if tls is None:
        return {}
    options = {"ca_certs": str(tls.ca_file)} if tls.ca_file else {}
    if tls.client_cert_file and tls.client_key_file:
        options |= {"cert_file": str(tls.client_cert_file), "key_file": str(tls.client_key_file)}
    return options


def _partial_success(signal: Signal, payload: bytes) -> ExportResult:
    if not payload:
        return ExportResult.success()
    from hive_otel.client.export._otlp_responses import parse_partial_success

    return parse_partial_success(signal, payload)


def _server_message(content_type: str, payload: bytes) -> str:
    """The receiver's explanation: OTLP puts a google.rpc.Status in error bodies; proxies send text."""
    if not payload:
        return ""
    message = ""
    if "protobuf" in content_type:
        from google.protobuf.message import DecodeError
        from google.rpc.status_pb2 import Status

        try:
            message = Status.FromString(payload).message
        except DecodeError:
            message = ""
    elif "json" in content_type:
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
        if isinstance(document, dict):
            message = str(document.get("message") or document.get("error") or "")
    if not message:
        message = payload.decode("utf-8", "replace")
    return " ".join(message.split())[:_MAX_REASON_CHARS]
