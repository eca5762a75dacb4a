"""Reads behind Hive's own session routes (aden-hive 1.0.12 ``framework/server/routes_sessions.py``).

``GET /api/sessions/{id}`` answers with Hive's field names next to ours; ``/stats`` and
``/events/history`` exist with Hive's shapes. Everything comes from what the store holds:

- identity (queen id and name, the colony loaded or spawned) from ``session_identity``, which folds
  Hive's ``queen_identity_selected``, ``worker_colony_loaded`` and ``colony_created`` records and, in
  file mode, the queen session's ``meta.json`` (``hive.queen_session_meta``), the newer winning;
- the queen's model from the session's latest LLM call in ``usage_facts``;
- history from the durable records: the status log records in ``otel_logs`` (Hive's bus events as
  the policy let them out; hive-otel's own heartbeats and stream-state changes are not Hive's events
  and are left out; per-token deltas never leave the client) and one ``llm_turn_complete`` or
  ``tool_call_completed`` per call in ``usage_facts FINAL``. A record re-sent by a replay is listed
  once.

The SQL is in ``sql/hive_session_*.sql`` beside this module.
Every function takes the owning tenant: the caller has already resolved it from the session.
"""

from __future__ import annotations

from typing import Any

from hive_otel.attributes import HiveOtelEvent
from hive_otel.collector.queries.status import iso_time
from hive_otel.collector.queries.usage import Queryable
from hive_otel.collector.sql_files import template
from hive_otel.collector.store.transport import sql_string

__all__ = ["event_counts", "events_page", "latest_model", "session_identity"]

# hive-otel's own heartbeats and stream-state changes are not Hive's events (left out of the history).
_OWN_EVENTS = ", ".join(sql_string(f"hive.{e.value}") for e in HiveOtelEvent)


def session_identity(store: Queryable, tenant: str, session: str) -> dict[str, str | None]:
    """The latest queen id and name, loaded colony and spawned colony Hive stated for the session."""
    sql = template(__package__, "hive_session_identity").format(tenant=sql_string(tenant), session=sql_string(session))
    _, rows = store.query(sql, readonly=True)
    values = rows[0] if rows else ["", "", "", ""]
    names = ("queen_id", "queen_name", "loaded_colony", "spawned_colony")
    return {name: (value or None) for name, value in zip(names, values, strict=True)}


def latest_model(store: Queryable, tenant: str, session: str) -> str | None:
    """The model of the session's most recent LLM call (what Hive reports as the queen's model)."""
    sql = template(__package__, "hive_session_model").format(tenant=sql_string(tenant), session=sql_string(session))
    _, rows = store.query(sql, readonly=True)
    return (rows[0][0] or None) if rows else None


def _events_sql(tenant: str, session: str) -> str:
    """One row per durable event of the session: (at, type, event_seq, stream, node, execution, data)."""
    return template(__package__, "hive_session_events").format(
        tenant=sql_string(tenant), session=sql_string(session), own_events=_OWN_EVENTS
    )


def event_counts(store: Queryable, tenant: str, session: str) -> dict[str, int]:
    """How many durable events of each type the session has (Hive's ``event_bus.events_by_type``)."""
    sql = template(__package__, "hive_session_event_counts").format(events=_events_sql(tenant, session))
    _, rows = store.query(sql, readonly=True)
    return {str(event_type): int(count) for event_type, count in rows}


def events_page(store: Queryable, tenant: str, session: str, limit: int, before: int | None) -> dict[str, Any]:
    """Hive's backward paging: the ``limit`` events just before position ``before`` (default: the end),
    oldest first. Positions count the session's events oldest first from 0, so a page's ``start_offset``
    is the cursor of the next older page and 0 means none is left. ``seq`` is the 1-based position,
    as Hive rewrites it; Hive's own sequence number stays in ``event_seq``."""
    events = _events_sql(tenant, session)
    _, counted = store.query(template(__package__, "hive_session_event_total").format(events=events), readonly=True)
    total = int(counted[0][0]) if counted else 0
    end = total if before is None else max(0, min(before, total))
    start = max(0, end - limit)
    sql = template(__package__, "hive_session_events_page").format(events=events, limit=end - start, offset=start)
    _, rows = store.query(sql, readonly=True) if end > start else ([], [])
    page = [_event(start + i + 1, row) for i, row in enumerate(rows)]
    return {
        "events": page,
        "session_id": session,
        "total": total,
        "returned": len(page),
        "truncated": total > len(page),
        "limit": limit,
        "start_index": start + 1 if page else 1,
        "start_offset": start,
        "has_more_older": start > 0,
    }


def _event(index: int, row: list[Any]) -> dict[str, Any]:
    at, event_type, event_seq, stream, node, execution, data = row
    return {
        "type": event_type,
        "stream_id": stream or None,
        "node_id": node or None,
        "execution_id": execution or None,
        "data": dict(data or {}),
        "timestamp": iso_time(at),
        "seq": index,
        "event_seq": int(event_seq) if event_seq is not None else None,
    }
