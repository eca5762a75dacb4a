"""Bus events (``AgentEvent.to_dict()``: live, from ``events.jsonl`` or ``event_logs/*.jsonl``) → spans and log records.

The span tree of one session, in the session's derived trace:

    invoke_agent <queen|worker>            session span, when Hive says the session is over
      └─ hive.execution                    EXECUTION_STARTED … COMPLETED/FAILED
           └─ hive.node <node_id>          NODE_LOOP_STARTED … NODE_LOOP_COMPLETED
                ├─ chat <model>            one per LLM call (llm_turn_complete ⨝ L3 step)
                └─ execute_tool <tool>     one per tool call (tool_call_* ⨝ L3 tool_calls)

Whose event it is and when is worked out once per event into an :class:`EventContext`, which each
handler of :data:`_LIFECYCLE` (event type → handler) receives. Every other event becomes a status
log record; a streaming delta is dropped but for the moment its turn started (the LLM span's start)
and the stream state it changes. Calls' text and arguments never become log records.

HIVE_DEBUG_EVENTS dumps (``event_logs/*.jsonl``) repeat the per-session files without saying which
session an event belongs to, so they yield status log records only, never calls or spans: counting
their calls would count every call twice. Worker sessions link to the queen session that spawned
them. Only the small state a stream needs is kept (open executions and nodes, turn starts, tool
calls started); no clock, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from hive_otel import attributes as A
from hive_otel.client.mapping.calls import SOURCE_EVENT, LlmCall, ToolCall, llm_call_span, tool_call_span
from hive_otel.client.mapping.context import context_for_stream, with_colony
from hive_otel.client.mapping.ids import (
    derive_span_id,
    llm_call_key,
    log_ids,
    session_span_id,
    session_trace_id,
    tool_call_key,
)
from hive_otel.client.mapping.numbers import float_or, int_or_zero, tool_name
from hive_otel.client.mapping.sessions import Session, linked_to_session
from hive_otel.client.mapping.state import MappingState
from hive_otel.client.mapping.status import DROPPED_EVENT_TYPES, KNOWN_EVENT_TYPES, status_log
from hive_otel.client.mapping.stream_state import StreamStates, stream_state_log
from hive_otel.client.mapping.telemetry import Attributes, LogRecord, Resource, SpanKind, SpanRecord, StatusCode, Telemetry
from hive_otel.client.mapping.timestamps import run_id_time_ns, to_unix_ns
from hive_otel.client.sources.layout import with_lineage
from hive_otel.client.sources.records import EVENT_LOG_SESSION_PREFIX, HiveRecord, SessionContext

__all__ = ["BusEventMapper", "EventContext"]

# Hive's own word that a session is over (with an L1 summary's end): its invoke_agent span is emitted then.
_DONE_EVENTS = frozenset({"worker_completed", "worker_failed", "execution_completed", "execution_failed"})
_FAILED_EVENTS = frozenset({"execution_failed", "worker_failed"})
_CALL_EVENTS = frozenset({"llm_turn_complete", "tool_call_started", "tool_call_completed"})  # spans, not logs
_LINEAGE_EVENTS = frozenset({"colony_created", "session_forked"})
# framework.server.session_manager._generate_session_id: a queen session's id, also her execution id.
_QUEEN_SESSION_ID = re.compile(r"session_\d{8}_\d{6}_[0-9a-f]{8}")


class EventContext(NamedTuple):
    """Where and when one bus event happened: read once per event, passed to each handler."""

    session_id: str  # the session the event is attributed to (a worker's, an ancestor's), not always its file's
    stream_id: str
    node_id: str
    execution_id: str
    time_ns: int
    resource: Resource  # the session's, as known when the event arrived


@dataclass(slots=True)
class _Open:
    span_id: bytes
    start_ns: int
    name: str


class BusEventMapper:
    """Maps the bus events of every session; see the module docstring for the tree it builds."""

    def __init__(self, state: MappingState) -> None:
        self._state = state
        self._executions: dict[tuple[str, str], _Open] = {}
        self._nodes: dict[tuple[str, str, str], _Open] = {}
        self._turn_start: dict[tuple[str, str, str], int] = {}
        self._tool_starts: dict[tuple[str, str], ToolCall] = {}
        self._streams = StreamStates()
        self._parents: dict[str, str] = {}  # child -> parent session, from colony_created / session_forked

    def map_into(self, record: HiveRecord, now_ns: int, out: Telemetry) -> None:
        """Map one event, appending to ``out`` (the pipeline's pending batch: no Telemetry per event)."""
        event, file_context = record.data, record.context
        event_type = event.get("type")
        if not isinstance(event_type, str):
            self._state.counters["unusable_records"] += 1
            return
        stream_id, node_id, exec_id = event.get("stream_id"), event.get("node_id"), event.get("execution_id")
        place = (  # (stream, node, execution): "" where the event has none (inline: once per event)
            stream_id if isinstance(stream_id, str) else "",
            node_id if isinstance(node_id, str) else "",
            exec_id if isinstance(exec_id, str) else "",
        )
        stream_key = (file_context.session_id, place[0])
        if event_type in DROPPED_EVENT_TYPES:
            # Only the moment the turn started streaming survives, as the LLM span's start time; so
            # only the turn's first delta needs its time read.
            time_ns = None  # a later delta's time is read only if the delta changes the stream's state
            if place not in self._turn_start:
                time_ns = self._turn_start[place] = _event_time(event, file_context, now_ns)
            self._state.counters["deltas_dropped"] += 1
            state = self._streams.change(stream_key, event_type)
            if state is not None:  # the first delta of a run: the stream started thinking or typing
                ctx = self._context(event, file_context, place, now_ns, time_ns)[1]
                out.logs.append(self._stream_state_log(state, ctx))
            return

        session, ctx = self._context(event, file_context, place, now_ns)
        data = event.get("data")
        if not isinstance(data, dict):
            data = {}
        if event_type not in KNOWN_EVENT_TYPES:
            self._state.counters["unknown_event_types"] += 1
        handler = _LIFECYCLE.get(event_type)
        if handler is not None and not ctx.session_id.startswith(EVENT_LOG_SESSION_PREFIX):
            span = handler(self, ctx, event, data)
            if span is not None:
                out.spans.append(span)
        if event_type in _FAILED_EVENTS:
            session.failed = True
        if event_type in _DONE_EVENTS:
            out.spans.append(self._state.sessions.end(ctx.session_id, session, ctx.time_ns))
        elif event_type in _LINEAGE_EVENTS:
            self._learn_lineage(ctx.session_id, data)
        state = self._streams.change(stream_key, event_type)
        if state is not None:
            out.logs.append(self._stream_state_log(state, ctx))
        if event_type not in _CALL_EVENTS:
            trace_id, span_id = log_ids(ctx.session_id)
            out.logs.append(status_log(event, ctx.resource, ctx.time_ns, trace_id, span_id, self._state.include_content))

    # ------------------------------------------------------------------ whose event, and its place
    def _context(
        self,
        event: dict[str, Any],
        file_context: SessionContext,
        place: tuple[str, str, str],
        now_ns: int,
        time_ns: int | None = None,
    ) -> tuple[Session, EventContext]:
        """The session the event is attributed to (touched at the event's time, ``time_ns`` when
        already read) and the event's context."""
        stream_id, node_id, exec_id = place
        if time_ns is None:
            time_ns = _event_time(event, file_context, now_ns)
        context = self._attributed(file_context, stream_id, exec_id, event.get("colony_id"))
        session = self._state.sessions.touch(context, time_ns)
        return session, EventContext(context.session_id, stream_id, node_id, exec_id, time_ns, session.resource)

    def _attributed(self, file_context: SessionContext, stream_id: str, exec_id: str, colony: object) -> SessionContext:
        """Whose event this is. A worker stream is the worker's; a line a fork or a colony copied from
        an ancestor (a queen's execution id is her session id, so it names the session that wrote it)
        stays its origin's, with the same ids wherever it is read; a graph agent's run is the session
        its execution id names."""
        context = context_for_stream(file_context, stream_id)
        if context is file_context and exec_id and exec_id != file_context.session_id:
            if file_context.agent_role == A.ROLE_AGENT:
                context = _graph_run_context(exec_id)
            elif exec_id in file_context.lineage:
                context = _origin_context(file_context, exec_id)
            elif file_context.agent_role == A.ROLE_QUEEN and _QUEEN_SESSION_ID.fullmatch(exec_id):
                # Copied, but read before the copy's meta.json names its origin (live): fork_session_dir
                # writes events.jsonl first and meta.json last; create-colony copies the origin's
                # meta.json and rewrites it after. Keyed by its own session, the copied call would
                # be a second call; its origin's ancestors come from what is known of the origin.
                context = self._state.sessions.known_context(_unlisted_origin_context(file_context, exec_id))
        context = with_colony(context, colony)
        if self._parents and (context.lineage[-1] if context.lineage else context.session_id) in self._parents:
            context = self._with_learned_lineage(context)
        return context

    def _learn_lineage(self, sid: str, data: dict[str, Any]) -> None:
        """colony_created and session_forked name a child of ``sid`` before its meta.json is read (live)."""
        child = data.get("queen_session_id") or data.get("new_session_id")
        if isinstance(child, str) and child and child != sid:
            self._parents.setdefault(child, sid)

    def _with_learned_lineage(self, context: SessionContext) -> SessionContext:
        parents = self._parents
        if context.parent_session_id:
            parents = {**parents, context.session_id: context.parent_session_id}
        return with_lineage(context, parents)

    def _parent_span(self, ctx: EventContext) -> bytes:
        """The innermost open span the event happened in: its node, else its execution, else the session.
        A call's parent only: what is open depends on which copy of a line was read first (see log_ids)."""
        node = self._nodes.get((ctx.session_id, ctx.execution_id, ctx.node_id))
        if node is not None:
            return node.span_id
        execution = self._executions.get((ctx.session_id, ctx.execution_id))
        if execution is not None:
            return execution.span_id
        return session_span_id(ctx.session_id)

    @staticmethod
    def _stream_state_log(state: str, ctx: EventContext) -> LogRecord:
        trace_id, span_id = log_ids(ctx.session_id)
        return stream_state_log(
            ctx.resource, ctx.time_ns, state, ctx.stream_id, ctx.node_id, ctx.execution_id, trace_id, span_id
        )

    # ------------------------------------------------------------------ executions and nodes
    def _execution_started(self, ctx: EventContext, event: dict[str, Any], data: dict[str, Any]) -> None:
        sid, exec_id = ctx.session_id, ctx.execution_id
        span_id = derive_span_id("execution", sid, exec_id, event.get("seq"), event.get("timestamp"))
        self._executions[(sid, exec_id)] = _Open(span_id, ctx.time_ns, "hive.execution")

    def _execution_ended(self, ctx: EventContext, event: dict[str, Any], data: dict[str, Any]) -> SpanRecord:
        sid, exec_id = ctx.session_id, ctx.execution_id
        opened = self._executions.pop((sid, exec_id), None)
        if opened is None:  # started before we began reading: a span from its end alone
            opened = _Open(derive_span_id("execution", sid, exec_id, "end", event.get("seq")), ctx.time_ns, "hive.execution")
        return _lifecycle_span(ctx, opened, session_span_id(sid), failed=event["type"] == "execution_failed")

    def _node_started(self, ctx: EventContext, event: dict[str, Any], data: dict[str, Any]) -> None:
        key = (ctx.session_id, ctx.execution_id, ctx.node_id)
        span_id = derive_span_id("node", *key, event.get("seq"), event.get("timestamp"))
        self._nodes[key] = _Open(span_id, ctx.time_ns, f"hive.node {ctx.node_id}")

    def _node_completed(self, ctx: EventContext, event: dict[str, Any], data: dict[str, Any]) -> SpanRecord:
        key = (ctx.session_id, ctx.execution_id, ctx.node_id)
        opened = self._nodes.pop(key, None)
        if opened is None:  # started before we began reading (a pass that stopped mid-node): from its end alone
            opened = _Open(derive_span_id("node", *key, "end", event.get("seq")), ctx.time_ns, f"hive.node {ctx.node_id}")
        execution = self._executions.get((ctx.session_id, ctx.execution_id))
        parent = execution.span_id if execution else session_span_id(ctx.session_id)
        return _lifecycle_span(ctx, opened, parent, failed=False)

    # ------------------------------------------------------------------ calls (their event halves)
    def _llm_turn_complete(self, ctx: EventContext, event: dict[str, Any], data: dict[str, Any]) -> SpanRecord | None:
        sid, node_id = ctx.session_id, ctx.node_id
        iteration = int_or_zero(data.get("iteration"))
        input_tokens, output_tokens = int_or_zero(data.get("input_tokens")), int_or_zero(data.get("output_tokens"))
        model, stop_reason = data.get("model"), data.get("stop_reason")
        call = LlmCall(
            call_key=llm_call_key(sid, node_id, iteration, input_tokens, output_tokens),
            source=SOURCE_EVENT,
            resource=ctx.resource,
            session_id=sid,
            node_id=node_id,
            iteration=iteration,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=model if isinstance(model, str) else None,
            cached_tokens=int_or_zero(data.get("cached_tokens")),
            cache_creation_tokens=int_or_zero(data.get("cache_creation_tokens")),
            cost_usd=float_or(data.get("cost_usd"), 0.0),
            credits=float_or(data.get("credits"), None),
            stop_reason=stop_reason if isinstance(stop_reason, str) else None,
            execution_id=ctx.execution_id or None,
            stream_id=ctx.stream_id or None,
            end_ns=ctx.time_ns,
            start_ns=self._turn_start.pop((ctx.stream_id, node_id, ctx.execution_id), None),
            event_parent_span_id=self._parent_span(ctx),
        )
        merged = self._state.llm.add(call.call_key, call, SOURCE_EVENT, ctx.time_ns)
        return None if merged is None else linked_to_session(llm_call_span(merged), call)

    def _tool_call_started(self, ctx: EventContext, event: dict[str, Any], data: dict[str, Any]) -> None:
        tool_use_id = self._tool_use_id(data)
        if tool_use_id is not None:
            call = self._tool_half(ctx, data, tool_use_id)
            call.start_ns = ctx.time_ns
            call.arguments = json.dumps(data.get("tool_input"), default=str) if self._state.include_content else None
            self._tool_starts[(ctx.session_id, tool_use_id)] = call

    def _tool_call_completed(self, ctx: EventContext, event: dict[str, Any], data: dict[str, Any]) -> SpanRecord | None:
        tool_use_id = self._tool_use_id(data)
        if tool_use_id is None:
            return None
        call = self._tool_starts.pop((ctx.session_id, tool_use_id), None)
        if call is None:  # its start was before we began reading
            call = self._tool_half(ctx, data, tool_use_id)
        call.end_ns = ctx.time_ns
        call.is_error = bool(data.get("is_error"))
        if self._state.include_content:
            call.result = str(data.get("result") or "")
        merged = self._state.tools.add(call.call_key, call, SOURCE_EVENT, ctx.time_ns)
        return None if merged is None else tool_call_span(merged)

    def _tool_use_id(self, data: dict[str, Any]) -> str | None:
        """The id that pairs a tool call's start, end and L3 entry; a call without one is unusable."""
        tool_use_id = data.get("tool_use_id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            self._state.counters["unusable_records"] += 1
            return None
        return tool_use_id

    def _tool_half(self, ctx: EventContext, data: dict[str, Any], tool_use_id: str) -> ToolCall:
        return ToolCall(
            call_key=tool_call_key(ctx.session_id, tool_use_id),
            source=SOURCE_EVENT,
            resource=ctx.resource,
            session_id=ctx.session_id,
            tool_use_id=tool_use_id,
            tool_name=tool_name(data.get("tool_name")),
            node_id=ctx.node_id or None,
            execution_id=ctx.execution_id or None,
            event_parent_span_id=self._parent_span(ctx),
        )


def _event_time(event: dict[str, Any], file_context: SessionContext, now_ns: int) -> int:
    """When the event happened: its timestamp; for one that cannot be read (a hand-edited line, a year
    past 2262), the time its session's id was made, so that a replay dates the call where the first
    pass did (the time of reading would move it, and its cost, to the day of each replay)."""
    return to_unix_ns(event.get("timestamp")) or run_id_time_ns(file_context.session_id) or now_ns


_Handler = Callable[[BusEventMapper, EventContext, dict[str, Any], dict[str, Any]], SpanRecord | None]

# Event type → what it opens or closes (a span when it closes one). Calls made from events that
# HIVE_DEBUG_EVENTS dumps repeat are not mapped (see the module docstring).
_LIFECYCLE: dict[str, _Handler] = {
    "execution_started": BusEventMapper._execution_started,
    "execution_completed": BusEventMapper._execution_ended,
    "execution_failed": BusEventMapper._execution_ended,
    "node_loop_started": BusEventMapper._node_started,
    "node_loop_completed": BusEventMapper._node_completed,
    "llm_turn_complete": BusEventMapper._llm_turn_complete,
    "tool_call_started": BusEventMapper._tool_call_started,
    "tool_call_completed": BusEventMapper._tool_call_completed,
}


def _lifecycle_span(ctx: EventContext, opened: _Open, parent: bytes, *, failed: bool) -> SpanRecord:
    """The span of an execution or a node, from its start event to the event ``ctx`` describes."""
    attrs: Attributes = {A.HIVE_STATUS: "failed" if failed else "completed"}
    if ctx.execution_id:
        attrs[A.HIVE_EXECUTION_ID] = ctx.execution_id
    if ctx.node_id:
        attrs[A.HIVE_NODE_ID] = ctx.node_id
    return SpanRecord(
        resource=ctx.resource,
        trace_id=session_trace_id(ctx.session_id),
        span_id=opened.span_id,
        parent_span_id=parent,
        name=opened.name,
        kind=SpanKind.INTERNAL,
        start_ns=opened.start_ns,
        end_ns=max(ctx.time_ns, opened.start_ns),
        attributes=attrs,
        status_code=StatusCode.ERROR if failed else StatusCode.UNSET,
    )


def _unlisted_origin_context(file_context: SessionContext, origin: str) -> SessionContext:
    """An origin the copy's meta.json does not name yet: a queen session of the same queen."""
    return SessionContext(session_id=origin, queen_id=file_context.queen_id, agent_role=A.ROLE_QUEEN)


@lru_cache(maxsize=4096)
def _graph_run_context(execution_id: str) -> SessionContext:
    """A graph agent's run: ExecutionManager makes its execution id the id of the session it writes
    (``sessions/<id>/``, with runs.jsonl and the L1-L3 logs), so the context is the one a backfill of
    those files gives (layout.discover), and its calls have the same keys and ids both ways."""
    return SessionContext(session_id=execution_id, agent_role=A.ROLE_AGENT)


# Every line a fork copied asks again (a sixth of a forked history's events); the same object back
# also spares the session's context comparison.
@lru_cache(maxsize=4096)
def _origin_context(file_context: SessionContext, origin: str) -> SessionContext:
    """The context of an ancestor whose lines were copied into this file: a DM session of the same
    queen (fork_session_dir forks DM sessions, create-colony copies one), its own ancestors above it."""
    above = file_context.lineage[file_context.lineage.index(origin) + 1 :]
    return SessionContext(
        session_id=origin,
        queen_id=file_context.queen_id,
        parent_session_id=above[0] if above else None,
        agent_role=A.ROLE_QUEEN,
        lineage=above,
    )
