"""Splitting a stored request that a receiver refused as too large: every item once, in order, under
its own resource and scope, for each signal; a single item (or garbage) cannot be split."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hive_otel.client.export._split import split_request
from tests.client_helpers import attrs, decode
from tests.otlp_bodies import logs_request, metrics_request, spans_request, trace_request


def _spans(body: bytes) -> list[tuple[str, str, str]]:
    """(session id of the resource, scope name, span name) for every span of a traces request."""
    out = []
    for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
        assert rs.schema_url == "https://schema/1"
        for ss in rs.scope_spans:
            out.extend((str(attrs(rs.resource.attributes)["hive.session.id"]), ss.scope.name, s.name) for s in ss.spans)
    return out


@pytest.mark.parametrize("count", [2, 3, 17])
def test_halves_hold_every_span_once_in_order_with_resource_and_scope(count: int) -> None:
    body = spans_request(range(count))

    halves = split_request("traces", body)

    assert halves is not None
    (first, first_items), (second, second_items) = halves
    assert (first_items, second_items) == (count // 2, count - count // 2)
    assert _spans(first) + _spans(second) == _spans(body)
    assert len(first) < len(body) and len(second) < len(body)


def test_halves_of_halves_down_to_single_spans() -> None:
    pending = [spans_request(range(8))]
    singles = []
    while pending:
        body = pending.pop(0)
        halves = split_request("traces", body)
        if halves is None:
            singles.append(body)
        else:
            pending[:0] = [half for half, _ in halves]
    assert [s for body in singles for s in _spans(body)] == _spans(spans_request(range(8)))
    assert len(singles) == 8


def test_logs_and_metrics_split_too() -> None:
    logs = ExportLogsServiceRequest.FromString(logs_request(1))
    logs.MergeFromString(logs_request(2))  # two resource_logs, one record each
    metrics = ExportMetricsServiceRequest.FromString(metrics_request(1))
    metrics.MergeFromString(metrics_request(2))

    for signal, body in (("logs", logs.SerializeToString()), ("metrics", metrics.SerializeToString())):
        halves = split_request(signal, body)  # type: ignore[arg-type]
        assert halves is not None, signal
        assert [items for _, items in halves] == [1, 1]
        parts = decode([(signal, half) for half, _ in halves])
        whole = decode([(signal, body)])
        assert (parts.logs, parts.metrics) == (whole.logs, whole.metrics)


def test_one_item_or_garbage_cannot_be_split() -> None:
    assert split_request("traces", trace_request(1)) is None
    assert split_request("logs", logs_request(1)) is None
    assert split_request("traces", b"\xff\xff garbage") is None
