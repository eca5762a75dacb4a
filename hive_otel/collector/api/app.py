"""The status and usage API (seed §6) as a FastAPI app; OpenAPI at ``/openapi.json``, docs at ``/docs``.

Reads go through the same query layers as the CLI: usage routes call
:func:`hive_otel.collector.queries.usage.usage` (so their numbers equal ``hive-otel usage``), status routes
:mod:`hive_otel.collector.queries.status`. Store calls are blocking, so those routes are plain ``def``
handlers, which FastAPI runs in its thread pool; the SSE routes are async and read the broadcaster.
"""

# No "from __future__ import annotations": FastAPI reads the route signatures, whose aliases are local.

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from hive_otel import __version__
from hive_otel.collector.api import models as M
from hive_otel.collector.api._caller import Caller, bearer_scheme, resolve_caller
from hive_otel.collector.api._hive_session import hive_session_fields, hive_session_stats
from hive_otel.collector.api.broadcast import ALL_TENANTS, Broadcaster, LiveEvent
from hive_otel.collector.api.live_events import CATEGORIES, sse_message
from hive_otel.collector.api.quotas import Budget, BudgetStatus, QuotaEvaluator, QuotaPolicy, most_restrictive
from hive_otel.collector.auth.principal import TenantAuth
from hive_otel.collector.auth.tokens import TENANT_PATTERN
from hive_otel.collector.queries import status as S
from hive_otel.collector.queries.hive_sessions import events_page
from hive_otel.collector.queries.usage import GROUP_KEYS, Queryable, in_store_range, usage
from hive_otel.collector.store.transport import sql_string

__all__ = ["build_api_app", "parse_range"]

_ID = r"^[^\x00-\x1f]{1,256}$"  # session, colony ids: any printable text up to 256 characters
_QUOTA_TENANT = rf"^(\*|{TENANT_PATTERN[1:-1]})$"
_ROLLUP_KEYS = ("user", "tenant", "model", "colony", "provider", "agent_role", "root_session", "tool", "day", "month")
_HEALTH_FIELDS = (
    "session", "health", "lifecycle", "stall_score", "stall_signals", "waiting", "loop_activity", "park_reason",
    "stream_state", "last_seen_s", "last_heartbeat_at", "last_progress_at",
)  # fmt: skip
_DOCUMENT_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
_RANGE = re.compile(r"^(\d{1,4})([hdw])$")

TenantParam = Annotated[str | None, Query(pattern=TENANT_PATTERN, description="an operator's narrowing to one tenant")]
RangeParam = Annotated[
    str,
    Query(
        alias="range",
        pattern=r"^(all|today|month|\d{1,4}[hdw]|\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?/\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?)$",
        description="all, today, month (to date), Nh / Nd / Nw (the last N whole hours, days or weeks, "
        "the current one included), or START/END in ISO (UTC, half-open)",
    ),
]


def parse_range(text: str, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """``range`` → ``[since, until)``; relative ranges are whole hours or days so rollups answer them."""
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "all":
        return None, None
    if text == "today":
        return today, None
    if text == "month":
        return today.replace(day=1), None
    match = _RANGE.match(text)
    if match:
        count, unit = int(match[1]), match[2]
        if unit == "h":
            return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=max(count, 1) - 1), None
        days = max(count, 1) * (7 if unit == "w" else 1)
        return today - timedelta(days=days - 1), None
    start, _, end = text.partition("/")
    try:
        since, until = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in (start, end))
    except ValueError:
        raise HTTPException(400, f"range {text!r}: not ISO dates or times") from None
    since, until = (v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC) for v in (since, until))
    try:
        since, until = in_store_range(since), in_store_range(until)
    except ValueError as exc:
        raise HTTPException(400, f"range {text!r}: {exc}") from None
    if since >= until:
        raise HTTPException(400, "range: the start must be before the end")
    return since, until


def _group_by(text: str | None, allowed: tuple[str, ...]) -> list[str]:
    keys = [k.strip() for k in (text or "").split(",") if k.strip()]
    unknown = [k for k in keys if k not in allowed]
    if unknown or len(set(keys)) != len(keys):
        raise HTTPException(400, f"group_by: choose distinct keys from {', '.join(allowed)}")
    return keys


def _report(store: Queryable, keys: list[str], since: Any, until: Any, tenant: str | None, **filters: str) -> M.UsageReport:
    try:
        report = usage(store, keys, since, until, tenant, filters=filters or None)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return M.UsageReport.model_validate(report.as_dict())


def build_api_app(
    store: Queryable,
    auth: TenantAuth,
    broadcaster: Broadcaster,
    quotas: QuotaEvaluator,
    *,
    sse_heartbeat_s: float = 15.0,
    quota_refresh_s: float = 30.0,
) -> FastAPI:
    app = FastAPI(
        title="hive-otel status and usage API",
        version=__version__,
        description="Status (S1-S8), usage and quotas of Hive agents, from the hive-otel collector's store. "
        "Every route needs a bearer token when the collector has a tokens file, and reads only its tenant.",
    )

    def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> Caller:
        return resolve_caller(request, auth, credentials)

    @app.middleware("http")
    async def documents_need_a_token(request: Request, call_next: Any) -> Any:
        """The OpenAPI document and its pages need a token like every other route (FastAPI serves them
        outside the routes' dependencies)."""
        if request.url.path in _DOCUMENT_PATHS:
            try:
                resolve_caller(request, auth, None)
            except HTTPException as exc:
                return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        return await call_next(request)

    CallerDep = Annotated[Caller, Depends(caller)]
    SessionId = Annotated[str, Path(pattern=_ID)]
    ColonyId = Annotated[str, Path(pattern=_ID)]
    errors: dict[int | str, dict[str, Any]] = {
        400: {"description": "a bad group_by, range or policy", "model": M.ErrorMessage},
        401: {"description": "no valid bearer token", "model": M.ErrorMessage},
        403: {"description": "another tenant", "model": M.ErrorMessage},
    }
    not_found: dict[int | str, dict[str, Any]] = {
        **errors, 404: {"description": "no such session in this tenant", "model": M.ErrorMessage}
    }

    def _status(who: Caller, tenant: str | None, session: str) -> dict[str, Any]:
        found = S.session_health(store, who.reads(tenant), session)
        if found is None:
            raise HTTPException(404, f"no session {session!r}")
        return found

    # -- status ----------------------------------------------------------------------------------------
    @app.get("/api/sessions/{session_id}", response_model=M.SessionDetail, responses=not_found, tags=["status"])
    def get_session(session_id: SessionId, who: CallerDep, tenant: TenantParam = None) -> dict[str, Any]:
        """Hive's session fields, then the right rail: status, phase history (S1), tasks (S2), triggers (S8)."""
        found = _status(who, tenant, session_id)
        owner = found["tenant"]
        tasks = S.session_tasks(store, owner, session_id)
        triggers = S.session_triggers(store, owner, session_id)
        children = S.sessions_health(store, owner, _children_of(owner, session_id))
        started = found["started_at"]
        end = found["ended_at"] or datetime.now(UTC).isoformat()
        uptime = max(0.0, (_time(end) - _time(started)).total_seconds()) if started else None
        return {
            **hive_session_fields(store, found, triggers, uptime),
            "status": found,
            "uptime_s": uptime,
            "phase_history": S.phase_history(store, owner, session_id),
            "tasks": tasks,
            "open_task_count": sum(1 for t in tasks if t["status"] not in ("completed", "failed", "cancelled")),
            "triggers": triggers,
            "next_wake_at": S.next_wake(triggers),
            "in_flight_workers": sum(1 for c in children if c["lifecycle"] == "active"),
        }

    @app.get("/api/sessions/{session_id}/stats", response_model=M.SessionStats, responses=not_found, tags=["status"])
    def get_session_stats(session_id: SessionId, who: CallerDep, tenant: TenantParam = None) -> dict[str, Any]:
        """Hive's runtime statistics of the session (workers, triggers, events by type), with its usage."""
        found = _status(who, tenant, session_id)
        owner = found["tenant"]
        children = S.sessions_health(store, owner, _children_of(owner, session_id))
        triggers = S.session_triggers(store, owner, session_id)
        totals = _report(store, [], None, None, owner, session=session_id).totals
        return hive_session_stats(store, found, children, triggers, totals)

    @app.get("/api/sessions/{session_id}/events/history", response_model=M.EventsHistory, responses=not_found,
             tags=["status"])  # fmt: skip
    def get_events_history(
        session_id: SessionId,
        who: CallerDep,
        tenant: TenantParam = None,
        limit: Annotated[int, Query(ge=1, le=10_000, description="events per page (Hive: 500, at most 10000)")] = 500,
        before_offset: Annotated[
            int | None, Query(ge=0, description="a previous page's start_offset; omit for the newest page")
        ] = None,
    ) -> dict[str, Any]:
        """The session's stored durable events (status records and calls, never deltas), paged as Hive pages
        ``events.jsonl``: newest page first, oldest first within a page."""
        found = _status(who, tenant, session_id)
        return events_page(store, found["tenant"], session_id, limit, before_offset)

    @app.get("/api/sessions/{session_id}/tree", response_model=M.SessionTree, responses=not_found, tags=["status"])
    def get_tree(session_id: SessionId, who: CallerDep, tenant: TenantParam = None) -> dict[str, Any]:
        """Queen → colonies → workers around this session (S5), each with its health."""
        tree = S.session_tree(store, who.reads(tenant), session_id)
        if tree is None:
            raise HTTPException(404, f"no session {session_id!r}")
        return tree

    @app.get("/api/sessions/{session_id}/health", response_model=M.SessionHealthView, responses=not_found,
             tags=["status"])  # fmt: skip
    def get_health(session_id: SessionId, who: CallerDep, tenant: TenantParam = None) -> dict[str, Any]:
        """Stall score (idle by design apart from stalled by bug), last seen, in-flight workers (S4, S7)."""
        found = _status(who, tenant, session_id)
        children = S.sessions_health(store, found["tenant"], _children_of(found["tenant"], session_id))
        return {
            **{k: found[k] for k in _HEALTH_FIELDS},
            "last_event_at": found["last_seen_at"],
            "in_flight": S.health_rollup(children),
        }

    @app.get("/api/colonies/{colony_id}/workers", response_model=M.ColonyWorkers, responses=errors, tags=["status"])
    def get_colony_workers(colony_id: ColonyId, who: CallerDep, tenant: TenantParam = None) -> dict[str, Any]:
        """Every worker of the colony with its health, and the roll-up (S6)."""
        return S.colony_workers(store, who.reads(tenant), colony_id)

    # -- usage -----------------------------------------------------------------------------------------
    @app.get("/api/sessions/{session_id}/usage", response_model=M.SessionUsage, responses=not_found, tags=["usage"])
    def get_session_usage(
        session_id: SessionId,
        who: CallerDep,
        tenant: TenantParam = None,
        scope: Annotated[str, Query(pattern="^(session|tree)$", description="tree adds every session under it")] = "session",
    ) -> dict[str, Any]:
        """Tokens, cost, tool calls and LLM latency of the session (or its whole tree)."""
        found = _status(who, tenant, session_id)
        key = "session" if scope == "session" else "root_session"
        report = _report(store, [], None, None, found["tenant"], **{key: session_id})
        started, ended = found["started_at"], found["ended_at"] or found["last_seen_at"]
        wall = (_time(ended) - _time(started)).total_seconds() if started and ended else None
        return {
            "session": session_id,
            "scope": scope,
            "usage": report.totals,
            "latency": S.session_latency(store, found["tenant"], session_id, key),
            "wall_clock_s": max(0.0, wall) if wall is not None else None,
        }

    @app.get("/api/sessions/{session_id}/usage/by-model", response_model=M.UsageReport, responses=not_found,
             tags=["usage"])  # fmt: skip
    def get_session_usage_by_model(session_id: SessionId, who: CallerDep, tenant: TenantParam = None) -> M.UsageReport:
        """The session's usage split by model (tool calls appear under an empty model)."""
        found = _status(who, tenant, session_id)
        return _report(store, ["model"], None, None, found["tenant"], session=session_id)

    @app.get("/api/colonies/{colony_id}/usage", response_model=M.ColonyUsage, responses=errors, tags=["usage"])
    def get_colony_usage(
        colony_id: ColonyId,
        who: CallerDep,
        tenant: TenantParam = None,
        range_: RangeParam = "all",
        group_by: Annotated[str | None, Query(description=f"comma-separated: {', '.join(GROUP_KEYS)}")] = None,
    ) -> dict[str, Any]:
        """The colony's usage, optionally grouped."""
        since, until = parse_range(range_)
        keys = _group_by(group_by, GROUP_KEYS)
        return {"colony": colony_id, "report": _report(store, keys, since, until, who.reads(tenant), colony=colony_id)}

    @app.get("/api/agents/queen/usage", response_model=M.UsageReport, responses=errors, tags=["usage"])
    def get_queen_usage(
        who: CallerDep,
        tenant: TenantParam = None,
        range_: RangeParam = "30d",
        group_by: Annotated[str | None, Query(description=f"comma-separated: {', '.join(GROUP_KEYS)}")] = "day",
    ) -> M.UsageReport:
        """The queens' own usage (agent role queen) over a range, grouped (billing view)."""
        since, until = parse_range(range_)
        return _report(store, _group_by(group_by, GROUP_KEYS), since, until, who.reads(tenant), agent_role="queen")

    @app.get("/api/usage/rollup", response_model=M.UsageReport, responses=errors, tags=["usage"])
    def get_rollup(
        who: CallerDep,
        tenant: TenantParam = None,
        range_: RangeParam = "month",
        group_by: Annotated[str, Query(description=f"comma-separated: {', '.join(_ROLLUP_KEYS)}")] = "model",
    ) -> M.UsageReport:
        """Usage of every agent over a range, grouped by user, tenant, model, colony, ... (from the rollups)."""
        since, until = parse_range(range_)
        return _report(store, _group_by(group_by, _ROLLUP_KEYS), since, until, who.reads(tenant))

    # -- quotas ----------------------------------------------------------------------------------------
    QuotaTenant = Annotated[str, Path(pattern=_QUOTA_TENANT, description="a tenant, or * for the global budgets")]

    def _quota_reader(who: Caller, tenant: str) -> None:
        if who.tenant is not None and tenant not in (who.tenant,):
            raise HTTPException(403, f"this token reads tenant {who.tenant!r} only")

    def _private(who: Caller, tenant: str, statuses: list[BudgetStatus]) -> list[BudgetStatus]:
        """A tenant's view of the budgets that apply to it: a global budget keeps its decision, but its
        spend and ratio are the tenant's own share, so no tenant learns what the others spent."""
        shared = [s for s in statuses if s.tenant == ALL_TENANTS]
        if who.tenant is None or tenant == ALL_TENANTS or not shared:
            return statuses
        mine = QuotaPolicy(budgets=[Budget(**s.model_dump(include=set(Budget.model_fields))) for s in shared])
        own = {s.id: s.spend for s in quotas.book.evaluate(tenant, {tenant: mine})}
        shares = {s.id: {"spend": own[s.id], "ratio": round(own[s.id] / s.limit, 6)} for s in shared}
        return [s.model_copy(update=shares[s.id]) if s.tenant == ALL_TENANTS else s for s in statuses]

    def _quota_status(who: Caller, tenant: str) -> dict[str, Any]:
        policies = quotas.policies()
        statuses = _private(who, tenant, quotas.book.evaluate(tenant, policies))
        wide = [s.decision for s in statuses if s.scope in ("global", "tenant")]
        crossings = quotas.book.crossings(None if tenant == ALL_TENANTS else tenant)
        if who.tenant is not None:  # a global budget's crossings carry everyone's spend
            crossings = [c for c in crossings if c["tenant"] != ALL_TENANTS]
        return {
            "tenant": tenant,
            "policy": policies.get(tenant, QuotaPolicy(budgets=[])),
            "budgets": statuses,
            "decision": most_restrictive(wide),
            "crossings": crossings,
        }

    @app.post("/api/quotas/{tenant}", response_model=M.QuotaStatus, responses=errors, tags=["quotas"])
    def set_quotas(tenant: QuotaTenant, policy: QuotaPolicy, who: CallerDep) -> dict[str, Any]:
        """Replace the tenant's budgets (an admin token, or any local client without tokens)."""
        if not who.may_write_any:
            raise HTTPException(403, "setting budgets needs an admin token")
        if tenant != ALL_TENANTS and any(b.scope == "global" for b in policy.budgets):
            raise HTTPException(400, "global budgets belong to the policy of tenant '*'")
        quotas.set_policy(tenant, policy)
        return _quota_status(who, tenant)

    @app.get("/api/quotas/{tenant}", response_model=M.QuotaStatus, responses=errors, tags=["quotas"])
    def get_quotas(tenant: QuotaTenant, who: CallerDep) -> dict[str, Any]:
        """The tenant's budgets with spend and decision, and its recent threshold crossings."""
        _quota_reader(who, tenant)
        return _quota_status(who, tenant)

    @app.delete("/api/quotas/{tenant}", status_code=204, responses=errors, tags=["quotas"])
    def delete_quotas(tenant: QuotaTenant, who: CallerDep) -> Response:
        """Remove every budget of the tenant (an admin token, or any local client without tokens)."""
        if not who.may_write_any:
            raise HTTPException(403, "removing budgets needs an admin token")
        quotas.set_policy(tenant, None)
        return Response(status_code=204)

    @app.get("/api/quotas/{tenant}/decisions", response_model=M.QuotaDecisions, responses=errors, tags=["quotas"])
    def get_decisions(tenant: QuotaTenant, who: CallerDep) -> dict[str, Any]:
        """Each budget's current decision: what ``hive_otel.client.quota`` caches to decide without a network call."""
        _quota_reader(who, tenant)
        statuses = _private(who, tenant, quotas.book.evaluate(tenant, quotas.policies()))
        return {
            "tenant": tenant,
            "evaluated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "refresh_s": quota_refresh_s,
            "budgets": [s.model_dump(include=set(M.BudgetDecision.model_fields)) for s in statuses],
        }

    # -- live streams ----------------------------------------------------------------------------------
    async def _stream(
        request: Request, who: Caller, tenant: str | None, last_event_id: str | None, keep: Any
    ) -> AsyncIterator[str]:
        scope = who.reads(tenant) or ALL_TENANTS
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
                    event = await asyncio.wait_for(subscription.queue.get(), sse_heartbeat_s)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if event is None:  # this client fell too far behind: end; it resumes from its last id
                    return
                if event.seq > last_seq and keep(event):
                    yield sse_message(event.id, event.category, event.data)
        finally:
            broadcaster.unsubscribe(subscription)

    sse_responses: dict[int | str, dict[str, Any]] = {
        **errors, 200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}
    }

    @app.get("/api/sessions/{session_id}/events/stream", response_class=StreamingResponse,
             responses={**sse_responses, 404: not_found[404]}, tags=["live"])  # fmt: skip
    def stream_session(
        request: Request,
        session_id: SessionId,
        who: CallerDep,
        tenant: TenantParam = None,
        filter_: Annotated[str | None, Query(alias="filter", description=f"any of: {', '.join(CATEGORIES)}")] = None,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    ) -> StreamingResponse:
        """Live events of the session and the sessions under it, as they are ingested (SSE). A session
        the caller's tenant has not sent yet is a 404, like every session route, so another tenant's
        stream is never an open, empty one."""
        _status(who, tenant, session_id)
        categories = set(_group_by(filter_, CATEGORIES)) or set(CATEGORIES)

        def keep(event: LiveEvent) -> bool:
            if event.category not in categories:
                return False
            if event.category == "quota":
                return True
            data = event.data
            return session_id in (data.get("session"), data.get("root_session"), data.get("parent_session"))

        return _sse(_stream(request, who, tenant, last_event_id, keep))

    @app.get("/api/agents/queen/stream", response_class=StreamingResponse, responses=sse_responses, tags=["live"])
    def stream_queens(
        request: Request,
        who: CallerDep,
        tenant: TenantParam = None,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    ) -> StreamingResponse:
        """Live events of every queen session of the tenant, and quota crossings (SSE)."""

        def keep(event: LiveEvent) -> bool:
            return event.category == "quota" or event.data.get("role") == "queen"

        return _sse(_stream(request, who, tenant, last_event_id, keep))

    return app


def _sse(body: AsyncIterator[str]) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


def _children_of(tenant: str, session: str) -> str:
    return f" WHERE tenant = {sql_string(tenant)} AND parent_session = {sql_string(session)}"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
