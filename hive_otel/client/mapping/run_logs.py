"""Hive's run logs → spans in Hive's own trace: L1 ``summary.json``, L2 ``details.jsonl``, L3 ``tool_logs.jsonl``.

L1 becomes ``hive.run`` (the root of the run's trace, linked to the session span) and ends the
session; L2 nodes and L3 steps keep their trace and span ids verbatim, but for a graph agent's steps
(see :func:`_step_ids`). An L3 step is the log half of one LLM call and of each tool call it made; the
event halves come from the bus (:mod:`.events`), and a call seen both ways is exported once, with
Hive's ids and the event's model and cost, linked back to its place in the session trace. L2 and L3
lines carry no time of their own: they are dated by their tool calls' starts, else by the run id (which
Hive makes from the run's start time).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from hive_otel import attributes as A
from hive_otel.client.mapping.calls import SOURCE_LOG, LlmCall, ToolCall, llm_call_span, tool_call_span
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
from hive_otel.client.mapping.numbers import (
    MAX_MILLIS,
    int_or_zero,
    is_int64,
    millis_or_none,
    millis_or_zero,
    text,
    tool_name,
)
from hive_otel.client.mapping.sessions import linked_to_session
from hive_otel.client.mapping.state import MappingState
from hive_otel.client.mapping.telemetry import Attributes, Resource, SpanKind, SpanRecord, StatusCode, Telemetry
from hive_otel.client.mapping.timestamps import run_id_time_ns, to_unix_ns
from hive_otel.client.sources.records import HiveRecord, SessionContext

__all__ = ["RunLogMapper", "StepContext"]


class StepContext(NamedTuple):
    """Where one L3 step happened: read once per line, shared by its LLM call and its tool calls."""

    session_id: str
    resource: Resource
    node_id: str
    trace_id: bytes | None  # Hive's, verbatim (None: the step's calls are keyed in the session trace)
    span_id: bytes | None
    session_parent: bytes | None  # the calls' parent in the session trace when keyed there
    run_time_ns: int  # the run's start: the time of a step without tool calls
    now_ns: int


class RunLogMapper:
    """Maps L1-L3 lines; a line's session context is completed from what its session's events told."""

    def __init__(self, state: MappingState) -> None:
        self._state = state

    # ------------------------------------------------------------------ L3: one step of a node's loop
    def map_step(self, record: HiveRecord, now_ns: int) -> Telemetry:
        out = Telemetry()
        step = record.data
        raw_node, iteration = step.get("node_id"), step.get("step_index", 0)
        if not isinstance(raw_node, str | None) or not is_int64(iteration):
            # Hive's NodeStepLog has a str node_id and an int step_index: these identify the call, so
            # a line with anything else there is corrupt, not a call of its own.
            self._state.counters["unusable_records"] += 1
            return out
        context = self._state.sessions.known_context(record.context)
        sid = context.session_id
        tool_calls = step.get("tool_calls")
        if not isinstance(tool_calls, list):
            tool_calls = []
        # Each tool call's start, read once: it dates the LLM call and starts the tool's span.
        tool_starts = [to_unix_ns(tc.get("start_timestamp")) if isinstance(tc, dict) else None for tc in tool_calls]
        tool_times = [t for t in tool_starts if t]
        trace_id, span_id, session_parent = _step_ids(step, context)
        place = StepContext(
            session_id=sid,
            resource=self._state.sessions.resources.for_context(context),
            node_id=raw_node or "",
            trace_id=trace_id,
            span_id=span_id,
            session_parent=session_parent,
            run_time_ns=run_id_time_ns(sid) or now_ns,
            now_ns=now_ns,
        )
        llm = self._llm_half(step, place, iteration, max(tool_times) if tool_times else place.run_time_ns)
        if llm is not None:
            out.spans.append(llm)
        out.spans.extend(self._tool_halves(tool_calls, tool_starts, place))
        return out

    def _llm_half(self, step: dict[str, Any], place: StepContext, iteration: int, time_ns: int) -> SpanRecord | None:
        """The step's LLM call (a step that used no tokens made none); the call's span once joined."""
        input_tokens, output_tokens = int_or_zero(step.get("input_tokens")), int_or_zero(step.get("output_tokens"))
        if not (input_tokens or output_tokens):
            return None
        sid, trace_id, include_content = place.session_id, place.trace_id, self._state.include_content
        latency = step.get("latency_ms")
        call = LlmCall(
            call_key=llm_call_key(sid, place.node_id, iteration, input_tokens, output_tokens),
            source=SOURCE_LOG,
            resource=place.resource,
            session_id=sid,
            node_id=place.node_id,
            iteration=iteration,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            trace_id=trace_id,
            span_id=place.span_id,
            event_parent_span_id=place.session_parent,
            parent_span_id=hive_span_id(step.get("parent_span_id")) or (run_span_id(trace_id) if trace_id else None),
            latency_ms=latency if isinstance(latency, int) and 0 <= latency <= MAX_MILLIS else None,
            verdict=text(step.get("verdict")),
            error=text(step.get("error")) if include_content else None,
            is_partial=bool(step.get("is_partial")),
            output_text=text(step.get("llm_text")) if include_content else None,
            fallback_time_ns=time_ns,
        )
        merged = self._state.llm.add(call.call_key, call, SOURCE_LOG, place.now_ns)
        return None if merged is None else linked_to_session(llm_call_span(merged), merged)

    def _tool_halves(self, tool_calls: list[Any], tool_starts: list[int | None], place: StepContext) -> list[SpanRecord]:
        """The step's tool calls (those with an id to pair them by); the spans of those joined."""
        spans = []
        include_content = self._state.include_content
        for tc, tool_start in zip(tool_calls, tool_starts, strict=True):
            if not isinstance(tc, dict) or not isinstance(tc.get("tool_use_id"), str) or not tc["tool_use_id"]:
                continue
            tool = ToolCall(
                call_key=tool_call_key(place.session_id, tc["tool_use_id"]),
                source=SOURCE_LOG,
                resource=place.resource,
                session_id=place.session_id,
                tool_use_id=tc["tool_use_id"],
                tool_name=tool_name(tc.get("tool_name")),
                node_id=place.node_id or None,
                is_error=bool(tc.get("is_error")),
                start_ns=tool_start or place.run_time_ns,
                latency_ms=millis_or_none(tc.get("duration_s")),
                arguments=json.dumps(tc.get("tool_input"), default=str) if include_content else None,
                result=str(tc.get("result") or "") if include_content else None,
                trace_id=place.trace_id,
                step_span_id=place.span_id,
                event_parent_span_id=place.session_parent,
            )
            merged = self._state.tools.add(tool.call_key, tool, SOURCE_LOG, place.now_ns)
            if merged is not None:
                spans.append(tool_call_span(merged))
        return spans

    # ------------------------------------------------------------------ L2: one node of a run
    def map_node_detail(self, record: HiveRecord, now_ns: int) -> Telemetry:
        detail, context = record.data, self._state.sessions.known_context(record.context)
        trace_id = hive_trace_id(detail.get("trace_id")) or derive_trace_id("run", context.session_id)
        node_id = text(detail.get("node_id")) or ""
        span_id = hive_span_id(detail.get("span_id")) or derive_span_id("l2", trace_id.hex(), node_id, detail.get("attempt"))
        latency = millis_or_zero(detail.get("latency_ms"))
        # L2 lines carry no time of their own: the node ends its latency after the run's id was made.
        run_start = run_id_time_ns(context.session_id)
        end_ns = run_start + latency * 1_000_000 if run_start else now_ns
        success = detail.get("success") is not False
        attrs: Attributes = {A.HIVE_NODE_ID: node_id, A.HIVE_STATUS: "completed" if success else "failed"}
        if exit_status := text(detail.get("exit_status")):
            attrs[A.HIVE_EXIT_STATUS] = exit_status
        if not success:
            attrs[A.ERROR_TYPE] = "node_failed"
            if self._state.include_content and detail.get("error"):
                attrs[A.HIVE_ERROR_MESSAGE] = str(detail["error"])
        span = SpanRecord(
            resource=self._state.sessions.resources.for_context(context),
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
        return Telemetry(spans=[span])

    # ------------------------------------------------------------------ L1: the run, written at its end
    def map_run_summary(self, record: HiveRecord, now_ns: int) -> Telemetry:
        summary, context = record.data, self._state.sessions.known_context(record.context)
        run_id = text(summary.get("run_id")) or context.session_id
        trace_id = hive_trace_id(summary.get("trace_id")) or derive_trace_id("run", run_id)
        start_ns = to_unix_ns(summary.get("started_at")) or now_ns
        status = text(summary.get("status")) or ""
        attrs: Attributes = {A.HIVE_RUN_ID: run_id, A.HIVE_STATUS: status}
        if isinstance(summary.get("execution_id"), str) and summary["execution_id"]:
            attrs[A.HIVE_EXECUTION_ID] = summary["execution_id"]
        if quality := text(summary.get("execution_quality")):
            attrs[A.HIVE_EXIT_STATUS] = quality
        failed = status == "failure"
        end_ns = start_ns + millis_or_zero(summary.get("duration_ms")) * 1_000_000
        session = self._state.sessions.touch(context, start_ns)
        session.failed = session.failed or failed
        run = SpanRecord(
            resource=self._state.sessions.resources.for_context(context),
            trace_id=trace_id,
            span_id=run_span_id(trace_id),
            parent_span_id=b"",
            name=f"hive.run {text(summary.get('agent_id')) or run_id}",
            kind=SpanKind.INTERNAL,
            start_ns=start_ns,
            end_ns=end_ns,
            attributes=attrs,
            status_code=StatusCode.ERROR if failed else StatusCode.UNSET,
            links=[(session_trace_id(context.session_id), session_span_id(context.session_id))],
        )
        return Telemetry(spans=[self._state.sessions.end(context.session_id, session, end_ns), run])

    # ------------------------------------------------------------------ runs.jsonl: a run's start and end
    def map_run_event(self, record: HiveRecord, now_ns: int) -> Telemetry:
        """A run's end as ExecutionManager appends it to the session's ``runs.jsonl``: the session's end,
        failed unless the run completed. A cancelled run writes no summary.json, so this is its only end
        on file (its session stayed active); a run with both ends its session twice, with the same ids."""
        failed = _RUN_ENDS.get(record.data.get("event"))  # type: ignore[arg-type]
        if failed is None:  # run_started, run_paused: the session goes on
            return Telemetry()
        context = self._state.sessions.known_context(record.context)
        end_ns = to_unix_ns(record.data.get("timestamp")) or run_id_time_ns(context.session_id) or now_ns
        session = self._state.sessions.touch(context, end_ns)
        session.failed = session.failed or failed
        return Telemetry(spans=[self._state.sessions.end(context.session_id, session, end_ns)])


def _step_ids(step: dict[str, Any], context: SessionContext) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(trace, span, parent in the session trace) for a step's calls: Hive's trace and span ids verbatim,
    but none for a graph agent's step, whose calls then take the ids their bus halves take, under the
    session span.

    A graph agent writes no events.jsonl: its calls' bus halves reach us only live, from a hook that never
    sees the L3 line, and Hive makes the line's ids at random (uuid4) and never publishes them. Only ids
    both halves can make, the session's trace and a span id from the call key, make them one span in
    ``otel_traces`` when a backfill reads the line after the live hook sent the event. The session span
    is the one parent the line can name there (the bus half's node span is made from the bus's seq and
    time); the run's L1 and L2 spans keep Hive's trace, linked to the session span."""
    if context.agent_role == A.ROLE_AGENT:
        return None, None, session_span_id(context.session_id)
    return hive_trace_id(step.get("trace_id")), hive_span_id(step.get("span_id")), None


_RUN_ENDS = {"run_completed": False, "run_failed": True, "run_cancelled": True}  # the event → whether the run failed
