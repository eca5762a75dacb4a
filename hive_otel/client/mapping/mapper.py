"""EventMapper: Hive records in, OpenTelemetry spans and log records out.

The span tree of one session (in the session's derived trace):

    invoke_agent <queen|worker>            session span, emitted at flush()
      └─ hive.execution                    EXECUTION_STARTED … COMPLETED/FAILED
           └─ hive.node <node_id>          NODE_LOOP_STARTED … NODE_LOOP_COMPLETED
                ├─ chat <model>            one per LLM call (llm_turn_complete ⨝ L3 step)
                └─ execute_tool <tool>     one per tool call (tool_call_* ⨝ L3 tool_calls)

HIVE_DEBUG_EVENTS dumps (``event_logs/*.jsonl``) repeat the per-session files without saying which
session an event belongs to, so they yield status log records only, never calls or spans: counting
their calls would count every call twice.

The run logs keep Hive's own trace: L1 becomes ``hive.run`` (root), L2 nodes and L3 steps keep
their trace and span ids verbatim. A call seen both ways is exported once, with Hive's ids and the
event's model and cost; a link points back to the session trace. Worker sessions link to the
queen session that spawned them. The mapper keeps only the small state a stream needs (open
executions and nodes, pending call halves); it reads no clock and does no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hive_otel import attributes as A
from hive_otel.client.mapping.calls import (
    SOURCE_EVENT,
    SOURCE_LOG,
    LlmCall,
    ToolCall,
    llm_call_span,
    merge_llm,
    merge_tool,
    tool_call_span,
)
from hive_otel.client.mapping.context import ResourceFactory, context_for_stream, with_colony
from hive_otel.client.mapping.ids import (
    derive_span_id,
    derive_trace_id,
    hive_span_id,
    hive_trace_id,
    llm_call_key,
    run_span_id,
    session_span_id,
    session_trace_id,
    tool_call_key,
)
from hive_otel.client.mapping.joiner import CallJoiner
from hive_otel.client.mapping.status import DROPPED_EVENT_TYPES, KNOWN_EVENT_TYPES, queen_session_meta_log, status_log
from hive_otel.client.mapping.stream_state import StreamStates, heartbeat_log, stream_state_log
from hive_otel.client.mapping.telemetry import Attributes, Resource, SpanKind, SpanRecord, StatusCode, Telemetry
from hive_otel.client.mapping.timestamps import run_id_time_ns, to_unix_ns
from hive_otel.client.sources.layout import with_lineage
from hive_otel.client.sources.records import EVENT_LOG_SESSION_PREFIX, HiveRecord, RecordKind, SessionContext

# Hive's own word that a session is over (with an L1 summary's end): its invoke_agent span is emitted then.
_DONE_EVENTS = frozenset({"worker_completed", "worker_failed", "execution_completed", "execution_failed"})
_FAILED_EVENTS = frozenset({"execution_failed", "worker_failed"})
_LIFECYCLE_SPAN_EVENTS = frozenset(
    {
        "execution_started",
        "execution_completed",
        "execution_failed",
        "node_loop_started",
        "node_loop_completed",
        "llm_turn_complete",
        "tool_call_started",
        "tool_call_completed",
    }
)


@dataclass(slots=True)
class _Session:
    context: SessionContext
    resource: Resource
    first_ns: int
    last_ns: int
    failed: bool = False
    ended: bool = False  # a worker that completed or failed: no more heartbeats for it


@dataclass(slots=True)
class _Open:
    span_id: bytes
    start_ns: int
    name: str


_INT64_MAX = (1 << 63) - 1


def _is_int(value: Any) -> bool:
    """An int OTLP can carry (int64); JSON's true/false are not counts."""
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64_MAX <= value <= _INT64_MAX


def _int(value: Any) -> int:
    return value if _is_int(value) else 0


class EventMapper:
    """Maps a stream of HiveRecords; see the module docstring for the tree it builds."""

    def __init__(
        self,
        resources: ResourceFactory,
        join_window_ns: int | None,
        include_content: bool = False,
    ) -> None:
        self._resources = resources
        self._include_content = include_content
        self._llm = CallJoiner[LlmCall](merge_llm, join_window_ns)
        self._tools = CallJoiner[ToolCall](merge_tool, join_window_ns)
        self._sessions: dict[str, _Session] = {}
        self._executions: dict[tuple[str, str], _Open] = {}
        self._nodes: dict[tuple[str, str, str], _Open] = {}
        self._turn_start: dict[tuple[str, str, str], int] = {}
        self._tool_starts: dict[tuple[str, str], ToolCall] = {}
        self._streams = StreamStates()
        self._parents: dict[str, str] = {}  # child -> parent session, from colony_created / session_forked
        self.counters: dict[str, int] = {
            "records": 0,
            "deltas_dropped": 0,
            "unknown_event_types": 0,
            "unusable_records": 0,
        }

    # ------------------------------------------------------------------ entry points
    def map(self, record: HiveRecord, now_ns: int) -> Telemetry:
        self.counters["records"] += 1
        out = Telemetry()
        data = record.data
        if not isinstance(data, dict):
            self.counters["unusable_records"] += 1
            return out
        if record.kind is RecordKind.EVENT:
            self._map_event(data, record.context, now_ns, out)
        elif record.kind is RecordKind.NODE_STEP:
            self._map_step(data, self._known_context(record.context), now_ns, out)
        elif record.kind is RecordKind.NODE_DETAIL:
            self._map_node_detail(data, self._known_context(record.context), now_ns, out)
        elif record.kind is RecordKind.RUN_SUMMARY:
            self._map_run_summary(data, self._known_context(record.context), now_ns, out)
        elif record.kind is RecordKind.QUEEN_SESSION_META:
            resource = self._resources.for_context(self._known_context(record.context))
            sid = record.context.session_id
            time_ns = record.written_ns or now_ns
            out.logs.append(queen_session_meta_log(data, resource, time_ns, session_trace_id(sid), session_span_id(sid)))
        return out

    def release(self, now_ns: int) -> Telemetry:
        """Calls whose partner did not arrive within the join window, exported alone."""
        out = Telemetry()
        out.spans.extend(llm_call_span(c) for c in self._llm.expired(now_ns))
        out.spans.extend(tool_call_span(c) for c in self._tools.expired(now_ns))
        return out

    def release_all(self) -> Telemetry:
        """Every call still waiting for its partner, exported alone (the store merges late partners)."""
        out = Telemetry()
        out.spans.extend(llm_call_span(c) for c in self._llm.flush())
        out.spans.extend(tool_call_span(c) for c in self._tools.flush())
        return out

    def flush(self) -> Telemetry:
        """End of input: everything still pending. The end of a file ends no session: a session's
        ``invoke_agent`` span is emitted only when Hive says it is over (see ``_DONE_EVENTS``)."""
        return self.release_all()

    def heartbeats(self, now_ns: int, instrumented: SessionContext) -> Telemetry:
        """One ``hive.heartbeat`` record for the instrumented session and each of its sessions still
        running (workers that have not completed or failed), stamped ``now_ns``."""
        out = Telemetry()
        root = self._touch(instrumented, now_ns)
        for session_id, s in self._sessions.items():
            if s is root or not s.ended:
                trace_id, span_id = session_trace_id(session_id), session_span_id(session_id)
                out.logs.append(heartbeat_log(s.resource, now_ns, trace_id, span_id))
        return out

    @property
    def join_counters(self) -> dict[str, int]:
        return {
            "llm_merged": self._llm.merged,
            "llm_alone": self._llm.released_alone,
            "tool_merged": self._tools.merged,
            "tool_alone": self._tools.released_alone,
            "pending": len(self._llm) + len(self._tools),
        }

    # ------------------------------------------------------------------ sessions
    def _known_context(self, context: SessionContext) -> SessionContext:
        """Logs carry only a session id; use what the session's events told us about it."""
        known = self._sessions.get(context.session_id)
        return known.context if known is not None else context

    def _touch(self, context: SessionContext, time_ns: int) -> _Session:
        s = self._sessions.get(context.session_id)
        if s is None:
            s = _Session(context, self._resources.for_context(context), time_ns, time_ns)
            self._sessions[context.session_id] = s
        else:
            if context is not s.context and context != s.context and _richer(context, s.context):
                s.context, s.resource = context, self._resources.for_context(context)
            if time_ns < s.first_ns:
                s.first_ns = time_ns
            elif time_ns > s.last_ns:
                s.last_ns = time_ns
        return s

    def _attributed(self, file_context: SessionContext, stream_id: str, exec_id: str, colony: object) -> SessionContext:
        """Whose event this is. A worker stream is the worker's; a line a fork or a colony copied from
        an ancestor (a queen's execution id is her session id, so it names the session that wrote it)
        stays its origin's, with the same ids wherever it is read."""
        context = context_for_stream(file_context, stream_id)
        if context is file_context and exec_id and exec_id != file_context.session_id and exec_id in file_context.lineage:
            context = _origin_context(file_context, exec_id)
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

    def _session_span(self, session_id: str, s: _Session, end_ns: int) -> SpanRecord:
        ctx = s.context
        agent = ctx.worker_id or ctx.queen_id or ctx.agent_role
        attrs: Attributes = {
            A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT,
            A.GEN_AI_AGENT_ID: session_id,
            A.GEN_AI_AGENT_NAME: agent,
            A.HIVE_STATUS: "failed" if s.failed else "ok",
        }
        links = []
        if ctx.parent_session_id:
            links.append((session_trace_id(ctx.parent_session_id), session_span_id(ctx.parent_session_id)))
        return SpanRecord(
            resource=s.resource,
            trace_id=session_trace_id(session_id),
            span_id=session_span_id(session_id),
            parent_span_id=b"",
            name=f"{A.OP_INVOKE_AGENT} {agent}",
            kind=SpanKind.INTERNAL,
            start_ns=min(s.first_ns, end_ns),
            end_ns=end_ns,
            attributes=attrs,
            status_code=StatusCode.ERROR if s.failed else StatusCode.UNSET,
            links=links,
        )

    # ------------------------------------------------------------------ bus events
    def _map_event(self, event: dict[str, Any], file_context: SessionContext, now_ns: int, out: Telemetry) -> None:
        get = event.get
        event_type = get("type")
        if not isinstance(event_type, str):
            self.counters["unusable_records"] += 1
            return
        stream_id = get("stream_id")
        if not isinstance(stream_id, str):
            stream_id = ""
        node_id = get("node_id")
        if not isinstance(node_id, str):
            node_id = ""
        exec_id = get("execution_id")
        if not isinstance(exec_id, str):
            exec_id = ""

        if event_type in DROPPED_EVENT_TYPES:
            # Only the moment the turn started streaming survives, as the LLM span's start time; so
            # only the turn's first delta needs its time read.
            turn = (stream_id, node_id, exec_id)
            if turn not in self._turn_start:
                self._turn_start[turn] = to_unix_ns(get("timestamp")) or now_ns
            self.counters["deltas_dropped"] += 1
            state = self._streams.change((file_context.session_id, stream_id), event_type)
            if state is not None:  # the first delta of a run: the stream started thinking or typing
                turn_context = self._attributed(file_context, stream_id, exec_id, get("colony_id"))
                time_ns = to_unix_ns(get("timestamp")) or now_ns
                self._stream_state(state, time_ns, turn_context, stream_id, node_id, exec_id, out)
            return

        time_ns = to_unix_ns(get("timestamp")) or now_ns
        context = self._attributed(file_context, stream_id, exec_id, get("colony_id"))
        session = self._touch(context, time_ns)
        sid = context.session_id
        data = get("data")
        if not isinstance(data, dict):
            data = {}

        if event_type not in KNOWN_EVENT_TYPES:
            self.counters["unknown_event_types"] += 1
        if event_type in _LIFECYCLE_SPAN_EVENTS and not context.session_id.startswith(EVENT_LOG_SESSION_PREFIX):
            self._map_lifecycle(event_type, event, data, session, sid, stream_id, node_id, exec_id, time_ns, out)
        if event_type in _FAILED_EVENTS:
            session.failed = True
        if event_type in _DONE_EVENTS:
            session.ended = True
            out.spans.append(self._session_span(sid, session, time_ns))
        elif event_type in ("colony_created", "session_forked"):
            self._learn_lineage(sid, data)
        state = self._streams.change((file_context.session_id, stream_id), event_type)
        if state is not None:
            self._stream_state(state, time_ns, context, stream_id, node_id, exec_id, out)
        if event_type in ("llm_turn_complete", "tool_call_started", "tool_call_completed"):
            return  # calls are spans; their text and arguments never become log records
        parent = self._parent_span(sid, exec_id, node_id)
        out.logs.append(status_log(event, session.resource, time_ns, session_trace_id(sid), parent, self._include_content))

    def _stream_state(
        self,
        state: str,
        time_ns: int,
        context: SessionContext,
        stream_id: str,
        node_id: str,
        exec_id: str,
        out: Telemetry,
    ) -> None:
        session = self._touch(context, time_ns)
        sid = context.session_id
        parent = self._parent_span(sid, exec_id, node_id)
        trace_id = session_trace_id(sid)
        out.logs.append(stream_state_log(session.resource, time_ns, state, stream_id, node_id, exec_id, trace_id, parent))

    def _parent_span(self, sid: str, exec_id: str, node_id: str) -> bytes:
        node = self._nodes.get((sid, exec_id, node_id))
        if node is not None:
            return node.span_id
        execution = self._executions.get((sid, exec_id))
        if execution is not None:
            return execution.span_id
        return session_span_id(sid)

    def _map_lifecycle(
        self,
        event_type: str,
        event: dict[str, Any],
        data: dict[str, Any],
        session: _Session,
        sid: str,
        stream_id: str,
        node_id: str,
        exec_id: str,
        time_ns: int,
        out: Telemetry,
    ) -> None:
        seq = event.get("seq")
        if event_type == "execution_started":
            span_id = derive_span_id("execution", sid, exec_id, seq, event.get("timestamp"))
            self._executions[(sid, exec_id)] = _Open(span_id, time_ns, "hive.execution")
        elif event_type in ("execution_completed", "execution_failed"):
            opened = self._executions.pop((sid, exec_id), None)
            if opened is None:  # started before we began reading: a span from its end alone
                opened = _Open(derive_span_id("execution", sid, exec_id, "end", seq), time_ns, "hive.execution")
            failed = event_type == "execution_failed"
            out.spans.append(
                self._lifecycle_span(session, sid, opened, session_span_id(sid), time_ns, exec_id, node_id, failed)
            )
        elif event_type == "node_loop_started":
            span_id = derive_span_id("node", sid, exec_id, node_id, seq, event.get("timestamp"))
            self._nodes[(sid, exec_id, node_id)] = _Open(span_id, time_ns, f"hive.node {node_id}")
        elif event_type == "node_loop_completed":
            opened = self._nodes.pop((sid, exec_id, node_id), None)
            if opened is not None:
                execution = self._executions.get((sid, exec_id))
                parent = execution.span_id if execution else session_span_id(sid)
                out.spans.append(self._lifecycle_span(session, sid, opened, parent, time_ns, exec_id, node_id, False))
        elif event_type == "llm_turn_complete":
            self._llm_event(data, session, sid, stream_id, node_id, exec_id, time_ns, out)
        elif event_type == "tool_call_started":
            self._tool_started(data, session, sid, node_id, exec_id, time_ns)
        elif event_type == "tool_call_completed":
            self._tool_completed(data, session, sid, node_id, exec_id, time_ns, out)

    def _lifecycle_span(
        self,
        session: _Session,
        sid: str,
        opened: _Open,
        parent: bytes,
        end_ns: int,
        exec_id: str,
        node_id: str,
        failed: bool,
    ) -> SpanRecord:
        attrs: Attributes = {A.HIVE_STATUS: "failed" if failed else "completed"}
        if exec_id:
            attrs[A.HIVE_EXECUTION_ID] = exec_id
        if node_id:
            attrs[A.HIVE_NODE_ID] = node_id
        return SpanRecord(
            resource=session.resource,
            trace_id=session_trace_id(sid),
            span_id=opened.span_id,
            parent_span_id=parent,
            name=opened.name,
            kind=SpanKind.INTERNAL,
            start_ns=opened.start_ns,
            end_ns=max(end_ns, opened.start_ns),
            attributes=attrs,
            status_code=StatusCode.ERROR if failed else StatusCode.UNSET,
        )

    def _llm_event(
        self,
        data: dict[str, Any],
        session: _Session,
        sid: str,
        stream_id: str,
        node_id: str,
        exec_id: str,
        time_ns: int,
        out: Telemetry,
    ) -> None:
        iteration = _int(data.get("iteration"))
        input_tokens, output_tokens = _int(data.get("input_tokens")), _int(data.get("output_tokens"))
        cost = data.get("cost_usd")
        credits = data.get("credits")
        call = LlmCall(
            call_key=llm_call_key(sid, node_id, iteration, input_tokens, output_tokens),
            source=SOURCE_EVENT,
            resource=session.resource,
            session_id=sid,
            node_id=node_id,
            iteration=iteration,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            cached_tokens=_int(data.get("cached_tokens")),
            cache_creation_tokens=_int(data.get("cache_creation_tokens")),
            cost_usd=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else 0.0,
            credits=float(credits) if isinstance(credits, (int, float)) and not isinstance(credits, bool) else None,
            stop_reason=data.get("stop_reason") if isinstance(data.get("stop_reason"), str) else None,
            execution_id=exec_id or None,
            stream_id=stream_id or None,
            end_ns=time_ns,
            start_ns=self._turn_start.pop((stream_id, node_id, exec_id), None),
            event_parent_span_id=self._parent_span(sid, exec_id, node_id),
        )
        merged = self._llm.add(call.call_key, call, SOURCE_EVENT, time_ns)
        if merged is not None:
            out.spans.append(self._linked(llm_call_span(merged), call))

    def _tool_started(
        self, data: dict[str, Any], session: _Session, sid: str, node_id: str, exec_id: str, time_ns: int
    ) -> None:
        tool_use_id = data.get("tool_use_id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            self.counters["unusable_records"] += 1
            return
        self._tool_starts[(sid, tool_use_id)] = ToolCall(
            call_key=tool_call_key(sid, tool_use_id),
            source=SOURCE_EVENT,
            resource=session.resource,
            session_id=sid,
            tool_use_id=tool_use_id,
            tool_name=str(data.get("tool_name") or ""),
            node_id=node_id or None,
            start_ns=time_ns,
            execution_id=exec_id or None,
            arguments=json.dumps(data.get("tool_input"), default=str) if self._include_content else None,
            event_parent_span_id=self._parent_span(sid, exec_id, node_id),
        )

    def _tool_completed(
        self,
        data: dict[str, Any],
        session: _Session,
        sid: str,
        node_id: str,
        exec_id: str,
        time_ns: int,
        out: Telemetry,
    ) -> None:
        tool_use_id = data.get("tool_use_id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            self.counters["unusable_records"] += 1
            return
        call = self._tool_starts.pop((sid, tool_use_id), None)
        if call is None:  # its start was before we began reading
            call = ToolCall(
                call_key=tool_call_key(sid, tool_use_id),
                source=SOURCE_EVENT,
                resource=session.resource,
                session_id=sid,
                tool_use_id=tool_use_id,
                tool_name=str(data.get("tool_name") or ""),
                node_id=node_id or None,
                execution_id=exec_id or None,
                event_parent_span_id=self._parent_span(sid, exec_id, node_id),
            )
        call.end_ns = time_ns
        call.is_error = bool(data.get("is_error"))
        if self._include_content:
            call.result = str(data.get("result") or "")
        merged = self._tools.add(call.call_key, call, SOURCE_EVENT, time_ns)
        if merged is not None:
            out.spans.append(tool_call_span(merged))

    @staticmethod
    def _linked(span: SpanRecord, event_half: LlmCall) -> SpanRecord:
        """A merged call lives in Hive's run trace; link it to its place in the session trace."""
        if event_half.event_parent_span_id and span.trace_id != session_trace_id(event_half.session_id):
            span.links.append((session_trace_id(event_half.session_id), event_half.event_parent_span_id))
        return span

    # ------------------------------------------------------------------ run logs (L1-L3)
    def _map_step(self, step: dict[str, Any], context: SessionContext, now_ns: int, out: Telemetry) -> None:
        raw_node, raw_iteration = step.get("node_id"), step.get("step_index", 0)
        if not isinstance(raw_node, str | None) or not _is_int(raw_iteration):
            # Hive's NodeStepLog has a str node_id and an int step_index: these identify the call, so
            # a line with anything else there is corrupt, not a call of its own.
            self.counters["unusable_records"] += 1
            return
        sid = context.session_id
        resource = self._resources.for_context(context)
        node_id = raw_node or ""
        iteration = raw_iteration
        trace_id = hive_trace_id(step.get("trace_id"))
        span_id = hive_span_id(step.get("span_id"))
        parent = hive_span_id(step.get("parent_span_id")) or (run_span_id(trace_id) if trace_id else None)
        tool_calls = step.get("tool_calls")
        if not isinstance(tool_calls, list):
            tool_calls = []
        # Each tool call's start, read once: it dates the LLM call and starts the tool's span.
        tool_starts = [to_unix_ns(tc.get("start_timestamp")) if isinstance(tc, dict) else None for tc in tool_calls]
        tool_times = [t for t in tool_starts if t]
        run_time = run_id_time_ns(sid) or now_ns  # a step without tool calls carries no time of its own

        input_tokens, output_tokens = _int(step.get("input_tokens")), _int(step.get("output_tokens"))
        if input_tokens or output_tokens:
            latency = step.get("latency_ms")
            call = LlmCall(
                call_key=llm_call_key(sid, node_id, iteration, input_tokens, output_tokens),
                source=SOURCE_LOG,
                resource=resource,
                session_id=sid,
                node_id=node_id,
                iteration=iteration,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                latency_ms=latency if isinstance(latency, int) and latency >= 0 else None,
                verdict=step.get("verdict") or None,
                error=(step.get("error") or None) if self._include_content else None,
                is_partial=bool(step.get("is_partial")),
                output_text=(step.get("llm_text") or None) if self._include_content else None,
                fallback_time_ns=max(tool_times) if tool_times else run_time,
            )
            merged = self._llm.add(call.call_key, call, SOURCE_LOG, now_ns)
            if merged is not None:
                out.spans.append(self._linked(llm_call_span(merged), merged))

        for tc, tool_start in zip(tool_calls, tool_starts, strict=True):
            if not isinstance(tc, dict) or not isinstance(tc.get("tool_use_id"), str) or not tc["tool_use_id"]:
                continue
            duration = tc.get("duration_s")
            tool = ToolCall(
                call_key=tool_call_key(sid, tc["tool_use_id"]),
                source=SOURCE_LOG,
                resource=resource,
                session_id=sid,
                tool_use_id=tc["tool_use_id"],
                tool_name=str(tc.get("tool_name") or ""),
                node_id=node_id or None,
                is_error=bool(tc.get("is_error")),
                start_ns=tool_start or run_time,
                latency_ms=int(duration * 1000) if isinstance(duration, (int, float)) else None,
                arguments=json.dumps(tc.get("tool_input"), default=str) if self._include_content else None,
                result=str(tc.get("result") or "") if self._include_content else None,
                trace_id=trace_id,
                step_span_id=span_id,
            )
            merged_tool = self._tools.add(tool.call_key, tool, SOURCE_LOG, now_ns)
            if merged_tool is not None:
                out.spans.append(tool_call_span(merged_tool))

    def _map_node_detail(self, detail: dict[str, Any], context: SessionContext, now_ns: int, out: Telemetry) -> None:
        trace_id = hive_trace_id(detail.get("trace_id")) or derive_trace_id("run", context.session_id)
        node_id = str(detail.get("node_id") or "")
        span_id = hive_span_id(detail.get("span_id")) or derive_span_id("l2", trace_id.hex(), node_id, detail.get("attempt"))
        latency = _int(detail.get("latency_ms"))
        # L2 lines carry no time of their own: the node ends its latency after the run's id was made.
        run_start = run_id_time_ns(context.session_id)
        end_ns = run_start + latency * 1_000_000 if run_start else now_ns
        success = detail.get("success") is not False
        attrs: Attributes = {A.HIVE_NODE_ID: node_id, A.HIVE_STATUS: "completed" if success else "failed"}
        if detail.get("exit_status"):
            attrs[A.HIVE_EXIT_STATUS] = str(detail["exit_status"])
        if not success:
            attrs[A.ERROR_TYPE] = "node_failed"
            if self._include_content and detail.get("error"):
                attrs[A.HIVE_ERROR_MESSAGE] = str(detail["error"])
        out.spans.append(
            SpanRecord(
                resource=self._resources.for_context(context),
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=run_span_id(trace_id),
                name=f"hive.node {node_id}",
                kind=SpanKind.INTERNAL,
                start_ns=end_ns - latency * 1_000_000,
                end_ns=end_ns,
                attributes=attrs,
                status_code=StatusCode.UNSET if success else StatusCode.ERROR,
            )
        )

    def _map_run_summary(self, summary: dict[str, Any], context: SessionContext, now_ns: int, out: Telemetry) -> None:
        run_id = str(summary.get("run_id") or context.session_id)
        trace_id = hive_trace_id(summary.get("trace_id")) or derive_trace_id("run", run_id)
        start_ns = to_unix_ns(summary.get("started_at")) or now_ns
        status = str(summary.get("status") or "")
        attrs: Attributes = {A.HIVE_RUN_ID: run_id, A.HIVE_STATUS: status}
        if isinstance(summary.get("execution_id"), str) and summary["execution_id"]:
            attrs[A.HIVE_EXECUTION_ID] = summary["execution_id"]
        if summary.get("execution_quality"):
            attrs[A.HIVE_EXIT_STATUS] = str(summary["execution_quality"])
        failed = status == "failure"
        end_ns = start_ns + _int(summary.get("duration_ms")) * 1_000_000
        session = self._touch(context, start_ns)
        session.failed = session.failed or failed
        session.ended = True
        out.spans.append(self._session_span(context.session_id, session, end_ns))  # L1 is written at the run's end
        out.spans.append(
            SpanRecord(
                resource=self._resources.for_context(context),
                trace_id=trace_id,
                span_id=run_span_id(trace_id),
                parent_span_id=b"",
                name=f"hive.run {summary.get('agent_id') or run_id}",
                kind=SpanKind.INTERNAL,
                start_ns=start_ns,
                end_ns=end_ns,
                attributes=attrs,
                status_code=StatusCode.ERROR if failed else StatusCode.UNSET,
                links=[(session_trace_id(context.session_id), session_span_id(context.session_id))],
            )
        )


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


def _richer(new: SessionContext, old: SessionContext) -> bool:
    """Prefer the context that knows more (a worker file's meta.json beats a bare session id)."""
    return sum(v is not None for v in (new.queen_id, new.colony_id, new.worker_id, new.parent_session_id)) > sum(
        v is not None for v in (old.queen_id, old.colony_id, old.worker_id, old.parent_session_id)
    )


__all__ = ["EventMapper"]
