"""Live routes (SSE): a session's events and the sessions under it, and every queen's, as they are
ingested, with quota crossings; resumable from ``Last-Event-ID`` while the broadcaster still holds it."""

# No "from __future__ import annotations": FastAPI reads the route signatures.

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from hive_otel.collector.api.broadcast import ALL_TENANTS, MAX_STREAMS_PER_TENANT, Broadcaster, LiveEvent
from hive_otel.collector.api.live_events import CATEGORIES, sse_message
from hive_otel.collector.api.models import ErrorMessage
from hive_otel.collector.api.routes._common import (
    ERRORS,
    NOT_FOUND,
    CallerDep,
    SessionId,
    StoreDep,
    TenantParam,
    found_session,
    keys,
)
from hive_otel.collector.auth.principal import Principal

router = APIRouter(tags=["live"])

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)]
_SSE: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {"description": "text/event-stream", "content": {"text/event-stream": {}}},
    429: {"description": f"{MAX_STREAMS_PER_TENANT} streams of the tenant are open already", "model": ErrorMessage},
}


async def _events(
    request: Request, scope: str, last_event_id: str | None, keep: Callable[[LiveEvent], bool]
) -> AsyncIterator[str]:
    broadcaster: Broadcaster = request.app.state.broadcaster
    heartbeat_s: float = request.app.state.sse_heartbeat_s
    subscription, replay, gap = broadcaster.subscribe(scope, last_event_id)
    try:
        yield f"retry: 2000\n: hive-otel {broadcaster.epoch}\n\n"
        if gap:
            yield sse_message(f"{broadcaster.epoch}-0", "gap", {"type": "gap", "last_event_id": last_event_id})
        last_seq = 0
        for event in replay:
            last_seq = event.seq
            if keep(event):
                yield sse_message(event.id, event.category, event.data)
        while not await request.is_disconnected():
            try:
                event = await asyncio.wait_for(subscription.queue.get(), heartbeat_s)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if event is None:  # this client fell too far behind: end; it resumes from its last id
                return
            if event.seq > last_seq and keep(event):
                yield sse_message(event.id, event.category, event.data)
    finally:
        broadcaster.unsubscribe(subscription)


def _stream(
    request: Request, who: Principal, tenant: str | None, last_event_id: str | None, keep: Callable[[LiveEvent], bool]
) -> StreamingResponse:
    scope = who.reads(tenant) or ALL_TENANTS
    if request.app.state.broadcaster.streams(scope) >= MAX_STREAMS_PER_TENANT:
        raise HTTPException(
            429, f"{MAX_STREAMS_PER_TENANT} live streams of this tenant are open; close one", {"Retry-After": "10"}
        )
    body = _events(request, scope, last_event_id, keep)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.get("/api/sessions/{session_id}/events/stream", response_class=StreamingResponse,
            responses={**_SSE, 404: NOT_FOUND[404]})  # fmt: skip
def stream_session(
    request: Request,
    session_id: SessionId,
    who: CallerDep,
    store: StoreDep,
    tenant: TenantParam = None,
    filter_: Annotated[str | None, Query(alias="filter", description=f"any of: {', '.join(CATEGORIES)}")] = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """Live events of the session and the sessions under it, as they are ingested (SSE). A session
    the caller's tenant has not sent yet is a 404, like every session route, so another tenant's
    stream is never an open, empty one."""
    found_session(store, who, tenant, session_id)
    categories = set(keys(filter_, CATEGORIES, what="filter")) or set(CATEGORIES)

    def keep(event: LiveEvent) -> bool:
        if event.category not in categories:
            return False
        if event.category == "quota":
            return True
        data = event.data
        return session_id in (data.get("session"), data.get("root_session"), data.get("parent_session"))

    return _stream(request, who, tenant, last_event_id, keep)


@router.get("/api/agents/queen/stream", response_class=StreamingResponse, responses=_SSE)
def stream_queens(
    request: Request, who: CallerDep, tenant: TenantParam = None, last_event_id: LastEventId = None
) -> StreamingResponse:
    """Live events of every queen session of the tenant, and quota crossings (SSE)."""

    def keep(event: LiveEvent) -> bool:
        return event.category == "quota" or event.data.get("role") == "queen"

    return _stream(request, who, tenant, last_event_id, keep)
