"""S3, the live streaming indicator, and S7, the heartbeat: two log records hive-otel makes itself.

Hive streams an LLM's output as one event per token chunk; those never leave the machine (seed §8.1).
What a UI needs from them is only what each stream is doing now: thinking, typing, calling a tool,
or idle. :class:`StreamStates` folds deltas and tool events into one state per (session, stream) and
says when it changes, so the mapper emits a ``hive.stream_state_changed`` record per change: a turn
of a thousand deltas costs two or three records, never one per token.

A heartbeat (``hive.heartbeat``) is a bare record per live session: the collector computes "last
seen N s ago" from it, because the absence of events cannot tell an idle agent from a dead one.
"""

from __future__ import annotations

from hive_otel import attributes as A
from hive_otel.client.mapping.status import SEVERITY_INFO
from hive_otel.client.mapping.telemetry import Attributes, LogRecord, Resource

__all__ = ["StreamStates", "heartbeat_log", "stream_state_log"]

_IDLE = A.StreamState.IDLE.value
_THINKING = A.StreamState.THINKING.value
_TYPING = A.StreamState.TYPING.value
_TOOL_CALLING = A.StreamState.TOOL_CALLING.value

# Streamed output (live deltas, or the one coalesced line per turn Hive writes to events.jsonl).
_STATE_OF_OUTPUT = {
    "llm_reasoning_delta": _THINKING,
    "client_reasoning": _THINKING,
    "llm_text_delta": _TYPING,
    "client_output_delta": _TYPING,
}
# Events after which a stream is not producing anything until its next turn.
_ENDS_OUTPUT = frozenset(
    {
        "llm_turn_complete",
        "node_loop_completed",
        "execution_completed",
        "execution_failed",
        "execution_paused",
        "loop_state_changed",
        "client_input_requested",
        "worker_completed",
        "worker_failed",
    }
)

_STREAM_STATE_EVENT = A.HiveOtelEvent.STREAM_STATE_CHANGED.value
_STREAM_STATE_NAME = f"hive.{_STREAM_STATE_EVENT}"
_HEARTBEAT_NAME = f"hive.{A.HiveOtelEvent.HEARTBEAT.value}"


class StreamStates:
    """The current state of every stream that is not idle, and the tool calls it has open."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, str], str] = {}
        self._open_tools: dict[tuple[str, str], int] = {}

    def change(self, key: tuple[str, str], event_type: str) -> str | None:
        """The new state of stream ``key`` when ``event_type`` changes it, else None."""
        state = _STATE_OF_OUTPUT.get(event_type)
        if state is None:
            if event_type == "tool_call_started":
                self._open_tools[key] = self._open_tools.get(key, 0) + 1
                state = _TOOL_CALLING
            elif event_type == "tool_call_completed":
                still_open = self._open_tools.pop(key, 1) - 1
                if still_open > 0:
                    self._open_tools[key] = still_open
                state = _TOOL_CALLING if still_open > 0 else _IDLE
            elif event_type in _ENDS_OUTPUT:
                self._open_tools.pop(key, None)
                state = _IDLE
            else:
                return None
        if self._state.get(key, _IDLE) == state:
            return None
        if state == _IDLE:
            del self._state[key]  # idle streams are not kept: the map holds only busy ones
        else:
            self._state[key] = state
        return state


def stream_state_log(
    resource: Resource,
    time_ns: int,
    state: str,
    stream_id: str,
    node_id: str,
    execution_id: str,
    trace_id: bytes,
    span_id: bytes,
) -> LogRecord:
    # One of these per change of every stream (most of a backfill's log records): built inline.
    attrs: Attributes = {A.HIVE_EVENT_TYPE: _STREAM_STATE_EVENT, A.HIVE_STATUS: state}
    if stream_id:
        attrs[A.HIVE_STREAM_ID] = stream_id
    if node_id:
        attrs[A.HIVE_NODE_ID] = node_id
    if execution_id:
        attrs[A.HIVE_EXECUTION_ID] = execution_id
    return LogRecord(resource, time_ns, _STREAM_STATE_NAME, SEVERITY_INFO, "INFO", attrs, None, trace_id, span_id)


def heartbeat_log(resource: Resource, time_ns: int, trace_id: bytes, span_id: bytes) -> LogRecord:
    attrs: Attributes = {A.HIVE_EVENT_TYPE: A.HiveOtelEvent.HEARTBEAT.value}
    return LogRecord(resource, time_ns, _HEARTBEAT_NAME, SEVERITY_INFO, "INFO", attrs, None, trace_id, span_id)
