"""Hive's own field names for ``GET /api/sessions/{id}`` and ``/stats`` (aden-hive 1.0.12
``framework/server/routes_sessions.py``: ``_session_to_live_dict``, ``handle_get_live_session``,
``ColonyRuntime.get_stats``), computed from a session's stored status.

Where Hive answers from its live process, these answer from what Hive stated in its events and, in
file mode, persisted in the queen session's ``meta.json``; a field Hive never stated is ``None``
(Hive's own fallback phase names are not invented here: a phase is whatever ``queen_phase_changed``
or ``meta.json`` carried).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hive_otel.attributes import ROLE_QUEEN
from hive_otel.collector.queries.hive_sessions import event_counts, latest_model, session_identity
from hive_otel.collector.queries.usage import Queryable

__all__ = ["hive_session_fields", "hive_session_stats"]


def _epoch_ms(iso: str | None) -> int | None:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000) if iso else None


def _entry_point(trigger: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": trigger["trigger_id"],
        "trigger_type": trigger["trigger_type"],
        "next_fire_at": _epoch_ms(trigger["next_fire_at"]) if trigger["state"] == "active" else None,
        "fire_count": trigger["fires_seen"],
        "last_fired_at": _epoch_ms(trigger["last_fired_at"]),
    }


def hive_session_fields(
    store: Queryable, found: dict[str, Any], triggers: list[dict[str, Any]], uptime_s: float | None
) -> dict[str, Any]:
    """Hive's session fields for one ``session_health`` row (``found``) and its triggers."""
    owner, session = found["tenant"], found["session"]
    identity = session_identity(store, owner, session)
    colony = identity["loaded_colony"] or found["colony"] or None
    started_ms = _epoch_ms(found["started_at"])
    return {
        "session_id": session,
        "colony_id": colony,
        "has_worker": colony is not None,
        "loaded_at": started_ms / 1000 if started_ms is not None else None,
        "uptime_seconds": round(uptime_s, 1) if uptime_s is not None else None,
        "queen_phase": found["phase"] or None,
        "queen_id": identity["queen_id"] or found["queen"] or None,
        "queen_name": identity["queen_name"],
        "queen_model": latest_model(store, owner, session) if found["agent_role"] == ROLE_QUEEN else None,
        "colony_spawned": identity["spawned_colony"] is not None,
        "spawned_colony_id": identity["spawned_colony"],
        "entry_points": [_entry_point(t) for t in triggers if t["state"] != "removed"],
    }


def hive_session_stats(
    store: Queryable,
    found: dict[str, Any],
    children: list[dict[str, Any]],
    triggers: list[dict[str, Any]],
    usage: Any,
) -> dict[str, Any]:
    """``ColonyRuntime.get_stats``'s fields for a stored session, with its usage totals."""
    counts = event_counts(store, found["tenant"], found["session"])
    identity = session_identity(store, found["tenant"], found["session"])
    return {
        "session_id": found["session"],
        "running": found["lifecycle"] == "active",
        "colony_id": identity["loaded_colony"] or found["colony"] or None,
        "active_workers": sum(1 for c in children if c["lifecycle"] == "active"),
        "total_workers": len(children),
        "triggers": sum(1 for t in triggers if t["state"] != "removed"),
        "event_bus": {"total_events": sum(counts.values()), "events_by_type": counts},
        "usage": usage,
    }
