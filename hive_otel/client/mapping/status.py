"""Status events → OpenTelemetry log records (pure functions).

Every bus event that is not a call or a lifecycle span becomes one log record named
``hive.<event_type>``, carrying only typed, safe fields pulled out of its data. Free text (reasons,
errors, reports) goes under private keys that the default redaction policy drops.
"""

from __future__ import annotations

import json
from typing import Any

from hive_otel import attributes as A
from hive_otel.client.mapping.numbers import is_int64, text
from hive_otel.client.mapping.telemetry import Attributes, LogRecord, Resource

SEVERITY_INFO, SEVERITY_WARN, SEVERITY_ERROR = 9, 13, 17

# Every EventType value of aden-hive 1.0.12 (framework.host.event_bus.EventType). Anything else is
# passed through as a counted ``hive.unknown_event`` record rather than dropped or crashed on.
KNOWN_EVENT_TYPES = frozenset(
    {
        "execution_started", "execution_completed", "execution_failed", "execution_paused",
        "execution_resumed", "payment_required", "state_changed", "state_conflict", "goal_progress",
        "goal_achieved", "constraint_violation", "stream_started", "stream_stopped", "node_loop_started",
        "node_loop_iteration", "node_loop_completed", "llm_text_delta", "llm_reasoning_delta",
        "llm_turn_complete", "tool_call_started", "tool_call_completed", "client_output_delta",
        "client_reasoning", "client_input_requested", "client_input_received", "client_input_committed",
        "client_credential_form_requested", "colony_suggestion_requested", "node_internal_output",
        "node_input_blocked", "node_stalled", "node_tool_doom_loop", "judge_verdict", "node_retry",
        "stream_ttft_exceeded", "stream_inactive", "stream_nudge_sent", "loop_state_changed",
        "reminder_injected", "tool_call_replay_detected", "worker_completed", "worker_failed",
        "context_compaction_started", "context_compacted", "context_usage_updated", "webhook_received",
        "custom", "escalation_requested", "execution_resurrected", "worker_colony_loaded", "colony_created",
        "credentials_required", "session_forked", "session_title_updated", "queen_phase_changed",
        "queen_identity_selected", "subagent_report", "trigger_available", "trigger_activated",
        "trigger_deactivated", "trigger_fired", "trigger_removed", "trigger_updated", "missed_triggers",
        "task_created", "task_updated", "task_deleted", "task_list_reset", "task_list_reattach_mismatch",
        "session_snapshot", "credential_provider_connected", "credential_provider_disconnected",
        "tool_catalog_refreshed", "tools_config_changed", "crm_changed",
    }
)

# Per-token streams (seed §8.1) and conversation text: never exported, never persisted.
DROPPED_EVENT_TYPES = frozenset(
    {"llm_text_delta", "llm_reasoning_delta", "client_output_delta", "client_reasoning"}
)

_ERROR_TYPES = frozenset({"execution_failed", "worker_failed", "payment_required", "constraint_violation"})
_WARN_TYPES = frozenset(
    {
        "node_stalled",
        "node_tool_doom_loop",
        "stream_inactive",
        "stream_ttft_exceeded",
        "node_retry",
        "tool_call_replay_detected",
        "escalation_requested",
        "state_conflict",
        "credentials_required",
    }
)
# Free-text fields that may carry user content or errors: exported only under private keys.
_FREE_TEXT_KEYS = ("error", "reason", "description", "message")


def severity_for(event_type: str) -> tuple[int, str]:
    if event_type in _ERROR_TYPES:
        return SEVERITY_ERROR, "ERROR"
    if event_type in _WARN_TYPES:
        return SEVERITY_WARN, "WARN"
    return SEVERITY_INFO, "INFO"


def _id(value: Any) -> str | None:
    """A task or trigger id: Hive's task ids are ints, the workload's and triggers' strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def _ids(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    ids = [i for i in map(_id, value) if i is not None]
    return ids or None


def _epoch_ms(value: Any) -> int | None:
    """Hive's ``next_fire_at`` is epoch milliseconds; a value that reads as seconds is scaled."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value * 1000) if value < 100_000_000_000 else int(value)


def _task_attributes(data: dict[str, Any], attrs: Attributes) -> None:
    # Subject, description and active form are the user's words: never exported. Ids, status and
    # the dependency edges are what the right rail needs.
    task = data.get("task") or data.get("after") or {}
    if not isinstance(task, dict):
        task = {}
    task_id = _id(data.get("task_id")) or _id(task.get("id"))
    if task_id:
        attrs[A.HIVE_TASK_ID] = task_id
    if text(task.get("status")):
        attrs[A.HIVE_TASK_STATUS] = task["status"]
    for key, attr in (("blocks", A.HIVE_TASK_BLOCKS), ("blocked_by", A.HIVE_TASK_BLOCKED_BY)):
        ids = _ids(task.get(key))
        if ids:
            attrs[attr] = ids


def _trigger_attributes(data: dict[str, Any], attrs: Attributes) -> None:
    # The trigger's name and task are free text; its id, type and next wake are schedule facts.
    trigger_id = _id(data.get("trigger_id")) or _id(data.get("id"))
    if trigger_id:
        attrs[A.HIVE_TRIGGER_ID] = trigger_id
    if text(data.get("trigger_type")):
        attrs[A.HIVE_TRIGGER_TYPE] = data["trigger_type"]
    config = data.get("trigger_config")
    next_fire = _epoch_ms(data.get("next_fire_at"))
    if next_fire is None and isinstance(config, dict):
        next_fire = _epoch_ms(config.get("next_fire_at"))
    if next_fire is not None:
        attrs[A.HIVE_TRIGGER_NEXT_FIRE_AT] = next_fire


# Hive's own statements of a session's identity (GET /api/sessions/{id} in framework/server/routes_sessions.py):
# queen_identity_selected names the queen, worker_colony_loaded the colony a queen session loaded,
# colony_created (published on the source session's bus) the colony it spawned.
_IDENTITY_FIELDS = {
    "queen_identity_selected": (("queen_id", A.HIVE_QUEEN_ID), ("name", A.HIVE_QUEEN_NAME)),
    "worker_colony_loaded": (("colony_id", A.HIVE_COLONY_ID),),
    # ... and the session Hive made: a colony's queen session, a fork (the spawn chain, live)
    "colony_created": (("colony_id", A.HIVE_COLONY_ID), ("queen_session_id", A.HIVE_CHILD_SESSION_ID)),
    "session_forked": (("new_session_id", A.HIVE_CHILD_SESSION_ID),),
}


def status_attributes(event_type: str, data: dict[str, Any], include_content: bool) -> Attributes:
    """The safe, typed fields of one event's data (free text only when the policy lets content out)."""
    attrs: Attributes = {}
    if event_type == "queen_phase_changed":
        phase = text(data.get("phase"))
        if phase:
            attrs[A.HIVE_QUEEN_PHASE] = phase
    elif event_type.startswith("task_"):
        _task_attributes(data, attrs)
    elif event_type.startswith("trigger_"):
        _trigger_attributes(data, attrs)
    elif event_type in ("worker_completed", "worker_failed"):
        worker_id = text(data.get("worker_id"))
        if worker_id:
            attrs[A.HIVE_WORKER_ID] = worker_id
        success = data.get("success")
        attrs[A.HIVE_STATUS] = "failed" if event_type == "worker_failed" or success is False else "completed"
    elif event_type in _IDENTITY_FIELDS:  # which queen runs the session, which colony it loaded or spawned
        for key, attr in _IDENTITY_FIELDS[event_type]:
            value = text(data.get(key))
            if value:
                attrs[attr] = value
    elif event_type == "loop_state_changed":
        for key, attr in (
            ("activity", A.HIVE_STATUS),
            ("park_reason", A.HIVE_LOOP_PARK_REASON),
            ("interrupt_cause", A.HIVE_LOOP_INTERRUPT_CAUSE),
        ):
            value = text(data.get(key))
            if value:
                attrs[attr] = value
    for key in _FREE_TEXT_KEYS if include_content else ():
        message = text(data.get(key))
        if message:
            attrs[A.HIVE_ERROR_MESSAGE] = message
            break
    return attrs


# What a queen session's meta.json states that is identity or status (never its title, tools or
# channel): the phase QueenPhaseState persists, the queen, the colony _start_queen bound it to, and
# the colony persist_colony_spawn_lock recorded (aden-hive 1.0.12 framework/server).
_META_FIELDS = (
    ("phase", A.HIVE_QUEEN_PHASE),
    ("queen_id", A.HIVE_QUEEN_ID),
    ("colony_id", A.HIVE_COLONY_ID),
    ("spawned_colony_id", A.HIVE_SPAWNED_COLONY_ID),
)
_META_EVENT = A.HiveOtelEvent.QUEEN_SESSION_META.value


def queen_session_meta_log(
    meta: dict[str, Any], resource: Resource, time_ns: int, trace_id: bytes, span_id: bytes
) -> LogRecord:
    """A queen session's ``meta.json`` as one ``hive.queen_session_meta`` record dated ``time_ns``
    (its mtime): the store folds it like the events stating the same fields, the newer winning."""
    attrs: Attributes = {A.HIVE_EVENT_TYPE: _META_EVENT}
    for key, attr in _META_FIELDS:
        value = text(meta.get(key))
        if value:
            attrs[attr] = value
    return LogRecord(resource, time_ns, f"hive.{_META_EVENT}", SEVERITY_INFO, "INFO", attrs, None, trace_id, span_id)


_ID_FIELDS = (
    ("stream_id", A.HIVE_STREAM_ID),
    ("node_id", A.HIVE_NODE_ID),
    ("execution_id", A.HIVE_EXECUTION_ID),
    ("run_id", A.HIVE_RUN_ID),
)
# event type -> (event name, severity number, severity text), the same for every event of a type.
_log_names: dict[str, tuple[str, int, str]] = {}
_LOG_NAMES_LIMIT = 4096


def _log_name(event_type: str) -> tuple[str, int, str]:
    named = _log_names.get(event_type)
    if named is None:
        named = (f"hive.{event_type}" if event_type else "hive.unknown", *severity_for(event_type))
        if len(_log_names) >= _LOG_NAMES_LIMIT:
            _log_names.clear()
        _log_names[event_type] = named
    return named


def status_log(
    event: dict[str, Any],
    resource: Resource,
    time_ns: int,
    trace_id: bytes,
    span_id: bytes,
    include_content: bool,
) -> LogRecord:
    """One bus event as a log record; unknown types keep their raw data under a private key."""
    event_type = event.get("type")
    if type(event_type) is not str:
        event_type = ""  # an object or a number is no event type: an unknown one, with nothing of it sent
    data = event.get("data")
    if not isinstance(data, dict):
        data = {}
    known = event_type in KNOWN_EVENT_TYPES
    attrs: Attributes = {A.HIVE_EVENT_TYPE: event_type}
    seq = event.get("seq")
    if is_int64(seq):  # past an int64 the record could not be encoded, and was dropped
        attrs[A.HIVE_EVENT_SEQ] = seq
    for key, attr in _ID_FIELDS:
        value = event.get(key)
        if isinstance(value, str) and value:
            attrs[attr] = value
    if known:
        attrs.update(status_attributes(event_type, data, include_content))
    else:
        attrs[A.HIVE_UNKNOWN_EVENT] = True
    if include_content and data and (not known or event_type == "custom"):
        attrs[A.HIVE_EVENT_DATA] = json.dumps(data, default=str, sort_keys=True)
    event_name, severity, severity_text = _log_name(event_type)
    return LogRecord(resource, time_ns, event_name, severity, severity_text, attrs, None, trace_id, span_id)
