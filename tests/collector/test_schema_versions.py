"""``hive.schema_version`` at the receiver: the previous version is upgraded, a future one refused.

Replays recorded client payloads (tests/collector/testdata, made by ``record_payloads``) of version 1
and of version 0 through the real receiver into the real store (chDB): both give the same usage.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from hive_otel import attributes as A
from hive_otel.client.preview import REQUEST_TYPES
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.receiver.otlp import SIGNALS as RECEIVER_SIGNALS
from hive_otel.collector.receiver.otlp import TRACES
from hive_otel.collector.receiver.schema_versions import UnsupportedSchemaVersion, upgrade_request
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from tests.collector.testdata.record_payloads import SIGNALS, payload_path

GROUP_KEYS = ("model", "session", "root_session", "colony", "agent_role", "user", "tool")
_STUBS = {
    "traces": trace_service_pb2_grpc.TraceServiceStub,
    "metrics": metrics_service_pb2_grpc.MetricsServiceStub,
    "logs": logs_service_pb2_grpc.LogsServiceStub,
}


def recorded(version: int, signal: str) -> Message:
    return REQUEST_TYPES[signal].FromString(payload_path(version, signal).read_bytes())


def _version_of(request: Message, index: int = 0) -> str:
    resource = request.resource_spans[index].resource  # type: ignore[attr-defined]
    return next(kv.value.string_value for kv in resource.attributes if kv.key == A.HIVE_SCHEMA_VERSION)


def _with_version(version: str) -> trace_service_pb2.ExportTraceServiceRequest:
    request = recorded(1, "traces")
    for items in request.resource_spans:  # type: ignore[attr-defined]
        for kv in items.resource.attributes:
            if kv.key == A.HIVE_SCHEMA_VERSION:
                kv.value.string_value = version
    return request  # type: ignore[return-value]


# --- the mapping itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("signal", SIGNALS)
def test_a_recorded_v0_request_upgrades_to_exactly_the_v1_request(signal: str) -> None:
    old, new = recorded(0, signal), recorded(1, signal)
    assert old != new
    resources = len(getattr(old, f"resource_{'spans' if signal == 'traces' else signal}"))
    assert upgrade_request(next(s for s in RECEIVER_SIGNALS if s.name == signal), old) == resources
    assert old == new


def test_current_minor_versions_and_plain_otlp_pass_unchanged() -> None:
    minor = _with_version("1.4")
    assert upgrade_request(TRACES, minor) == 0 and _version_of(minor) == "1.4"
    # No hive.schema_version: another client's OTLP; even a key that looks like version 0 stays.
    plain = trace_service_pb2.ExportTraceServiceRequest()
    plain.resource_spans.add().resource.attributes.append(
        KeyValue(key="hive.session_id", value=AnyValue(string_value="s-1"))
    )
    before = plain.SerializeToString()
    assert upgrade_request(TRACES, plain) == 0 and plain.SerializeToString() == before


def test_when_both_spellings_are_present_the_current_one_wins() -> None:
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.resource_spans.add().resource.attributes.extend(
        [
            KeyValue(key=A.HIVE_SCHEMA_VERSION, value=AnyValue(string_value="0")),
            KeyValue(key="hive.session_id", value=AnyValue(string_value="old")),
            KeyValue(key=A.HIVE_SESSION_ID, value=AnyValue(string_value="new")),
        ]
    )
    assert upgrade_request(TRACES, request) == 1
    attributes = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
    assert attributes == {A.HIVE_SCHEMA_VERSION: A.SCHEMA_VERSION, A.HIVE_SESSION_ID: "new"}


@pytest.mark.parametrize(
    ("version", "kind", "words"),
    [("2", "future", "'2' is newer than this collector"), ("17.0", "future", "'17.0' is newer"),
     ("one", "malformed", "must be a version number"), ("", "malformed", "got ''"),
     ("\uff11", "malformed", "must be a version number"), ("\u0663", "malformed", "must be a version number")],
)  # fmt: skip
def test_unreadable_versions_are_refused_before_anything_changes(version: str, kind: str, words: str) -> None:
    request = recorded(0, "traces")
    extra = request.resource_spans.add()  # type: ignore[attr-defined]
    extra.CopyFrom(_with_version(version).resource_spans[0])
    before = request.SerializeToString()
    with pytest.raises(UnsupportedSchemaVersion) as error:
        upgrade_request(TRACES, request)
    assert (error.value.kind, error.value.http_status) == (kind, 400)
    assert words in error.value.message and error.value.message.startswith("resource_spans[")
    assert request.SerializeToString() == before  # the v0 resources in front were not touched


# --- replayed through the receiver into the store ------------------------------------------------------


@pytest.fixture(scope="module")
def collector(store: Store) -> Iterator[Collector]:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as server:
        yield server


def _post(server: Collector, signal: str, body: bytes, tenant: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.ports.http, timeout=30)
    try:
        headers = {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant}
        connection.request("POST", f"/v1/{signal}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _export_grpc(server: Collector, signal: str, request: Message, tenant: str) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        _STUBS[signal](channel).Export(request, metadata=[("x-hive-tenant-id", tenant)], timeout=30)


def _stored(store: Store, tenant: str) -> dict[str, object]:
    """Everything a reader sees of one tenant: usage by every key, sessions, raw resource keys."""
    reports = {key: usage(store, [key], tenant=tenant).as_dict() for key in GROUP_KEYS}
    _, sessions = store.query(
        "SELECT session, agent_role, root_session, parent_session, colony, status, phase, llm_calls, tool_calls "
        f"FROM agent_session_status WHERE tenant = '{tenant}' ORDER BY session"
    )
    keys = {}
    for table in ("otel_traces", "otel_logs", "otel_metrics_sum", "otel_metrics_histogram"):
        _, rows = store.query(
            f"SELECT arraySort(groupUniqArrayArray(mapKeys(ResourceAttributes))), count() FROM {table} "
            f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'"
        )
        keys[table] = rows[0]
    _, span_keys = store.query(
        "SELECT arraySort(groupUniqArrayArray(mapKeys(SpanAttributes))) FROM otel_traces "
        f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    )
    return {"usage": reports, "sessions": sessions, "resource_keys": keys, "span_keys": span_keys}


def test_v0_and_v1_replays_store_identical_usage(collector: Collector, store: Store) -> None:
    for signal in SIGNALS:  # v1 over HTTP, v0 over HTTP and (another tenant) over gRPC
        for version, tenant in ((1, "schema-v1"), (0, "schema-v0-http")):
            status, body = _post(collector, signal, payload_path(version, signal).read_bytes(), tenant)
            assert status == 200, body
        _export_grpc(collector, signal, recorded(0, signal), "schema-v0-grpc")

    v1 = _stored(store, "schema-v1")
    assert v1["usage"]["model"]["totals"]["llm_calls"] > 0 and v1["usage"]["tool"]["totals"]["tool_calls"] > 0
    assert "hive.session.id" in v1["resource_keys"]["otel_traces"][0]
    assert _stored(store, "schema-v0-http") == v1
    assert _stored(store, "schema-v0-grpc") == v1
    upgraded = 2 * sum(len(getattr(recorded(0, s), f"resource_{'spans' if s == 'traces' else s}")) for s in SIGNALS)
    assert collector.counters()["schema_versions"] == {"upgraded": upgraded}


def test_a_future_major_version_is_refused_with_its_number_and_counted(collector: Collector, store: Store) -> None:
    before = collector.counters()["schema_versions"].get("refused_future", 0)
    status, body = _post(collector, "traces", _with_version("2").SerializeToString(), "schema-future")
    assert status == 400
    message = status_pb2.Status.FromString(body).message
    assert "hive.schema_version '2' is newer than this collector" in message

    with pytest.raises(grpc.RpcError) as error:
        _export_grpc(collector, "traces", _with_version("3.1"), "schema-future")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'3.1'" in error.value.details()

    counters = collector.counters()
    assert counters["schema_versions"]["refused_future"] == before + 2
    assert counters["bad_requests"]["unsupported_schema_version"] >= 2
    _, rows = store.query("SELECT count() FROM otel_traces WHERE ResourceAttributes['hive.tenant.id'] = 'schema-future'")
    assert rows == [[0]]
