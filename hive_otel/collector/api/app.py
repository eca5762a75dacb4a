"""The status and usage API (seed §6) as a FastAPI app; OpenAPI at ``/openapi.json``, docs at ``/docs``.

:func:`create_app` includes one router per resource (:mod:`hive_otel.collector.api.routes`) and keeps
the parts they read in ``app.state``. Reads go through the query layer the CLI uses
(:mod:`hive_otel.collector.queries`), so the API's numbers equal ``hive-otel usage``. Store calls are
blocking, so those routes are plain ``def`` handlers, which FastAPI runs in its thread pool; the SSE
routes are async and read the broadcaster. Every tenant check is
:meth:`~hive_otel.collector.auth.principal.Principal.reads`; its :class:`Forbidden` is a 403.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hive_otel import __version__
from hive_otel.collector.api._caller import resolve_caller
from hive_otel.collector.api.broadcast import Broadcaster
from hive_otel.collector.api.quotas import QuotaEvaluator
from hive_otel.collector.api.routes import live, quotas, sessions, usage
from hive_otel.collector.auth.principal import Forbidden, TenantAuth
from hive_otel.collector.queries.usage import Queryable

__all__ = ["create_app"]

_DOCUMENT_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def create_app(
    store: Queryable,
    auth: TenantAuth,
    broadcaster: Broadcaster,
    quota_evaluator: QuotaEvaluator,
    *,
    sse_heartbeat_s: float = 15.0,
    quota_refresh_s: float = 30.0,
) -> FastAPI:
    """The API over ``store``: status, usage, quotas and live routes, each needing a caller ``auth`` admits."""
    app = FastAPI(
        title="hive-otel status and usage API",
        version=__version__,
        description="Status (S1-S8), usage and quotas of Hive agents, from the hive-otel collector's store. "
        "Every route needs a bearer token when the collector has a tokens file, and reads only its tenant.",
    )
    app.state.store, app.state.auth = store, auth
    app.state.broadcaster, app.state.quotas = broadcaster, quota_evaluator
    app.state.sse_heartbeat_s, app.state.quota_refresh_s = sse_heartbeat_s, quota_refresh_s
    for module in (sessions, usage, quotas, live):
        app.include_router(module.router)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.middleware("http")(_documents_need_a_token)
    return app


async def _forbidden(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 403)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with the input each error echoes made JSON-safe: a body's ``1e400`` or ``NaN``
    parses as a float JSON cannot carry back, and the 422 itself then failed as a 500."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": _json_safe(jsonable_encoder(errors))}, 422)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


async def _documents_need_a_token(request: Request, call_next: Any) -> Any:
    """The OpenAPI document and its pages need a token like every other route (FastAPI serves them
    outside the routes' dependencies)."""
    if request.url.path in _DOCUMENT_PATHS:
        try:
            resolve_caller(request, request.app.state.auth, None)
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    return await call_next(request)
