"""EventMapper: Hive records in, OpenTelemetry spans and log records out.

One entry point over the record kinds, each mapped by its own module:

    RecordKind.EVENT                 bus events             events.py    (the session's derived trace)
    RecordKind.NODE_STEP             L3 tool_logs.jsonl     run_logs.py  (Hive's own trace, verbatim ids)
    RecordKind.NODE_DETAIL           L2 details.jsonl       run_logs.py
    RecordKind.RUN_SUMMARY           L1 summary.json        run_logs.py
    RecordKind.QUEEN_SESSION_META    a queen's meta.json    status.py    (one log record)

Both kinds of mapping share the sessions seen and the calls waiting for their other half
(state.py): a call seen both as a bus event and as an L3 line is exported once. The metrics derived
from the spans are mapping too (metrics.py), computed per batch when it is encoded. The mapper reads
no clock and does no I/O: ``now_ns`` comes in with each call.
"""

from __future__ import annotations

from collections.abc import Callable

from hive_otel.client.mapping.calls import LlmCall, ToolCall, llm_call_span, tool_call_span
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.events import BusEventMapper
from hive_otel.client.mapping.ids import session_span_id, session_trace_id
from hive_otel.client.mapping.run_logs import RunLogMapper
from hive_otel.client.mapping.state import MappingState
from hive_otel.client.mapping.status import queen_session_meta_log
from hive_otel.client.mapping.telemetry import Telemetry
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext

__all__ = ["EventMapper"]

_KindMapper = Callable[[HiveRecord, int], Telemetry]


class EventMapper:
    """Maps a stream of HiveRecords of any kind; see the module docstring for who maps what."""

    def __init__(self, resources: ResourceFactory, join_window_ns: int | None, include_content: bool = False) -> None:
        self._state = MappingState.new(resources, join_window_ns, include_content)
        self.counters = self._state.counters
        self._events, run_logs = BusEventMapper(self._state), RunLogMapper(self._state)
        self._by_kind: dict[RecordKind, _KindMapper] = {  # the kinds other than bus events
            RecordKind.NODE_STEP: run_logs.map_step,
            RecordKind.NODE_DETAIL: run_logs.map_node_detail,
            RecordKind.RUN_SUMMARY: run_logs.map_run_summary,
            RecordKind.RUN_LIFECYCLE: run_logs.map_run_event,
            RecordKind.QUEEN_SESSION_META: self._map_queen_session_meta,
        }

    def map(self, record: HiveRecord, now_ns: int) -> Telemetry:
        out = Telemetry()
        self.map_into(record, now_ns, out)
        return out

    def map_into(self, record: HiveRecord, now_ns: int, out: Telemetry) -> None:
        """Map one record, appending its spans and log records to ``out``; if mapping it raises,
        ``out`` keeps none of them. Bus events (nearly every record) are written straight into ``out``."""
        self.counters["records"] += 1
        if not isinstance(record.data, dict):  # every kind's mapping reads a JSON object
            self.counters["unusable_records"] += 1
            return
        if record.kind is not RecordKind.EVENT:
            out.extend(self._by_kind[record.kind](record, now_ns))
            return
        spans, logs = len(out.spans), len(out.logs)
        try:
            self._events.map_into(record, now_ns, out)
        except BaseException:
            del out.spans[spans:], out.logs[logs:]  # as if the record had not been mapped at all
            raise

    def release(self, now_ns: int) -> Telemetry:
        """Calls whose partner did not arrive within the join window, exported alone."""
        return self._released(self._state.llm.expired(now_ns), self._state.tools.expired(now_ns))

    def release_all(self) -> Telemetry:
        """Every call still waiting for its partner, exported alone (the store merges late partners)."""
        return self._released(self._state.llm.flush(), self._state.tools.flush())

    def flush(self) -> Telemetry:
        """End of input: everything still pending. The end of a file ends no session: a session's
        ``invoke_agent`` span is emitted only when Hive says it is over (an L1 summary, or the bus
        events in ``events._DONE_EVENTS``)."""
        return self.release_all()

    def heartbeats(self, now_ns: int, instrumented: SessionContext) -> Telemetry:
        """One ``hive.heartbeat`` record for the instrumented session and each of its sessions still
        running (workers that have not completed or failed), stamped ``now_ns``."""
        return self._state.sessions.heartbeats(now_ns, instrumented)

    @property
    def join_counters(self) -> dict[str, int]:
        llm, tools = self._state.llm, self._state.tools
        return {
            "llm_merged": llm.merged,
            "llm_alone": llm.released_alone,
            "tool_merged": tools.merged,
            "tool_alone": tools.released_alone,
            "pending": len(llm) + len(tools),
        }

    @staticmethod
    def _released(llm_calls: list[LlmCall], tool_calls: list[ToolCall]) -> Telemetry:
        out = Telemetry()
        out.spans.extend(llm_call_span(c) for c in llm_calls)
        out.spans.extend(tool_call_span(c) for c in tool_calls)
        return out

    def _map_queen_session_meta(self, record: HiveRecord, now_ns: int) -> Telemetry:
        sid = record.context.session_id
        resource = self._state.sessions.resources.for_context(self._state.sessions.known_context(record.context))
        time_ns = record.written_ns or now_ns
        log = queen_session_meta_log(record.data, resource, time_ns, session_trace_id(sid), session_span_id(sid))
        return Telemetry(logs=[log])
