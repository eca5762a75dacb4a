"""Status reads (seed §4 S1-S8) over the status tables: the query layer behind the status routes.

Every function takes a :class:`~hive_otel.collector.queries.usage.Queryable` (the store, or the collector
that owns it) and a tenant (``None``: every tenant, for an operator) and returns plain JSON-ready
dicts. The SQL (``sql/*.sql``) reads the status migrations' table and views (``status_events``, ``session_tasks``,
``session_triggers``, ``session_health``), so a SQL client and the API see the same status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from hive_otel.collector.queries.usage import Queryable, one_of
from hive_otel.collector.sql_files import template
from hive_otel.collector.store.transport import sql_string

__all__ = [
    "HEALTH_STATES",
    "MAX_SESSIONS",
    "children_health",
    "colony_workers",
    "health_rollup",
    "phase_history",
    "recent_sessions",
    "session_health",
    "session_latency",
    "session_tasks",
    "session_tree",
    "session_triggers",
    "sessions_health",
    "sessions_under",
    "subtree_sessions",
]

MAX_SESSIONS = 100_000
"""The most sessions one ``hive-otel status`` or ``POST /hive/v1/status`` lists."""

HEALTH_STATES = ("working", "idle", "stalled", "done", "failed")
"""``session_health.health``: idle is by design (awaiting the user, finished its turn), stalled is by bug."""

_HEALTH_COLUMNS = (
    "tenant", "session", "root_session", "parent_session", "queen", "colony", "worker", "agent_role", "user",
    "lifecycle", "phase", "health", "stall_score", "stall_signals", "waiting", "stream_state", "loop_activity",
    "park_reason", "interrupt_cause", "started_at", "ended_at", "last_seen_at", "last_seen_s", "last_heartbeat_at",
    "last_progress_at", "llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cost_usd",
    "cost_estimated_usd", "tool_calls", "tool_errors",
)  # fmt: skip
_INTS = frozenset({"llm_calls", "input_tokens", "output_tokens", "cached_tokens", "tool_calls", "tool_errors"})
_FLOATS = frozenset({"stall_score", "last_seen_s", "cost_usd", "cost_estimated_usd"})
_TIMES = frozenset(
    {"started_at", "ended_at", "last_seen_at", "last_heartbeat_at", "last_progress_at", "at", "created_at",
     "updated_at", "next_fire_at", "last_fired_at"}
)  # fmt: skip


def iso_time(value: Any) -> str | None:
    """``2026-01-15 09:00:00.123456789`` (ClickHouse, UTC) → ``2026-01-15T09:00:00.123456Z``."""
    if value is None or value == "":
        return None
    text = str(value).replace(" ", "T", 1)
    head, dot, fraction = text.partition(".")
    if head.startswith("1970-01-01T00:00:00"):
        return None  # a LEFT JOIN's default: never happened
    return f"{head}.{fraction[:6]}Z" if dot else f"{head}Z"


def _value(name: str, value: Any) -> Any:
    if name in _TIMES:
        return iso_time(value)
    if name in _INTS:
        return int(value or 0)
    if name in _FLOATS:
        return round(float(value or 0), 10)
    if name == "waiting":
        return bool(int(value or 0))
    return value


def _records(columns: list[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [{name: _value(name, v) for name, v in zip(columns, row, strict=True)} for row in rows]


def _where(tenant: str | None, **equal: str) -> str:
    clauses = [f"{column} = {sql_string(value)}" for column, value in equal.items()]
    if tenant is not None:
        clauses.insert(0, f"tenant = {sql_string(tenant)}")
    return " WHERE " + " AND ".join(clauses) if clauses else ""


@runtime_checkable
class AnswersSessions(Protocol):
    """A reader that answers :func:`recent_sessions` itself (the collector that owns the store)."""

    def recent_sessions(self, tenant: str | None, limit: int) -> tuple[list[str], list[list[Any]]]: ...


def recent_sessions(
    store: Queryable | AnswersSessions, tenant: str | None, limit: int = 100
) -> tuple[list[str], list[list[Any]]]:
    """``hive-otel status``: the most recently seen sessions (``sql/sessions.sql``) as columns and rows."""
    if not 1 <= limit <= MAX_SESSIONS:
        raise ValueError(f"limit must be between 1 and {MAX_SESSIONS}")
    if isinstance(store, AnswersSessions):
        return store.recent_sessions(tenant, limit)
    return store.query(template(__package__, "sessions").format(where=_where(tenant), limit=int(limit)), readonly=True)


def sessions_health(store: Queryable, tenant: str | None, where_sql: str, limit: int = 10_000) -> list[dict[str, Any]]:
    """Rows of ``session_health`` matching ``where_sql`` (a WHERE clause built with sql_string)."""
    columns = ", ".join(_HEALTH_COLUMNS)
    sql = template(__package__, "session_health").format(columns=columns, where=where_sql, limit=int(limit))
    return _records(*store.query(sql, readonly=True))


def children_health(store: Queryable, tenant: str, session: str) -> list[dict[str, Any]]:
    """The sessions ``session`` spawned (its workers), each with its health."""
    return sessions_health(store, tenant, _where(tenant, parent_session=session))


def session_health(store: Queryable, tenant: str | None, session: str) -> dict[str, Any] | None:
    """S4 + S7 of one session (the most recently seen, if an operator's id matches several tenants)."""
    rows = sessions_health(store, tenant, _where(tenant, session=session))
    return max(rows, key=lambda r: r["last_seen_at"] or "") if rows else None


def phase_history(store: Queryable, tenant: str, session: str, limit: int = 200) -> list[dict[str, Any]]:
    """S1: the queen's phase changes, oldest first (a phase repeated by a replay is listed once)."""
    sql = template(__package__, "phase_history").format(where=_where(tenant, session=session), limit=int(limit))
    return _records(*store.query(sql, readonly=True))


def session_tasks(store: Queryable, tenant: str, session: str) -> list[dict[str, Any]]:
    """S2: the session's live tasks: id, status, blocks, blocked_by (never the subject)."""
    sql = template(__package__, "session_tasks").format(where=_where(tenant, session=session))
    return _records(*store.query(sql, readonly=True))


def session_triggers(store: Queryable, tenant: str, session: str) -> list[dict[str, Any]]:
    """S8: the session's triggers; ``next_fire_at`` is the next wake Hive announced for an active one."""
    sql = template(__package__, "session_triggers").format(where=_where(tenant, session=session))
    triggers = _records(*store.query(sql, readonly=True))
    for trigger in triggers:
        trigger["fires_seen"] = int(trigger["fires_seen"] or 0)
    return triggers


def next_wake(triggers: list[dict[str, Any]]) -> str | None:
    """The earliest announced next wake among active triggers (ISO strings sort as times)."""
    wakes = [t["next_fire_at"] for t in triggers if t["state"] == "active" and t["next_fire_at"]]
    return min(wakes) if wakes else None


def health_rollup(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """S6: how many sessions are in each health state, and the worst stall score among them."""
    counts = Counter(s["health"] for s in sessions)
    return {
        "total": len(sessions),
        "by_health": {state: counts.get(state, 0) for state in HEALTH_STATES},
        "in_flight": sum(1 for s in sessions if s["lifecycle"] == "active"),
        "max_stall_score": max((s["stall_score"] for s in sessions), default=0.0),
    }


def session_tree(store: Queryable, tenant: str | None, session: str) -> dict[str, Any] | None:
    """S5: the queen session at the root of ``session``'s tree, its colonies and their workers."""
    me = session_health(store, tenant, session)
    if me is None:
        return None
    root = me["root_session"] or me["session"]
    owner = me["tenant"]
    rows = sessions_health(
        store, owner,
        f"{_where(owner)} AND (session = {sql_string(root)} OR root_session = {sql_string(root)} "
        f"OR parent_session = {sql_string(root)})",
    )  # fmt: skip
    queen = next((r for r in rows if r["session"] == root), None) or {"session": root, "agent_role": "queen"}
    colonies: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["session"] != root:
            colonies.setdefault(row["colony"] or "", []).append(row)
    return {
        "root_session": root,
        "queen": queen,
        "colonies": [
            {"colony": colony, "workers": members, "health": health_rollup(members)}
            for colony, members in sorted(colonies.items())
        ],
    }


def colony_workers(store: Queryable, tenant: str | None, colony: str) -> dict[str, Any]:
    """S6: every worker of a colony with its health, and the roll-up."""
    workers = sessions_health(store, tenant, _where(tenant, colony=colony, agent_role="worker"))
    return {"colony": colony, "health": health_rollup(workers), "workers": workers}


def subtree_sessions(store: Queryable, tenant: str, root: str, session: str) -> set[str]:
    """``session`` and every session under it in ``root``'s tree (all of them: no list limit applies)."""
    sql = f"SELECT session, parent_session FROM agent_session_status{_where(tenant, root_session=root)}"
    return sessions_under([(child, parent) for child, parent in store.query(sql, readonly=True)[1]], session)


def sessions_under(parents: Iterable[tuple[str, str]], session: str) -> set[str]:
    """From (session, its parent) pairs: ``session`` and every session under it, at any depth."""
    children: dict[str, list[str]] = {}
    for child, parent in parents:
        children.setdefault(parent, []).append(child)
    found, frontier = {session}, [session]
    while frontier:
        frontier = [child for parent in frontier for child in children.get(parent, ()) if child not in found]
        found.update(frontier)
    return found


def session_latency(
    store: Queryable, tenant: str, session: str, key: str = "session", sessions: Sequence[str] | None = None
) -> dict[str, Any]:
    """LLM call latency (mean, p50, p95, max, in ms) of one session (``key="root_session"``: of its whole
    tree; with ``sessions``, of those sessions of it, none for an empty list, as usage reads one) from the
    current facts."""
    where = _where(tenant, **{key: session})
    if sessions is not None:
        where += f" AND {one_of('session', sessions)}"
    sql = template(__package__, "session_latency").format(where=where)
    columns, rows = store.query(sql, readonly=True)
    record = dict(zip(columns, rows[0], strict=True)) if rows else {}
    if not int(record.get("calls") or 0):
        return {"llm_calls_timed": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "llm_calls_timed": int(record["calls"]),
        "mean_ms": round(float(record["mean"]), 1),
        "p50_ms": float(record["p50"]),
        "p95_ms": float(record["p95"]),
        "max_ms": float(record["max"]),
    }
