"""Usage routes: a session's (or its tree's) usage, by model, a colony's, the queens', and the rollup of
every agent; every figure from :func:`hive_otel.collector.queries.usage.usage`, so they equal
``hive-otel usage``."""

# No "from __future__ import annotations": FastAPI reads the route signatures.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hive_otel.collector.api import models as M
from hive_otel.collector.api.routes._common import (
    ERRORS,
    GROUP_BY_DESCRIPTION,
    NOT_FOUND,
    CallerDep,
    ColonyId,
    SessionId,
    StoreDep,
    TenantParam,
    found_session,
    keys,
    parse_iso,
    range_param,
    report,
    time_range,
)
from hive_otel.collector.queries import status as S
from hive_otel.collector.queries.time_range import TimeRange
from hive_otel.collector.queries.usage import GROUP_KEYS

router = APIRouter(tags=["usage"])

_ROLLUP_KEYS = ("user", "tenant", "model", "colony", "provider", "agent_role", "root_session", "tool", "day", "month")
_EVER = TimeRange(None, None)


@router.get("/api/sessions/{session_id}/usage", response_model=M.SessionUsage, responses=NOT_FOUND)
def get_session_usage(
    session_id: SessionId,
    who: CallerDep,
    store: StoreDep,
    tenant: TenantParam = None,
    scope: Annotated[str, Query(pattern="^(session|tree)$", description="tree adds every session under it")] = "session",
) -> dict[str, Any]:
    """Tokens, cost, tool calls and LLM latency of the session (or its whole tree)."""
    found = found_session(store, who, tenant, session_id)
    owner, root = found["tenant"], found["root_session"] or session_id
    if scope == "session" or root == session_id:
        key = "session" if scope == "session" else "root_session"
        totals = report(store, [], _EVER, owner, **{key: session_id}).totals
        latency = S.session_latency(store, owner, session_id, key)
    else:  # below the root: the facts name only a call's root and parent, so its tree is walked
        under = sorted(S.subtree_sessions(store, owner, root, session_id))
        totals = report(store, [], _EVER, owner, root_session=root, session=under).totals
        latency = S.session_latency(store, owner, root, "root_session", sessions=under)
    started, ended = found["started_at"], found["ended_at"] or found["last_seen_at"]
    wall = (parse_iso(ended) - parse_iso(started)).total_seconds() if started and ended else None
    return {
        "session": session_id,
        "scope": scope,
        "usage": totals,
        "latency": latency,
        "wall_clock_s": max(0.0, wall) if wall is not None else None,
    }


@router.get("/api/sessions/{session_id}/usage/by-model", response_model=M.UsageReport, responses=NOT_FOUND)
def get_session_usage_by_model(
    session_id: SessionId, who: CallerDep, store: StoreDep, tenant: TenantParam = None
) -> M.UsageReport:
    """The session's usage split by model (tool calls appear under an empty model)."""
    found = found_session(store, who, tenant, session_id)
    return report(store, ["model"], _EVER, found["tenant"], session=session_id)


@router.get("/api/colonies/{colony_id}/usage", response_model=M.ColonyUsage, responses=ERRORS)
def get_colony_usage(
    colony_id: ColonyId,
    who: CallerDep,
    store: StoreDep,
    tenant: TenantParam = None,
    range_: str = range_param("all"),
    group_by: Annotated[str | None, Query(description=GROUP_BY_DESCRIPTION)] = None,
) -> dict[str, Any]:
    """The colony's usage, optionally grouped."""
    span, grouped = time_range(range_), keys(group_by, GROUP_KEYS)
    return {"colony": colony_id, "report": report(store, grouped, span, who.reads(tenant), colony=colony_id)}


@router.get("/api/agents/queen/usage", response_model=M.UsageReport, responses=ERRORS)
def get_queen_usage(
    who: CallerDep,
    store: StoreDep,
    tenant: TenantParam = None,
    range_: str = range_param("30d"),
    group_by: Annotated[str | None, Query(description=GROUP_BY_DESCRIPTION)] = "day",
) -> M.UsageReport:
    """The queens' own usage (agent role queen) over a range, grouped (billing view)."""
    span, grouped = time_range(range_), keys(group_by, GROUP_KEYS)
    return report(store, grouped, span, who.reads(tenant), agent_role="queen")


@router.get("/api/usage/rollup", response_model=M.UsageReport, responses=ERRORS)
def get_rollup(
    who: CallerDep,
    store: StoreDep,
    tenant: TenantParam = None,
    range_: str = range_param("month"),
    group_by: Annotated[str, Query(description=f"comma-separated: {', '.join(_ROLLUP_KEYS)}")] = "model",
) -> M.UsageReport:
    """Usage of every agent over a range, grouped by user, tenant, model, colony, ... (from the rollups)."""
    span, grouped = time_range(range_), keys(group_by, _ROLLUP_KEYS)
    return report(store, grouped, span, who.reads(tenant))
