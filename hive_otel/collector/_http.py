"""OTLP/HTTP receiver and the collector's small local API, as one Starlette (ASGI) app.

Routes: ``POST /v1/traces|metrics|logs`` (OTLP, protobuf or JSON, optionally gzip), ``GET /healthz``
(liveness and counters) and ``POST /hive/v1/query`` (read-only SQL for ``hive-otel usage/sql/status``
on this machine, which cannot open the embedded store while the collector holds it).

Size limits are enforced before memory is spent: the declared ``Content-Length`` is checked before
reading, the streamed body is cut off at the limit, and gzip output is capped during decompression.
Decoding and the store call run in worker threads, off the event loop.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import json
import os
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hive_otel.collector._ingest import ExportOutcome, Ingestor, IngestStore, StoreBusy, StoreUnavailable
from hive_otel.collector._otlp import (
    JSON,
    PROTOBUF,
    SIGNALS,
    RequestRejected,
    Signal,
    decode_json,
    decode_protobuf,
    encode,
    gunzip_capped,
    status_message,
)
from hive_otel.collector.config import TENANT_HEADER, ReceiverConfig

MAX_QUERY_BODY = 1024 * 1024
"""A SQL query request is small; anything larger is a mistake or an attack."""

# google.rpc.Code values carried in the Status body of each HTTP error.
_RPC_CODE_BY_HTTP_STATUS = {400: 3, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}

# Headers a reverse proxy adds; their presence means the TCP peer is not the real client.
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback_client(host: str | None, headers: Mapping[str, str] | None = None) -> bool:
    """True when the request comes straight from this machine: a loopback peer address (IPv4,
    IPv6 or IPv4-mapped IPv6) and no sign of a proxy relaying someone else's request."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_loopback:
        return False
    return not any(name in (headers or {}) for name in _FORWARDING_HEADERS)


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise RequestRejected("bad_content_length", f"Content-Length is not a number: {declared!r}") from None
        if length > limit:
            raise RequestRejected("too_large", f"body of {length} bytes exceeds the limit of {limit} bytes", http_status=413)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise RequestRejected("too_large", f"body exceeds the limit of {limit} bytes", http_status=413)
    except ClientDisconnect:
        raise RequestRejected("client_disconnected", "the client went away mid-body") from None
    return bytes(body)


def _json_value(value: Any) -> Any:
    """JSON form of the values a ClickHouse query returns beyond JSON's own types."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact; the reader converts as it needs
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class _OtlpEndpoint:
    """``POST /v1/<signal>``: decode, store, and answer in the request's encoding."""

    def __init__(self, signal: Signal, ingestor: Ingestor, config: ReceiverConfig) -> None:
        self._signal = signal
        self._ingestor = ingestor
        self._config = config

    async def handle(self, request: Request) -> Response:
        signal, peer = self._signal, _peer(request)
        self._ingestor.counters.request("http", signal.name)
        media_type = _media_type(request)
        reply_type = PROTOBUF if media_type == PROTOBUF else JSON
        try:
            if media_type not in (PROTOBUF, JSON):
                raise RequestRejected(
                    "unsupported_media_type",
                    f"Content-Type must be {PROTOBUF} or {JSON}, got {media_type or 'none'!r}",
                    http_status=415,
                )
            encoding = request.headers.get("content-encoding", "identity").strip().lower() or "identity"
            if encoding not in ("identity", "gzip"):
                raise RequestRejected(
                    "unsupported_encoding",
                    f"Content-Encoding must be gzip or absent, got {encoding!r}",
                    http_status=415,
                )
            body = await _read_body(request, self._config.max_body)
            tenant = request.headers.get(TENANT_HEADER) or None
            outcome = await run_in_threadpool(self._decode_and_store, body, media_type, encoding, tenant, peer)
        except RequestRejected as exc:
            self._ingestor.reject(signal.name, "http", peer, exc)
            return self._error(exc.http_status, exc.message, reply_type)
        except StoreBusy as exc:
            return self._error(429, str(exc), reply_type, {"Retry-After": str(exc.retry_after_s)})
        except StoreUnavailable as exc:
            return self._error(503, str(exc), reply_type, {"Retry-After": str(exc.retry_after_s)})
        response = signal.response(outcome.rejected, outcome.message)
        return Response(encode(response, reply_type), media_type=reply_type)

    def _decode_and_store(self, body: bytes, media_type: str, encoding: str, tenant: str | None, peer: str) -> ExportOutcome:
        if encoding == "gzip":
            body = gunzip_capped(body, self._config.max_body)
        decode = decode_json if media_type == JSON else decode_protobuf
        return self._ingestor.export(self._signal, decode(self._signal, body), tenant, peer)

    @staticmethod
    def _error(status: int, message: str, reply_type: str, headers: dict[str, str] | None = None) -> Response:
        body = encode(status_message(_RPC_CODE_BY_HTTP_STATUS[status], message), reply_type)
        return Response(body, status_code=status, media_type=reply_type, headers=headers)


class _QueryEndpoint:
    """``POST /hive/v1/query``: ``{"sql": ..., "readonly": true}`` → ``{"columns", "rows"}``."""

    def __init__(self, store: IngestStore) -> None:
        self._store = store

    async def handle(self, request: Request) -> Response:
        host = request.client.host if request.client else None
        if not is_loopback_client(host, request.headers):
            return JSONResponse({"error": "the query endpoint only serves clients on this machine"}, 403)
        try:
            body = await _read_body(request, MAX_QUERY_BODY)
            document = json.loads(body)
        except RequestRejected as exc:
            return JSONResponse({"error": exc.message}, exc.http_status)
        except (UnicodeDecodeError, ValueError) as exc:
            return JSONResponse({"error": f"body is not valid JSON: {exc}"}, 400)
        sql = document.get("sql") if isinstance(document, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            return JSONResponse({"error": 'expected a JSON object {"sql": "SELECT ...", "readonly": true}'}, 400)
        if document.get("readonly", True) is not True:
            return JSONResponse({"error": "only read-only queries are served"}, 400)
        try:
            columns, rows = await run_in_threadpool(self._store.query, sql, True)
        except Exception as exc:
            # The store refuses writes and reports bad SQL by raising; either way the caller
            # needs the reason, not a stack trace.
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, 400)
        payload = json.dumps({"columns": list(columns), "rows": [list(row) for row in rows]}, default=_json_value)
        return Response(payload, media_type=JSON)


def build_http_app(store: IngestStore, ingestor: Ingestor, config: ReceiverConfig) -> Starlette:
    """The ASGI app behind the OTLP/HTTP port."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid(), "counters": ingestor.counters.snapshot()})

    routes = [
        Route(signal.http_path, _OtlpEndpoint(signal, ingestor, config).handle, methods=["POST"]) for signal in SIGNALS
    ]
    routes.append(Route("/healthz", healthz, methods=["GET"]))
    routes.append(Route("/hive/v1/query", _QueryEndpoint(store).handle, methods=["POST"]))
    return Starlette(routes=routes)


__all__ = ["build_http_app", "is_loopback_client"]
