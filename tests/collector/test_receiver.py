"""The collector's OTLP receiver over real sockets on 127.0.0.1 (port 0): gRPC and HTTP.

Protocol behaviour (status codes, partial success, busy/unavailable answers, size limits) is checked
against ``RecordingStore``, a small in-test fake store: it records what it was handed and can be
told to reject, block or fail, which the real store cannot be made to do on demand. The real chDB
store is exercised in tests/collector/test_receiver_store.py.
"""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from hive_otel.collector.auth.loopback import is_loopback_client
from hive_otel.collector.receiver.otlp import MAX_GZIP_MEMBERS, RequestRejected, decompress_capped
from hive_otel.collector.receiver.receiver import CollectorServer
from hive_otel.collector.store.console import ConsoleRefused
from tests.collector.otlp_json import otlp_json

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")
T0 = 1_780_000_000_000_000_000
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


# --- request builders -------------------------------------------------------------------------


def _resource() -> Resource:
    return Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="hive"))])


def traces_request(spans: int = 2, padding: str = "") -> trace_service_pb2.ExportTraceServiceRequest:
    items = [
        Span(
            trace_id=TRACE_ID,
            span_id=(int.from_bytes(SPAN_ID, "big") + i).to_bytes(8, "big"),
            parent_span_id=PARENT_ID,
            name="chat claude-sonnet-4",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=T0,
            end_time_unix_nano=T0 + 1000,
            attributes=[KeyValue(key="hive.call_key", value=AnyValue(string_value=f"call-{i}{padding}"))],
            links=[Span.Link(trace_id=TRACE_ID, span_id=PARENT_ID)],
        )
        for i in range(spans)
    ]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=_resource(), scope_spans=[ScopeSpans(spans=items)])]
    )


def logs_request() -> logs_service_pb2.ExportLogsServiceRequest:
    record = LogRecord(
        time_unix_nano=T0,
        event_name="hive.queen_phase_changed",
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        attributes=[KeyValue(key="hive.queen.phase", value=AnyValue(string_value="working"))],
    )
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=_resource(), scope_logs=[ScopeLogs(log_records=[record])])]
    )


def metrics_request() -> metrics_service_pb2.ExportMetricsServiceRequest:
    points = [
        NumberDataPoint(
            time_unix_nano=T0 + i,
            as_double=0.5 * i,
            exemplars=[Exemplar(time_unix_nano=T0, as_double=1.0, trace_id=TRACE_ID, span_id=SPAN_ID)],
        )
        for i in range(3)
    ]
    metric = Metric(name="hive.cost", gauge=Gauge(data_points=points))
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(resource=_resource(), scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )


SIGNALS = {
    "traces": (traces_request, trace_service_pb2.ExportTraceServiceResponse, "rejectedSpans", 2),
    "logs": (logs_request, logs_service_pb2.ExportLogsServiceResponse, "rejectedLogRecords", 1),
    "metrics": (metrics_request, metrics_service_pb2.ExportMetricsServiceResponse, "rejectedDataPoints", 3),
}


# --- the fake store and the server ------------------------------------------------------------


@dataclass
class Result:
    rejected: int = 0
    message: str = ""


@dataclass
class RecordingStore:
    """Fake store for protocol tests only (see the module docstring)."""

    rejected: int = 0
    message: str = ""
    gate: threading.Event | None = None  # when set, ingests wait for it
    failure: Exception | None = None
    received: list[tuple[str, Message, str | None]] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)

    def _ingest(self, signal: str, request: Message, tenant: str | None) -> Result:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.failure is not None:
            raise self.failure
        self.received.append((signal, request, tenant))
        return Result(self.rejected, self.message)

    def ingest_traces(self, request: Message, tenant: str | None, wire: bytes | None = None) -> Result:
        return self._ingest("traces", request, tenant)

    def ingest_logs(self, request: Message, tenant: str | None, wire: bytes | None = None) -> Result:
        return self._ingest("logs", request, tenant)

    def ingest_metrics(self, request: Message, tenant: str | None, wire: bytes | None = None) -> Result:
        return self._ingest("metrics", request, tenant)

    admin_token: str = "local-admin-token-for-tests"

    def query(self, sql: str, readonly: bool = True) -> tuple[list[str], list[list[object]]]:
        if "boom" in sql:
            raise ConsoleRefused("Syntax error near boom")  # as the real store refuses a bad statement
        return ["model", "calls"], [["claude-sonnet-4", 3]]

    def console_query(self, sql: str) -> tuple[list[str], list[list[object]]]:
        return self.query(sql)

    def set_owner_url(self, owner_url: str | None) -> None:
        self.owner_url = owner_url


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def collector(store: RecordingStore) -> Iterator[CollectorServer]:
    with CollectorServer(store, "127.0.0.1:0", "127.0.0.1:0", max_body=64 * 1024, shutdown_grace_s=1) as server:
        yield server


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def status_message(self) -> status_pb2.Status:
        """The google.rpc.Status body of an error reply, in whichever encoding it came."""
        if self.headers.get("content-type") == JSON:
            return json_format.Parse(self.body, status_pb2.Status())
        return status_pb2.Status.FromString(self.body)


def post(
    server: CollectorServer,
    path: str,
    body: bytes | Iterator[bytes],
    content_type: str | None = PROTOBUF,
    headers: dict[str, str] | None = None,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.ports.http, timeout=10)
    try:
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        chunked = not isinstance(body, bytes)
        connection.request("POST", path, body=body, headers=all_headers, encode_chunked=chunked)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def get(server: CollectorServer, path: str) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.ports.http, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


# --- accepted requests ------------------------------------------------------------------------


def test_grpc_accepts_all_three_signals_with_gzip(collector: CollectorServer, store: RecordingStore) -> None:
    with grpc.insecure_channel(collector.grpc_target) as channel:
        stubs = {
            "traces": trace_service_pb2_grpc.TraceServiceStub(channel),
            "logs": logs_service_pb2_grpc.LogsServiceStub(channel),
            "metrics": metrics_service_pb2_grpc.MetricsServiceStub(channel),
        }
        for name, (build, _, _, _) in SIGNALS.items():
            response = stubs[name].Export(
                build(), compression=grpc.Compression.Gzip, metadata=[("x-hive-tenant-id", "acme")], timeout=10
            )
            assert not response.HasField("partial_success")
    assert [(name, request, tenant) for name, request, tenant in store.received] == [
        (name, build(), "acme") for name, (build, _, _, _) in SIGNALS.items()
    ]
    counters = collector.counters()
    assert counters["items_accepted"] == {"traces": 2, "logs": 1, "metrics": 3}
    assert counters["requests"] == {"grpc.traces": 1, "grpc.logs": 1, "grpc.metrics": 1}


@pytest.mark.parametrize("signal", sorted(SIGNALS))
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("encoding", ["identity", "gzip", "deflate"])  # deflate: the SDKs offer it (it was a 415)
def test_http_accepts_protobuf_and_json_plain_gzip_or_deflate(
    collector: CollectorServer, store: RecordingStore, signal: str, content_type: str, encoding: str
) -> None:
    build, response_type, _, count = SIGNALS[signal]
    request = build()
    body = request.SerializeToString() if content_type == PROTOBUF else otlp_json(request)
    compress = {"identity": bytes, "gzip": gzip.compress, "deflate": zlib.compress}[encoding]
    reply = post(collector, f"/v1/{signal}", compress(body), content_type, {"Content-Encoding": encoding})

    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == content_type  # answered in the request's encoding
    if content_type == JSON:
        assert json.loads(reply.body) == {}
    else:
        assert response_type.FromString(reply.body) == response_type()
    # hex ids decoded to the exact bytes; no tokens file and no tenant header: the single tenant "local"
    assert store.received == [(signal, request, "local")]
    assert collector.counters()["items_accepted"] == {signal: count}


def test_json_with_charset_snake_case_and_unknown_fields_is_accepted(
    collector: CollectorServer, store: RecordingStore
) -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE_ID.hex().upper(),
                                "spanId": SPAN_ID.hex(),
                                "parentSpanId": "",
                                "name": "execute_tool web_search",
                                "kind": 1,
                                "startTimeUnixNano": str(T0),
                                "someFutureField": {"x": 1},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    reply = post(collector, "/v1/traces", json.dumps(document).encode(), "application/json; charset=utf-8")
    assert reply.status == 200, reply.body
    span = store.received[0][1].resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, SPAN_ID, b"")
    assert (span.kind, span.start_time_unix_nano) == (Span.SPAN_KIND_INTERNAL, T0)


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_store_rejections_come_back_as_partial_success(collector: CollectorServer, store: RecordingStore, content_type):
    store.rejected, store.message = 1, "span without hive.call_key"
    request = traces_request(spans=2)
    body = request.SerializeToString() if content_type == PROTOBUF else otlp_json(request)
    reply = post(collector, "/v1/traces", body, content_type)
    assert reply.status == 200
    if content_type == JSON:
        partial = json.loads(reply.body)["partialSuccess"]
        assert int(partial["rejectedSpans"]) == 1
        assert partial["errorMessage"] == "span without hive.call_key"
    else:
        partial = trace_service_pb2.ExportTraceServiceResponse.FromString(reply.body).partial_success
        assert (partial.rejected_spans, partial.error_message) == (1, "span without hive.call_key")
    assert collector.counters()["items_accepted"] == {"traces": 1}
    assert collector.counters()["items_rejected"] == {"traces": 1}


def test_grpc_partial_success(collector: CollectorServer, store: RecordingStore) -> None:
    store.rejected, store.message = 2, "metric type not stored"
    with grpc.insecure_channel(collector.grpc_target) as channel:
        response = metrics_service_pb2_grpc.MetricsServiceStub(channel).Export(metrics_request(), timeout=10)
    assert response.partial_success.rejected_data_points == 2
    assert response.partial_success.error_message == "metric type not stored"


# --- bad requests -----------------------------------------------------------------------------


def _json_trace(**span_ids: str) -> bytes:
    span = {"traceId": TRACE_ID.hex(), "spanId": SPAN_ID.hex(), "name": "chat m", **span_ids}
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


GOOD_BODY = traces_request().SerializeToString()
BOMB = gzip.compress(bytes(8 * 1024 * 1024))  # 8 MiB of zeros in about 8 KiB

BAD_REQUESTS = {
    # name: (body, content type, extra headers, status, reason, words the message must contain)
    "garbage": (b"this is not protobuf at all", PROTOBUF, {}, 400, "bad_protobuf", "not a valid"),
    "truncated": (GOOD_BODY[: len(GOOD_BODY) // 2], PROTOBUF, {}, 400, "bad_protobuf", "truncated"),
    "wrong_content_type": (GOOD_BODY, "text/plain", {}, 415, "unsupported_media_type", "Content-Type"),
    "no_content_type": (GOOD_BODY, None, {}, 415, "unsupported_media_type", "Content-Type"),
    "unknown_encoding": (GOOD_BODY, PROTOBUF, {"Content-Encoding": "br"}, 415, "unsupported_encoding", "br"),
    "bad_json": (b'{"resourceSpans": [', JSON, {}, 400, "bad_json", "not valid JSON"),
    "json_not_object": (b"[1, 2]", JSON, {}, 400, "bad_json", "JSON object"),
    "json_wrong_type": (b'{"resourceSpans": 7}', JSON, {}, 400, "bad_json", "resourceSpans"),
    "json_short_trace_id": (_json_trace(traceId="abc123"), JSON, {}, 400, "bad_ids", "traceId: expected 32 hex"),
    "json_non_hex_span_id": (_json_trace(spanId="zzzzzzzzzzzzzzzz"), JSON, {}, 400, "bad_ids", "spanId"),
    "json_base64_trace_id": (_json_trace(traceId="W47/95gDgQPSabYzgT/GDA=="), JSON, {}, 400, "bad_ids", "traceId"),
    "json_long_parent_id": (_json_trace(parentSpanId="00" * 9), JSON, {}, 400, "bad_ids", "parentSpanId"),
    "json_missing_trace_id": (_json_trace(traceId=""), JSON, {}, 400, "bad_ids", "trace_id: expected 16 bytes"),
    "protobuf_short_span_id": (
        trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=TRACE_ID, span_id=b"\1")])])]
        ).SerializeToString(),
        PROTOBUF,
        {},
        400,
        "bad_ids",
        "span_id: expected 8 bytes, got 1",
    ),
    "protobuf_zero_trace_id": (
        trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=bytes(16), span_id=SPAN_ID)])])]
        ).SerializeToString(),
        PROTOBUF,
        {},
        400,
        "bad_ids",
        "all zeros",
    ),
    "protobuf_long_parent_id": (
        trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
                Span(trace_id=TRACE_ID, span_id=SPAN_ID), Span(trace_id=TRACE_ID, span_id=SPAN_ID, parent_span_id=bytes(9)),
            ])])]
        ).SerializeToString(),
        PROTOBUF,
        {},
        400,
        "bad_ids",
        "spans[1].parent_span_id: expected 8 bytes, got 9",
    ),
    "protobuf_short_link_span_id": (  # the ids read from the bytes send a span with links to the whole check
        trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
                Span(trace_id=TRACE_ID, span_id=SPAN_ID, links=[Span.Link(trace_id=TRACE_ID, span_id=PARENT_ID),
                                                               Span.Link(trace_id=TRACE_ID, span_id=b"\1\2")]),
            ])])]
        ).SerializeToString(),
        PROTOBUF,
        {},
        400,
        "bad_ids",
        "links[1].span_id: expected 8 bytes, got 2",
    ),
    "not_gzip": (GOOD_BODY, PROTOBUF, {"Content-Encoding": "gzip"}, 400, "bad_gzip", "not valid gzip"),
    "not_deflate": (GOOD_BODY, PROTOBUF, {"Content-Encoding": "deflate"}, 400, "bad_deflate", "not valid deflate"),
    "deflate_bomb": (zlib.compress(bytes(8 * 1024 * 1024)), PROTOBUF, {"Content-Encoding": "deflate"}, 413, "too_large",
                     "decompressed body exceeds"),
    "truncated_gzip": (gzip.compress(GOOD_BODY)[:-12], PROTOBUF, {"Content-Encoding": "gzip"}, 400, "bad_gzip", "truncated"),
    "oversized": (bytes(200 * 1024), PROTOBUF, {}, 413, "too_large", "exceeds the limit of 65536 bytes"),
    "gzip_bomb": (BOMB, PROTOBUF, {"Content-Encoding": "gzip"}, 413, "too_large", "decompressed body exceeds"),
    # Each member copies the rest of the body: a body of 3,000 empty ones (60 KB) would take ~0.1 s; at
    # the 16 MiB limit, 800,000 of them took minutes of CPU.
    "gzip_members": (gzip.compress(b"") * 3000, PROTOBUF, {"Content-Encoding": "gzip"}, 400, "bad_gzip", "more than 16"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_a_clear_4xx_and_the_collector_stays_up(
    collector: CollectorServer, store: RecordingStore, case: str
) -> None:
    body, content_type, headers, status, reason, words = BAD_REQUESTS[case]
    reply = post(collector, "/v1/traces", body, content_type, headers)

    assert reply.status == status, reply.body
    assert words in reply.status_message().message
    assert collector.counters()["bad_requests"] == {reason: 1}
    assert store.received == []
    # Still serving: the next good request is stored.
    assert post(collector, "/v1/traces", GOOD_BODY).status == 200
    assert len(store.received) == 1


def test_oversized_chunked_body_is_cut_off_at_the_limit(collector: CollectorServer, store: RecordingStore) -> None:
    chunks = iter([bytes(16 * 1024)] * 8)  # no Content-Length: the streamed size is what counts
    reply = post(collector, "/v1/traces", chunks)
    assert reply.status == 413
    assert "exceeds the limit" in reply.status_message().message
    assert store.received == []


def test_unknown_path_and_method(collector: CollectorServer) -> None:
    assert post(collector, "/v1/profiles", GOOD_BODY).status == 404
    assert get(collector, "/v1/traces").status == 405


def test_the_receiver_serves_the_app_and_tells_the_listeners_it_is_given(store: RecordingStore) -> None:
    """It builds no API itself: what answers under /api/ and who hears of an ingest are its arguments."""

    async def api(scope, receive, send) -> None:  # the smallest ASGI app: names the path it was asked
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    heard: list[tuple[str, str]] = []
    listener = lambda signal, request, tenant: heard.append((signal, tenant))  # noqa: E731
    with CollectorServer(store, "127.0.0.1:0", "127.0.0.1:0", mount=api, listeners=[listener]) as collector:
        assert get(collector, "/api/sessions").body == b"/api/sessions"
        assert post(collector, "/v1/traces", GOOD_BODY, headers={"x-hive-tenant-id": "acme"}).status == 200
        assert get(collector, "/healthz").status == 200  # its own routes stay its own
    assert heard == [("traces", "acme")]
    with CollectorServer(store, "127.0.0.1:0", "127.0.0.1:0") as bare:
        assert get(bare, "/api/sessions").status == 404  # nothing given, nothing mounted


def test_bad_clients_do_not_disturb_a_concurrent_good_client(collector: CollectorServer, store: RecordingStore) -> None:
    good_statuses: list[int] = []
    stop = threading.Event()

    def good_client() -> None:
        while not stop.is_set():
            good_statuses.append(post(collector, "/v1/traces", GOOD_BODY).status)

    thread = threading.Thread(target=good_client)
    thread.start()
    try:
        bad_statuses = [
            post(collector, "/v1/traces", body, content_type, headers).status
            for body, content_type, headers, *_ in BAD_REQUESTS.values()
            for _ in range(3)
        ]
        with grpc.insecure_channel(collector.grpc_target) as channel:
            raw_export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            for _ in range(5):
                with pytest.raises(grpc.RpcError):
                    raw_export(b"\xff\xff garbage", timeout=10)
    finally:
        stop.set()
        thread.join(10)
    assert all(400 <= status < 500 for status in bad_statuses)
    assert good_statuses and set(good_statuses) == {200}
    assert len(store.received) == len(good_statuses)
    assert get(collector, "/healthz").status == 200


def test_grpc_bad_requests(collector: CollectorServer, store: RecordingStore) -> None:
    bad_ids = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=b"\1" * 15, span_id=SPAN_ID)])])]
    )
    with grpc.insecure_channel(collector.grpc_target) as channel:
        raw_export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as garbage:
            raw_export(b"this is not protobuf at all", timeout=10)
        with pytest.raises(grpc.RpcError) as truncated:
            raw_export(GOOD_BODY[: len(GOOD_BODY) // 2], timeout=10)
        with pytest.raises(grpc.RpcError) as wrong_ids:
            stub.Export(bad_ids, timeout=10)
        with pytest.raises(grpc.RpcError) as oversized:
            stub.Export(traces_request(padding="x" * 100 * 1024), timeout=10)
        with pytest.raises(grpc.RpcError) as bomb:  # small on the wire, too big once decompressed
            stub.Export(traces_request(padding="0" * 1024 * 1024), compression=grpc.Compression.Gzip, timeout=10)
        assert stub.Export(traces_request(), timeout=10) is not None  # still serving

    assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid ExportTraceServiceRequest" in garbage.value.details()
    assert truncated.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong_ids.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "trace_id: expected 16 bytes, got 15" in wrong_ids.value.details()
    assert oversized.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert bomb.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert collector.counters()["bad_requests"] == {"bad_protobuf": 2, "bad_ids": 1}
    assert len(store.received) == 1


# --- store busy or failing: nothing acknowledged, retry later --------------------------------


def _retry_delay(error: grpc.RpcError) -> int:
    details = dict(error.trailing_metadata())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details)
    retry_info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry_info)
    return retry_info.retry_delay.seconds


def test_busy_store_answers_429_and_resource_exhausted_with_retry_hints() -> None:
    store = RecordingStore(gate=threading.Event())
    with CollectorServer(
        store, "127.0.0.1:0", "127.0.0.1:0", max_inflight_ingests=1, busy_wait_s=0.05, retry_after_s=3
    ) as collector:
        holder = threading.Thread(target=post, args=(collector, "/v1/traces", GOOD_BODY))
        holder.start()
        try:
            assert store.entered.wait(5)  # the only ingest slot is now taken
            reply = post(collector, "/v1/logs", logs_request().SerializeToString())
            with grpc.insecure_channel(collector.grpc_target) as channel, pytest.raises(grpc.RpcError) as busy:
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(traces_request(), timeout=10)
        finally:
            store.gate.set()
            holder.join(10)
        assert reply.status == 429
        assert reply.headers["retry-after"] == "3"
        assert "busy" in reply.status_message().message
        assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _retry_delay(busy.value) == 3
        assert [name for name, _, _ in store.received] == ["traces"]  # only the first was stored
        assert collector.counters()["store_busy"] == {"logs": 1, "traces": 1}


def test_failing_store_answers_503_and_unavailable_and_acknowledges_nothing() -> None:
    store = RecordingStore(failure=OSError("No space left on device: '/home/someone/.hive/otel/clickhouse'"))
    with CollectorServer(store, "127.0.0.1:0", "127.0.0.1:0") as collector:
        reply = post(collector, "/v1/traces", otlp_json(traces_request()), JSON)
        with grpc.insecure_channel(collector.grpc_target) as channel, pytest.raises(grpc.RpcError) as down:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(traces_request(), timeout=10)
        assert reply.status == 503
        assert reply.headers["retry-after"] == "1"
        # the error's kind, not its text (the store's paths stay in the collector's log)
        assert json.loads(reply.body)["message"] == "the store could not ingest the request (OSError); retry in 1s"
        assert down.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _retry_delay(down.value) == 1
        assert collector.counters()["items_accepted"] == {}
        store.failure = None  # the store recovers: the retried request goes through
        assert post(collector, "/v1/traces", GOOD_BODY).status == 200


# --- local API --------------------------------------------------------------------------------


ADMIN = {"Authorization": f"Bearer {RecordingStore.admin_token}"}


def test_query_endpoint_answers_loopback_clients_with_the_admin_token(collector: CollectorServer) -> None:
    body = json.dumps({"sql": "SELECT 1", "readonly": True}).encode()
    reply = post(collector, "/hive/v1/query", body, JSON, headers=ADMIN)
    assert reply.status == 200
    assert json.loads(reply.body) == {"columns": ["model", "calls"], "rows": [["claude-sonnet-4", 3]]}
    assert post(collector, "/hive/v1/query", body, JSON).status == 401  # even on loopback, without tokens


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"not json", 400, "not valid JSON"),
        (b'{"query": "SELECT 1"}', 400, '"sql"'),
        (b'{"sql": "INSERT INTO t VALUES (1)", "readonly": false}', 400, "read-only"),
        (b'{"sql": "SELECT boom"}', 400, "Syntax error near boom"),
    ],
)
def test_query_endpoint_errors(collector: CollectorServer, body: bytes, status: int, words: str) -> None:
    reply = post(collector, "/hive/v1/query", body, JSON, headers=ADMIN)
    assert reply.status == status
    assert words in json.loads(reply.body)["error"]


def test_query_endpoint_refuses_proxied_requests(collector: CollectorServer) -> None:
    proxied = {"X-Forwarded-For": "203.0.113.9"} | ADMIN
    reply = post(collector, "/hive/v1/query", b'{"sql": "SELECT 1"}', JSON, headers=proxied)
    assert reply.status == 403


@pytest.mark.parametrize(
    ("host", "headers", "allowed"),
    [
        ("127.0.0.1", {}, True),
        ("127.8.9.10", {}, True),
        ("::1", {}, True),
        ("::ffff:127.0.0.1", {}, True),
        ("10.0.0.5", {}, False),
        ("192.168.1.20", {}, False),
        ("203.0.113.9", {}, False),
        ("::ffff:10.0.0.5", {}, False),
        ("2001:db8::1", {}, False),
        ("0.0.0.0", {}, False),
        ("localhost", {}, False),  # a peer address is never a name; refuse what we cannot parse
        ("", {}, False),
        (None, {}, False),
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}, False),
        ("127.0.0.1", {"forwarded": "for=203.0.113.9"}, False),
    ],
)
def test_is_loopback_client(host: str | None, headers: dict[str, str], allowed: bool) -> None:
    assert is_loopback_client(host, headers) is allowed


def test_healthz_reports_counters(collector: CollectorServer) -> None:
    post(collector, "/v1/traces", b"garbage!!")
    reply = get(collector, "/healthz")
    assert reply.status == 200
    document = json.loads(reply.body)
    assert document["status"] == "ok"
    assert document["counters"]["requests"] == {"http.traces": 1}
    assert document["counters"]["bad_requests"] == {"bad_protobuf": 1}


# --- lifecycle --------------------------------------------------------------------------------


def test_a_taken_port_is_an_error_not_a_shared_listener(collector: CollectorServer) -> None:
    taken_http = CollectorServer(RecordingStore(), "127.0.0.1:0", f"127.0.0.1:{collector.ports.http}")
    with pytest.raises(OSError):
        taken_http.start()
    taken_grpc = CollectorServer(RecordingStore(), f"127.0.0.1:{collector.ports.grpc}", "127.0.0.1:0")
    with pytest.raises(OSError):
        taken_grpc.start()
    assert get(collector, "/healthz").status == 200


def test_stop_waits_for_in_flight_requests_and_is_idempotent() -> None:
    store = RecordingStore(gate=threading.Event())
    collector = CollectorServer(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=5)
    collector.start()
    replies: list[Reply] = []
    client = threading.Thread(target=lambda: replies.append(post(collector, "/v1/traces", GOOD_BODY)))
    client.start()
    assert store.entered.wait(5)
    threading.Timer(0.3, store.gate.set).start()
    started = time.monotonic()
    collector.stop()
    client.join(10)
    assert time.monotonic() - started >= 0.25  # stop() waited for the ingest to finish
    assert [reply.status for reply in replies] == [200]  # and the client got its acknowledgement
    collector.stop()
    with pytest.raises(RuntimeError):
        _ = collector.ports


def test_gunzip_takes_one_member_or_several_and_stops_at_the_limit() -> None:
    body = b"x" * 5000
    assert decompress_capped(gzip.compress(body), 5000) == body
    assert decompress_capped(gzip.compress(body) + gzip.compress(b"yz"), 5002) == body + b"yz"  # as gzip(1) does
    with pytest.raises(RequestRejected) as too_large:  # the limit counts every member
        decompress_capped(gzip.compress(body) + gzip.compress(b"yz"), 5001)
    assert too_large.value.http_status == 413
    with pytest.raises(RequestRejected, match="truncated"):
        decompress_capped(gzip.compress(body)[:-6], 5000)
    assert decompress_capped(gzip.compress(b"z") * MAX_GZIP_MEMBERS, 5000) == b"z" * MAX_GZIP_MEMBERS
    with pytest.raises(RequestRejected, match=f"more than {MAX_GZIP_MEMBERS} members"):
        decompress_capped(gzip.compress(b"z") * (MAX_GZIP_MEMBERS + 1), 5000)


def test_log_record_ids_are_optional_but_of_their_size(collector: CollectorServer, store: RecordingStore) -> None:
    unlinked = LogRecord(time_unix_nano=T0, event_name="hive.queen_phase_changed")  # no trace: allowed
    short = LogRecord(time_unix_nano=T0, event_name="hive.queen_phase_changed", trace_id=TRACE_ID, span_id=b"\1\2\3")

    def request(*records: LogRecord) -> bytes:
        scope = ScopeLogs(log_records=list(records))
        return logs_service_pb2.ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(resource=_resource(), scope_logs=[scope])]
        ).SerializeToString()

    assert post(collector, "/v1/logs", request(unlinked)).status == 200
    reply = post(collector, "/v1/logs", request(unlinked, short))
    assert reply.status == 400
    assert "log_records[1].span_id: expected 8 bytes, got 3" in reply.status_message().message
    assert collector.counters()["bad_requests"] == {"bad_ids": 1}
    assert len(store.received) == 1
