"""Execution and node spans when a pass stops between a start and its end, and the next pass reads on
from the checkpoint: the end alone still makes the span (a node's was lost for good)."""

from __future__ import annotations

from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext

SESSION = SessionContext("session_20260101_120000_abcdef", "queen")


def _event(seq: int, event_type: str) -> HiveRecord:
    event = {"type": event_type, "seq": seq, "stream_id": "queen", "node_id": "queen_node",
             "execution_id": SESSION.session_id, "timestamp": f"2026-01-01T12:00:{seq:02d}", "data": {}}  # fmt: skip
    return HiveRecord(RecordKind.EVENT, event, SESSION)


def test_an_execution_and_a_node_started_in_an_earlier_pass_still_end_in_spans() -> None:
    first, second = EventMapper(ResourceFactory(), None), EventMapper(ResourceFactory(), None)
    assert not [s for r in (_event(1, "execution_started"), _event(2, "node_loop_started")) for s in first.map(r, 1).spans]
    spans = [s for r in (_event(3, "node_loop_completed"), _event(4, "execution_completed")) for s in second.map(r, 1).spans]
    by_name = {span.name: span for span in spans}
    assert {"hive.node queen_node", "hive.execution"} <= set(by_name)
    node = by_name["hive.node queen_node"]
    assert node.start_ns == node.end_ns and node.trace_id == by_name["hive.execution"].trace_id
