"""Status routes (seed §4 S1-S8): a session with Hive's fields, its stats, stored events, tree and
health, and a colony's workers; every read through :mod:`hive_otel.collector.queries.status`."""

# No "from __future__ import annotations": FastAPI reads the route signatures.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from hive_otel.collector.api import models as M
from hive_otel.collector.api._hive_session import hive_session_fields, hive_session_stats
from hive_otel.collector.api.routes._common import (
    ERRORS,
    NOT_FOUND,
    CallerDep,
    ColonyId,
    SessionId,
    StoreDep,
    TenantParam,
    found_session,
    parse_iso,
    report,
)
from hive_otel.collector.queries import status as S
from hive_otel.collector.queries.hive_sessions import events_page
from hive_otel.collector.queries.time_range import TimeRange

router = APIRouter(tags=["status"])

_HEALTH_FIELDS = (
    "session", "health", "lifecycle", "stall_score", "stall_signals", "waiting", "loop_activity", "park_reason",
    "stream_state", "last_seen_s", "last_heartbeat_at", "last_progress_at",
)  # fmt: skip


@router.get("/api/sessions/{session_id}", response_model=M.SessionDetail, responses=NOT_FOUND)
def get_session(session_id: SessionId, who: CallerDep, store: StoreDep, tenant: TenantParam = None) -> dict[str, Any]:
    """Hive's session fields, then the right rail: status, phase history (S1), tasks (S2), triggers (S8)."""
    found = found_session(store, who, tenant, session_id)
    owner = found["tenant"]
    tasks = S.session_tasks(store, owner, session_id)
    triggers = S.session_triggers(store, owner, session_id)
    children = S.children_health(store, owner, session_id)
    started = found["started_at"]
    end = found["ended_at"] or datetime.now(UTC).isoformat()
    uptime = max(0.0, (parse_iso(end) - parse_iso(started)).total_seconds()) if started else None
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


@router.get("/api/sessions/{session_id}/stats", response_model=M.SessionStats, responses=NOT_FOUND)
def get_session_stats(session_id: SessionId, who: CallerDep, store: StoreDep, tenant: TenantParam = None) -> dict[str, Any]:
    """Hive's runtime statistics of the session (workers, triggers, events by type), with its usage."""
    found = found_session(store, who, tenant, session_id)
    owner = found["tenant"]
    children = S.children_health(store, owner, session_id)
    triggers = S.session_triggers(store, owner, session_id)
    totals = report(store, [], TimeRange(None, None), owner, session=session_id).totals
    return hive_session_stats(store, found, children, triggers, totals)


@router.get("/api/sessions/{session_id}/events/history", response_model=M.EventsHistory, responses=NOT_FOUND)
def get_events_history(
    session_id: SessionId,
    who: CallerDep,
    store: StoreDep,
    tenant: TenantParam = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="events per page (Hive: 500, at most 10000)")] = 500,
    before_offset: Annotated[
        int | None, Query(ge=0, description="a previous page's start_offset; omit for the newest page")
    ] = None,
) -> dict[str, Any]:
    """The session's stored durable events (status records and calls, never deltas), paged as Hive pages
    ``events.jsonl``: newest page first, oldest first within a page."""
    found = found_session(store, who, tenant, session_id)
    return events_page(store, found["tenant"], session_id, limit, before_offset)


@router.get("/api/sessions/{session_id}/tree", response_model=M.SessionTree, responses=NOT_FOUND)
def get_tree(session_id: SessionId, who: CallerDep, store: StoreDep, tenant: TenantParam = None) -> dict[str, Any]:
    """Queen → colonies → workers around this session (S5), each with its health."""
    tree = S.session_tree(store, who.reads(tenant), session_id)
    if tree is None:
        raise HTTPException(404, f"no session {session_id!r}")
    return tree


@router.get("/api/sessions/{session_id}/health", response_model=M.SessionHealthView, responses=NOT_FOUND)
def get_health(session_id: SessionId, who: CallerDep, store: StoreDep, tenant: TenantParam = None) -> dict[str, Any]:
    """Stall score (idle by design apart from stalled by bug), last seen, in-flight workers (S4, S7)."""
    found = found_session(store, who, tenant, session_id)
    children = S.children_health(store, found["tenant"], session_id)
    return {
        **{k: found[k] for k in _HEALTH_FIELDS},
        "last_event_at": found["last_seen_at"],
        "in_flight": S.health_rollup(children),
    }


@router.get("/api/colonies/{colony_id}/workers", response_model=M.ColonyWorkers, responses=ERRORS)
def get_colony_workers(colony_id: ColonyId, who: CallerDep, store: StoreDep, tenant: TenantParam = None) -> dict[str, Any]:
    """Every worker of the colony with its health, and the roll-up (S6)."""
    return S.colony_workers(store, who.reads(tenant), colony_id)
