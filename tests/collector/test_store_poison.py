"""A request ClickHouse refuses as data is a permanent error, decided by cause, item by item.

Real collector (HTTP and gRPC) on a real chDB store. A span carrying an unknown field of the group
wire type parses in Python's protobuf but ClickHouse refuses it (UNKNOWN_PROTOBUF_FORMAT): that
span alone is rejected (OTLP partial success), the rest of its request is stored and counted; a
request of only such spans is a 400 / INVALID_ARGUMENT (not a retryable 503), and the next
request of any tenant goes through.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

# field 99, wire type 3 (start group) holding a varint, then wire type 4 (end group)
GROUP_FIELD = bytes([0x9B, 0x06, 0x08, 0x05, 0x9C, 0x06])


def poisoned(span: Span) -> Span:
    return Span.FromString(span.SerializeToString() + GROUP_FIELD)


def _calls(tenant: str, count: int, tag: str) -> list[LlmCall]:
    return [LlmCall(f"{tenant}:{tag}:{i}", model="gpt-4o", input_tokens=10 + i, span_id=bytes([7, len(tag), i + 1]) * 2
                    + b"\x01\x02") for i in range(count)]  # fmt: skip


@pytest.fixture
def collector(store: Store) -> Iterator[Collector]:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as server:
        yield server


def _post(collector: Collector, body: bytes, tenant: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=30)
    try:
        headers = {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant}
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_only_the_refused_span_is_rejected_and_the_rest_is_stored(
    collector: Collector, store: Store, tenant: str
) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    good = _calls(tenant, 5, "good")
    spans = [c.span() for c in good]
    spans.insert(2, poisoned(_calls(tenant, 1, "bad")[0].span()))
    status, body = _post(collector, traces_request([SessionBatch(session, spans)]).SerializeToString(), tenant)
    assert status == 200
    partial = trace_service_pb2.ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 1
    assert "UNKNOWN_PROTOBUF_FORMAT" in partial.error_message
    totals = usage(store, ["model"], tenant=tenant).totals
    assert (totals["llm_calls"], totals["input_tokens"]) == (5, sum(10 + i for i in range(5)))


def test_a_request_of_refused_spans_is_permanent_and_the_queue_behind_goes_through(
    collector: Collector, store: Store, tenant: str
) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    bad = traces_request([SessionBatch(session, [poisoned(c.span()) for c in _calls(tenant, 3, "bad")])])
    status, body = _post(collector, bad.SerializeToString(), tenant)
    assert status == 400, body  # not 503: a client would retry it forever ahead of its queue
    assert b"UNKNOWN_PROTOBUF_FORMAT" in body
    with grpc.insecure_channel(collector.grpc_target) as channel, pytest.raises(grpc.RpcError) as refused:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(bad, timeout=30, metadata=[("x-hive-tenant-id", tenant)])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    good = traces_request([SessionBatch(session, [c.span() for c in _calls(tenant, 2, "next")])])
    assert _post(collector, good.SerializeToString(), tenant)[0] == 200
    assert usage(store, ["model"], tenant=tenant).totals["llm_calls"] == 2
    assert collector.counters()["bad_requests"]["store_refused_input"] == 2
