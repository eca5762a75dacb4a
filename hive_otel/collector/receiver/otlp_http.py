"""OTLP/HTTP receiver and the collector's small local API, as one Starlette (ASGI) app.

Routes: ``POST /v1/traces|metrics|logs`` (OTLP, protobuf or JSON, optionally gzip or deflate), ``GET /healthz``
(liveness and counters), ``POST /hive/v1/usage`` and ``POST /hive/v1/status`` (the query layer's usage
report and session list, by parameters: ``hive-otel usage`` and ``status`` on this machine, which cannot
open the embedded store while the collector holds it) and ``POST /hive/v1/query`` (the SQL console, for
``hive-otel sql`` and ``report``).

With a tokens file every route but ``/healthz`` needs a bearer token: OTLP writes as the token's
tenant and the usage and status routes read only that tenant (:meth:`Principal.reads`, the one tenant
check). ``/hive/v1/query`` (SQL over every tenant) is served, with or without a tokens file, only to an
admin token (of the file, or the store's local one) from a local tool: loopback peer and Host,
``application/json``, no ``Origin``. Without a tokens file the usage and status routes serve local
tools only, as the whole collector then does.

Size limits are enforced before memory is spent: the declared ``Content-Length`` is checked before
reading, the streamed body is cut off at the limit, and gzip output is capped during decompression.
Decoding and the store call run in worker threads, off the event loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hmac
import ipaddress
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hive_otel.collector.auth.loopback import local_request_refusal
from hive_otel.collector.auth.principal import (
    AUTHORIZATION,
    LOCAL_TENANT,
    Forbidden,
    Principal,
    Unauthenticated,
    bearer_token,
)
from hive_otel.collector.config import TENANT_HEADER, ReceiverConfig
from hive_otel.collector.queries.remote import QUERY_PATH, STATUS_PATH, USAGE_PATH
from hive_otel.collector.queries.status import recent_sessions
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.receiver.ingest import ExportOutcome, Ingestor, IngestStore, StoreBusy, StoreUnavailable
from hive_otel.collector.receiver.otlp import (
    CONTENT_ENCODINGS,
    JSON,
    PROTOBUF,
    SIGNALS,
    RequestRejected,
    Signal,
    decode_json,
    decode_protobuf,
    decompress_capped,
    encode,
    status_message,
)
from hive_otel.collector.store.transport import StoreError

MAX_QUERY_BODY = 1024 * 1024
"""A SQL query, usage or status read, or an API request (a quota policy) is small; anything larger is
a mistake or an attack."""

# google.rpc.Code values carried in the Status body of each HTTP error.
_RPC_CODE_BY_HTTP_STATUS = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hive-otel"'}


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
        try:  # before the body is read: an unauthenticated client costs no memory
            principal = self._ingestor.authenticate(
                "http", signal.name, peer, request.headers.get(AUTHORIZATION), request.headers.get(TENANT_HEADER) or None
            )
        except Unauthenticated as exc:
            return self._error(401, exc.message, reply_type, _CHALLENGE)
        try:
            if media_type not in (PROTOBUF, JSON):
                raise RequestRejected(
                    "unsupported_media_type",
                    f"Content-Type must be {PROTOBUF} or {JSON}, got {media_type or 'none'!r}",
                    http_status=415,
                )
            encoding = request.headers.get("content-encoding", "identity").strip().lower() or "identity"
            if encoding != "identity" and encoding not in CONTENT_ENCODINGS:
                raise RequestRejected(
                    "unsupported_encoding",
                    f"Content-Encoding must be gzip, deflate or absent, got {encoding!r}",
                    http_status=415,
                )
            body = await _read_body(request, self._config.max_body)
            outcome = await run_in_threadpool(self._decode_and_store, body, media_type, encoding, principal.tenant, peer)
        except RequestRejected as exc:
            self._ingestor.reject(signal.name, "http", peer, exc)
            return self._error(exc.http_status, exc.message, reply_type)
        except StoreBusy as exc:
            return self._error(429, str(exc), reply_type, {"Retry-After": str(exc.retry_after_s)})
        except StoreUnavailable as exc:
            return self._error(503, str(exc), reply_type, {"Retry-After": str(exc.retry_after_s)})
        response = signal.response(outcome.rejected, outcome.message)
        return Response(encode(response, reply_type), media_type=reply_type)

    def _decode_and_store(self, body: bytes, media_type: str, encoding: str, tenant: str, peer: str) -> ExportOutcome:
        if encoding in CONTENT_ENCODINGS:
            body = decompress_capped(body, self._config.max_body, encoding)
        if media_type == JSON:
            return self._ingestor.export(self._signal, decode_json(self._signal, body), tenant, peer)
        return self._ingestor.export(self._signal, decode_protobuf(self._signal, body), tenant, peer, wire=body)

    @staticmethod
    def _error(status: int, message: str, reply_type: str, headers: dict[str, str] | None = None) -> Response:
        body = encode(status_message(_RPC_CODE_BY_HTTP_STATUS[status], message), reply_type)
        return Response(body, status_code=status, media_type=reply_type, headers=headers)


async def _read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; raises :class:`RequestRejected` with a 4xx status."""
    body = await _read_body(request, MAX_QUERY_BODY)
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise RequestRejected("bad_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestRejected("bad_json", "expected a JSON object")
    return document


def _refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=_CHALLENGE if status == 401 else None)


class _QueryEndpoint:
    """``POST /hive/v1/query``: ``{"sql": ..., "readonly": true}`` → ``{"columns", "rows"}``: the SQL console.

    SQL reads every tenant's rows, so it is served only on this machine and only to an admin token
    (one marked ``admin`` in the tokens file, or the store's local admin token, which the collector
    writes into the chDB store for the user who owns it), with or without a tokens file. The
    statement runs under the console policy (:mod:`hive_otel.collector.store.console`).
    """

    def __init__(self, store: IngestStore, ingestor: Ingestor) -> None:
        self._store = store
        self._ingestor = ingestor

    async def handle(self, request: Request) -> Response:
        refusal = _local_json_refusal(request, "the query endpoint")
        if refusal is not None:
            return refusal
        refusal = self._admin_refusal(request)
        if refusal is not None:
            return refusal
        try:
            document = await _read_json_object(request)
        except RequestRejected as exc:
            return _refusal(exc.http_status, exc.message)
        sql = document.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            return _refusal(400, 'expected a JSON object {"sql": "SELECT ...", "readonly": true}')
        if document.get("readonly", True) is not True:
            return _refusal(400, "only read-only queries are served")
        try:
            columns, rows = await run_in_threadpool(self._store.console_query, sql)  # type: ignore[attr-defined]
        except ValueError as exc:  # ConsoleRefused: the policy or ClickHouse refused the statement, the caller's to fix
            return _refusal(400, str(exc))
        except StoreError as exc:  # the store failed, not the statement: `hive-otel sql` reports it as such
            return _refusal(503, str(exc))
        payload = json.dumps({"columns": list(columns), "rows": [list(row) for row in rows]}, default=_json_value)
        return Response(payload, media_type=JSON)

    def _admin_refusal(self, request: Request) -> Response | None:
        authorization = request.headers.get(AUTHORIZATION)
        if _is_local_admin(self._store, authorization):
            return None
        try:
            principal = self._ingestor.authenticate("http", "query", _peer(request), authorization, None)
        except Unauthenticated as exc:
            return _refusal(401, f"{exc.message}; SQL needs an admin token")
        if not (principal.authenticated and principal.may_query_sql):
            who = f"the token of tenant {principal.tenant!r} is not" if principal.authenticated else "no token is"
            return _refusal(
                401 if not principal.authenticated else 403,
                f"{who} an admin token: SQL needs an admin token of the tokens file or the store's local one; "
                f"use POST {USAGE_PATH} for usage",
            )
        return None


def _is_local_admin(store: IngestStore, authorization: str | None) -> bool:
    """True when the request bears the store's local admin token (see ``Store.set_owner_url``)."""
    local = getattr(store, "admin_token", None)
    with contextlib.suppress(Unauthenticated):
        return bool(local) and hmac.compare_digest(bearer_token(authorization).encode(), str(local).encode())
    return False


def _local_json_refusal(request: Request, what: str) -> Response | None:
    """Why a request to a local-only JSON route is refused, or None: the local checks of
    :func:`~hive_otel.collector.auth.loopback.local_request_refusal`, and ``application/json`` only (a
    browser form posts ``text/plain`` without a preflight)."""
    host = request.client.host if request.client else None
    refusal = local_request_refusal(host, request.headers, what)
    if refusal is not None:
        return _refusal(403, refusal)
    if _media_type(request) != JSON:
        return _refusal(415, f"{what} takes Content-Type: {JSON} only")
    return None


Answer = Callable[[IngestStore, dict[str, Any], Principal], dict[str, Any]]


class _ReadEndpoint:
    """``POST /hive/v1/usage`` and ``/hive/v1/status``: one read of the query layer, by parameters.

    A tenant token reads its own tenant only (naming another is 403); an admin token, or any local
    client of a collector without tokens, may name any tenant or none (all of them).
    """

    def __init__(self, store: IngestStore, ingestor: Ingestor, what: str, answer: Answer) -> None:
        self._store = store
        self._ingestor = ingestor
        self._what = what
        self._answer = answer

    async def handle(self, request: Request) -> Response:
        if not self._ingestor.auth.requires_tokens:
            refusal = _local_json_refusal(request, f"without a tokens file the {self._what} endpoint")
            if refusal is not None:
                return refusal
        authorization = request.headers.get(AUTHORIZATION)
        if _is_local_admin(self._store, authorization):
            principal = Principal(tenant=LOCAL_TENANT, may_query_sql=True, authenticated=True)
        else:
            try:
                principal = self._ingestor.authenticate("http", self._what, _peer(request), authorization, None)
            except Unauthenticated as exc:
                return _refusal(401, exc.message)
        try:
            document = await _read_json_object(request)
            answer = await run_in_threadpool(self._answer, self._store, document, principal)
        except RequestRejected as exc:
            return _refusal(exc.http_status, exc.message)
        except Forbidden as exc:
            return _refusal(403, str(exc))
        except ValueError as exc:  # unknown key, bad time, a field of the wrong type: the caller's mistake
            return _refusal(400, str(exc))
        return Response(json.dumps(answer, default=_json_value), media_type=JSON)


def _field(document: dict[str, Any], name: str, kind: type) -> Any:
    value = document.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}")
    return value


def _usage_answer(store: IngestStore, document: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """``{"group_by": [...], "since"?: ISO, "until"?: ISO, "tenant"?, "filters"?: {key: value}}`` → the report
    (a ``session`` filter's value may be a list of ids: any of them)."""
    group_by = _field(document, "group_by", list)
    if not group_by:
        raise ValueError('expected {"group_by": ["model", ...], "since"?: ISO, "until"?: ISO}')
    since, until = _field(document, "since", str), _field(document, "until", str)
    filters = _field(document, "filters", dict)
    tenant = principal.reads(_field(document, "tenant", str))
    return usage(store, group_by, since, until, tenant, filters=filters).as_dict()  # type: ignore[arg-type]


def _status_answer(store: IngestStore, document: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """``{"tenant"?, "limit"?: N}`` → ``{"columns", "rows"}`` of the most recently seen sessions."""
    limit = _field(document, "limit", int)
    tenant = principal.reads(_field(document, "tenant", str))
    columns, rows = recent_sessions(store, tenant, 100 if limit is None else limit)  # type: ignore[arg-type]
    return {"columns": columns, "rows": rows}


API_PATHS = ("/api/", "/openapi.json", "/docs", "/redoc")
"""Paths of the status and usage API (hive_otel.collector.api) on the same port."""


def build_http_app(store: IngestStore, ingestor: Ingestor, config: ReceiverConfig, api: ASGIApp | None = None) -> ASGIApp:
    """The ASGI app behind the OTLP/HTTP port; requests under ``API_PATHS`` go to ``api`` (the status
    and usage API), so the OTLP routes keep their own 404/405 answers."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid(), "counters": ingestor.counters.snapshot()})

    routes = [
        Route(signal.http_path, _OtlpEndpoint(signal, ingestor, config).handle, methods=["POST"]) for signal in SIGNALS
    ]
    routes.append(Route("/healthz", healthz, methods=["GET"]))
    routes.append(Route(QUERY_PATH, _QueryEndpoint(store, ingestor).handle, methods=["POST"]))
    routes.append(Route(USAGE_PATH, _ReadEndpoint(store, ingestor, "usage", _usage_answer).handle, methods=["POST"]))
    routes.append(Route(STATUS_PATH, _ReadEndpoint(store, ingestor, "status", _status_answer).handle, methods=["POST"]))
    otlp = Starlette(routes=routes)
    capped = None if api is None else capped_body(api, lambda peer, exc: ingestor.reject("api", "http", peer, exc))

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        app = capped if capped is not None and path.startswith(API_PATHS) else otlp
        try:
            await app(scope, receive, send)
        except Exception:  # Starlette has answered 500; uvicorn logs the traceback when it is raised on
            ingestor.counters.server_error("api" if app is capped else path)  # API paths carry ids: one key
            raise

    return dispatch


def capped_body(app: ASGIApp, refused: Callable[[str, RequestRejected], None]) -> ASGIApp:
    """``app`` behind a reader that refuses a body over ``MAX_QUERY_BODY`` with 413 (``refused(peer,
    error)`` counts or logs it). FastAPI reads a body of any size before a route checks the token."""

    async def capped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            body = await _read_body(request, MAX_QUERY_BODY)
        except RequestRejected as exc:
            refused(_peer(request), exc)
            await JSONResponse({"detail": exc.message}, exc.http_status)(scope, receive, send)
            return
        await app(scope, _replaying(body, receive), send)

    return capped


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app whose body was read already: the body once, then the connection's own
    messages (from which a live stream learns that its client went away)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


__all__ = ["build_http_app", "capped_body"]
