"""What an acknowledged OTLP request means for the live streams: ``(category, data)`` items.

Only typed, allowlisted status fields are read (never bodies or content keys), so a stream shows
exactly what the status tables hold. Categories are the seed's SSE filters: ``phase``, ``task``,
``llm_stream`` (stream state changes and finished LLM calls), ``tool``, ``worker``, ``trigger`` and
``health`` (stalls, loop state, input requests, lifecycle, heartbeats); ``quota`` items come from
the quota evaluator instead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from hive_otel import attributes as A

__all__ = ["CATEGORIES", "category_of", "items_from_logs", "items_from_traces"]

CATEGORIES = ("phase", "task", "llm_stream", "tool", "worker", "trigger", "health", "quota")

_CATEGORY_OF_TYPE = {
    "queen_phase_changed": "phase",
    "stream_state_changed": "llm_stream",
    "tool_call_replay_detected": "tool",
    "worker_completed": "worker",
    "worker_failed": "worker",
    "subagent_report": "worker",
    "colony_created": "worker",
    "worker_colony_loaded": "worker",
    "missed_triggers": "trigger",
    **dict.fromkeys(
        (
            "node_stalled", "node_tool_doom_loop", "stream_inactive", "stream_ttft_exceeded", "stream_nudge_sent",
            "node_retry", "escalation_requested", "loop_state_changed", "client_input_requested",
            "client_input_received", "execution_started", "execution_completed", "execution_failed",
            "execution_paused", "execution_resumed", "execution_resurrected", "heartbeat",
        ),
        "health",
    ),
}  # fmt: skip

# Resource keys copied onto every item, under these names.
_RESOURCE_FIELDS = (
    (A.HIVE_SESSION_ID, "session"),
    (A.HIVE_ROOT_SESSION_ID, "root_session"),
    (A.HIVE_PARENT_SESSION_ID, "parent_session"),
    (A.HIVE_COLONY_ID, "colony"),
    (A.HIVE_WORKER_ID, "worker"),
    (A.HIVE_AGENT_ROLE, "role"),
)
# Log record keys copied when present.
_LOG_FIELDS = (
    (A.HIVE_QUEEN_PHASE, "phase"),
    (A.HIVE_STATUS, "status"),
    (A.HIVE_STREAM_ID, "stream"),
    (A.HIVE_NODE_ID, "node"),
    (A.HIVE_TASK_ID, "task_id"),
    (A.HIVE_TASK_STATUS, "task_status"),
    (A.HIVE_TASK_BLOCKS, "blocks"),
    (A.HIVE_TASK_BLOCKED_BY, "blocked_by"),
    (A.HIVE_TRIGGER_ID, "trigger_id"),
    (A.HIVE_TRIGGER_TYPE, "trigger_type"),
    (A.HIVE_LOOP_PARK_REASON, "park_reason"),
    (A.HIVE_LOOP_INTERRUPT_CAUSE, "interrupt_cause"),
)


def category_of(event_type: str) -> str | None:
    if event_type.startswith("task_"):
        return "task"
    if event_type.startswith("trigger_"):
        return "trigger"
    return _CATEGORY_OF_TYPE.get(event_type)


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind in ("kvlist_value", "bytes_value") or kind is None:
        return None
    return getattr(v, kind)


def _attributes(kvs: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _iso(time_ns: int) -> str:
    moment = datetime.fromtimestamp(time_ns // 1_000_000_000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{time_ns % 1_000_000_000 // 1000:06d}Z"


def _identity(resource: dict[str, Any]) -> dict[str, Any]:
    return {name: resource[key] for key, name in _RESOURCE_FIELDS if resource.get(key)}


def items_from_logs(request: Any) -> list[tuple[str, dict[str, Any]]]:
    """Status log records of an ``ExportLogsServiceRequest`` as stream items."""
    items = []
    for resource_logs in request.resource_logs:
        identity: dict[str, Any] | None = None
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attrs = _attributes(record.attributes)
                event_type = attrs.get(A.HIVE_EVENT_TYPE)
                category = category_of(event_type) if isinstance(event_type, str) else None
                if category is None:
                    continue
                if identity is None:
                    identity = _identity(_attributes(resource_logs.resource.attributes))
                if not identity.get("session"):
                    continue
                data: dict[str, Any] = {"type": event_type, **identity}
                data["at"] = _iso(record.time_unix_nano or record.observed_time_unix_nano)
                data.update((name, attrs[key]) for key, name in _LOG_FIELDS if attrs.get(key) not in (None, ""))
                next_fire = attrs.get(A.HIVE_TRIGGER_NEXT_FIRE_AT)
                if isinstance(next_fire, int) and next_fire > 0:
                    data["next_fire_at"] = _iso(next_fire * 1_000_000)
                items.append((category, data))
    return items


def items_from_traces(request: Any) -> list[tuple[str, dict[str, Any]]]:
    """Finished LLM calls (``llm_stream``) and tool calls (``tool``) of an ``ExportTraceServiceRequest``."""
    items = []
    for resource_spans in request.resource_spans:
        identity: dict[str, Any] | None = None
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = _attributes(span.attributes)
                operation = attrs.get(A.GEN_AI_OPERATION_NAME)
                if operation not in A.MODEL_OPERATIONS and operation != A.OP_EXECUTE_TOOL:
                    continue
                if identity is None:
                    identity = _identity(_attributes(resource_spans.resource.attributes))
                if not identity.get("session"):
                    continue
                data: dict[str, Any] = {**identity, "at": _iso(span.end_time_unix_nano or span.start_time_unix_nano)}
                if operation in A.MODEL_OPERATIONS:
                    data.update(
                        type="llm_call",
                        model=attrs.get(A.GEN_AI_RESPONSE_MODEL) or attrs.get(A.GEN_AI_REQUEST_MODEL) or "",
                        input_tokens=int(attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS) or 0),
                        output_tokens=int(attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS) or 0),
                        cost_usd=float(attrs.get(A.HIVE_COST_USD) or 0.0),
                        latency_ms=int(attrs.get(A.HIVE_LATENCY_MS) or 0),
                    )
                    items.append(("llm_stream", data))
                else:
                    data.update(
                        type="tool_call",
                        tool=attrs.get(A.GEN_AI_TOOL_NAME) or "",
                        is_error=bool(attrs.get(A.HIVE_TOOL_IS_ERROR)),
                        latency_ms=int(attrs.get(A.HIVE_LATENCY_MS) or 0),
                    )
                    items.append(("tool", data))
    return items


def sse_message(event_id: str, category: str, data: dict[str, Any]) -> str:
    """One SSE message: ``id``, ``event`` (the category) and the JSON ``data``."""
    return f"id: {event_id}\nevent: {category}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
