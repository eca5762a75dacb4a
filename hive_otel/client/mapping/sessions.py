"""The sessions a mapper has seen: who each one is, its resource, when it was first and last seen.

Shared by the bus-event and the run-log mappings: both touch a session when a record of it arrives,
and both may end it (an ``execution_completed`` event, an L1 summary), which emits its
``invoke_agent <agent>`` span in the session's derived trace. Pure: times come in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

from hive_otel import attributes as A
from hive_otel.client.mapping.calls import LlmCall
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.ids import session_span_id, session_trace_id
from hive_otel.client.mapping.stream_state import heartbeat_log
from hive_otel.client.mapping.telemetry import Attributes, Resource, SpanKind, SpanRecord, StatusCode, Telemetry
from hive_otel.client.sources.records import SessionContext

__all__ = ["Session", "Sessions", "linked_to_session"]


@dataclass(slots=True)
class Session:
    context: SessionContext
    resource: Resource
    first_ns: int
    last_ns: int
    failed: bool = False
    ended: bool = False  # a worker that completed or failed: no more heartbeats for it


class Sessions:
    """Every session seen, by id, with the richest context learned about it."""

    def __init__(self, resources: ResourceFactory) -> None:
        self.resources = resources
        self._by_id: dict[str, Session] = {}

    def known_context(self, context: SessionContext) -> SessionContext:
        """Logs carry only a session id; use what the session's events told us about it."""
        known = self._by_id.get(context.session_id)
        return known.context if known is not None else context

    def touch(self, context: SessionContext, time_ns: int) -> Session:
        """The session of ``context``, seen at ``time_ns`` (its context upgraded if this one knows more)."""
        s = self._by_id.get(context.session_id)
        if s is None:
            s = Session(context, self.resources.for_context(context), time_ns, time_ns)
            self._by_id[context.session_id] = s
        else:
            if context is not s.context and context != s.context and _richer(context, s.context):
                s.context, s.resource = context, self.resources.for_context(context)
            if time_ns < s.first_ns:
                s.first_ns = time_ns
            elif time_ns > s.last_ns:
                s.last_ns = time_ns
        return s

    def end(self, session_id: str, s: Session, end_ns: int) -> SpanRecord:
        """Mark the session over and build its ``invoke_agent`` span, from its first record to ``end_ns``."""
        s.ended = True
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

    def heartbeats(self, now_ns: int, instrumented: SessionContext) -> Telemetry:
        """One ``hive.heartbeat`` record for the instrumented session and each of its sessions still
        running (workers that have not completed or failed), stamped ``now_ns``."""
        out = Telemetry()
        root = self.touch(instrumented, now_ns)
        for session_id, s in self._by_id.items():
            if s is root or not s.ended:
                trace_id, span_id = session_trace_id(session_id), session_span_id(session_id)
                out.logs.append(heartbeat_log(s.resource, now_ns, trace_id, span_id))
        return out


def linked_to_session(span: SpanRecord, event_half: LlmCall) -> SpanRecord:
    """A merged call lives in Hive's run trace; link it to its place in the session trace."""
    if event_half.event_parent_span_id and span.trace_id != session_trace_id(event_half.session_id):
        span.links.append((session_trace_id(event_half.session_id), event_half.event_parent_span_id))
    return span


def _richer(new: SessionContext, old: SessionContext) -> bool:
    """Prefer the context that knows more (a worker file's meta.json beats a bare session id). A graph
    agent's role beats the queen a live hook assumes until its bus shows otherwise (a heartbeat may come first)."""
    if new.agent_role == A.ROLE_AGENT and old.agent_role == A.ROLE_QUEEN:
        return True
    return sum(v is not None for v in (new.queen_id, new.colony_id, new.worker_id, new.parent_session_id)) > sum(
        v is not None for v in (old.queen_id, old.colony_id, old.worker_id, old.parent_session_id)
    )
