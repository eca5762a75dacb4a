"""Values nested past what ClickHouse's OTLP schema carries are stored as their JSON text, not as ''.

A key-value list (a structured log body, a map-valued attribute) or an array inside an array was
stored as '' with a 200 answer: the input tables now refuse such a request (migration 0025) and the
store inserts it again with those values as JSON text. Real chDB store keeping every attribute key
(as a store receiving other OTLP senders does), real collector over loopback for the wire.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store import nested_values
from hive_otel.collector.store.nested_values import flatten_nested_values
from hive_otel.collector.store.store import Store, StoreInputError, open_store
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, logs_request, traces_request


def kvlist(**values: AnyValue) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in values.items()]))


def array(*values: AnyValue) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=list(values)))


MESSAGE = kvlist(
    role=AnyValue(string_value="assistant"),
    tokens=AnyValue(int_value=12),
    score=AnyValue(double_value=0.5),
    final=AnyValue(bool_value=True),
    raw=AnyValue(bytes_value=b"\x00\xff"),
    tool_calls=array(kvlist(name=AnyValue(string_value="search"), args=array(AnyValue(int_value=1)))),
    empty=AnyValue(),
)
MESSAGE_TEXT = (
    '{"role":"assistant","tokens":"12","score":"0.5","final":"true","raw":"AP8=",'
    '"tool_calls":[{"name":"search","args":["1"]}],"empty":""}'
)
MATRIX = array(array(AnyValue(int_value=1), AnyValue(int_value=2)), AnyValue(string_value="é"))
MATRIX_TEXT = '[["1","2"],"é"]'


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(f"chdb://{tmp_path_factory.mktemp('chdb') / 'store'}", allow_all_keys=True)
    yield opened
    opened.close()


def test_nested_values_become_json_text_and_flat_ones_stay() -> None:
    request = logs_request(Session("s", "s"), [(BASE_NS, "x", {})])
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    record.body.CopyFrom(MESSAGE)
    record.attributes.add(key="matrix").value.CopyFrom(MATRIX)
    record.attributes.add(key="flat").value.CopyFrom(array(AnyValue(int_value=1)))
    before = [kv.value.SerializeToString() for kv in record.attributes if kv.key != "matrix"]  # copies, not views
    assert flatten_nested_values(request) == 2
    assert json.loads(record.body.string_value) == json.loads(MESSAGE_TEXT)
    assert record.body.string_value == MESSAGE_TEXT
    assert [kv.value.string_value for kv in record.attributes if kv.key == "matrix"] == [MATRIX_TEXT]
    assert [kv.value.SerializeToString() for kv in record.attributes if kv.key != "matrix"] == before
    assert flatten_nested_values(request) == 0


def test_every_signal_stores_nested_values_as_json_text(store: Store, tenant: str) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    llm = LlmCall(f"{tenant}:call", model="gpt-4o", input_tokens=7).span()
    llm.attributes.add(key="gen_ai.request.shape").value.CopyFrom(MATRIX)
    plain = LlmCall(f"{tenant}:plain", model="gpt-4o", input_tokens=5).span()
    event = llm.events.add(time_unix_nano=BASE_NS, name="gen_ai.choice")
    event.attributes.add(key="message").value.CopyFrom(MESSAGE)
    traces = traces_request([SessionBatch(session, [llm, plain])])
    assert store.ingest_traces(traces, tenant=tenant).new_calls == 2

    logs = logs_request(session, [(BASE_NS, "structured", {}), (BASE_NS + 1, "plain", {})])
    logs.resource_logs[0].scope_logs[0].log_records[0].body.CopyFrom(MESSAGE)
    logs.resource_logs[0].scope_logs[0].log_records[1].body.string_value = "text"
    assert store.ingest_logs(logs, tenant=tenant).accepted == 2

    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name=f"{tenant}.gauge")
    point = metric.gauge.data_points.add(time_unix_nano=BASE_NS, as_int=3)
    point.attributes.add(key="labels").value.CopyFrom(kvlist(a=AnyValue(string_value="b")))
    store.ingest_metrics(metrics, tenant=tenant)

    where = f"ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    columns = "SpanAttributes['gen_ai.request.shape'], Events.Attributes"
    spans = store.query(f"SELECT {columns} FROM otel_traces WHERE {where}")[1]
    assert sorted(spans, key=str) == sorted([[MATRIX_TEXT, [{"message": MESSAGE_TEXT}]], ["", []]], key=str)
    bodies = store.query(f"SELECT Body FROM otel_logs WHERE {where} ORDER BY Timestamp")[1]
    assert bodies == [[MESSAGE_TEXT], ["text"]]
    labels = store.query(f"SELECT Attributes['labels'] FROM otel_metrics_gauge WHERE MetricName = '{tenant}.gauge'")[1]
    assert labels == [['{"a":"b"}']]
    totals = usage(store, ["model"], tenant=tenant).totals  # the calls of the refused insert counted once
    assert (totals["llm_calls"], totals["input_tokens"]) == (2, 12)


def test_a_structured_log_body_over_otlp_http_is_stored_whole(store: Store, tenant: str) -> None:
    logs = logs_request(Session(f"{tenant}-s", f"{tenant}-s"), [(BASE_NS, "structured", {})])
    logs.resource_logs[0].scope_logs[0].log_records[0].body.CopyFrom(MESSAGE)
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as collector:
        connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=30)
        headers = {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant}
        connection.request("POST", "/v1/logs", body=logs.SerializeToString(), headers=headers)
        response = connection.getresponse()
        status, body = response.status, response.read()
        connection.close()
    assert status == 200
    assert not logs_service_pb2.ExportLogsServiceResponse.FromString(body).HasField("partial_success")
    where = f"ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    assert store.query(f"SELECT Body FROM otel_logs WHERE {where}")[1] == [[MESSAGE_TEXT]]


def test_a_span_with_nothing_nested_is_not_rewritten() -> None:
    span = LlmCall("k", model="gpt-4o").span()
    assert flatten_nested_values(Span.FromString(span.SerializeToString())) == 0


def test_a_request_its_json_text_would_blow_up_is_refused(
    store: Store, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON escapes a control character in six bytes: 16 MiB of them were stored as a 100 MB body.
    (The limit is lowered here so that the test stays small.)"""
    monkeypatch.setattr(nested_values, "MAX_REWRITTEN_BYTES", 50_000)
    logs = logs_request(Session(f"{tenant}-s", f"{tenant}-s"), [(BASE_NS, "structured", {})])
    logs.resource_logs[0].scope_logs[0].log_records[0].body.CopyFrom(kvlist(k=AnyValue(string_value="\x01" * 20_000)))
    with pytest.raises(StoreInputError, match="over 50000: not stored"):
        store.ingest_logs(logs, tenant=tenant)
    where = f"ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    assert store.query(f"SELECT count() FROM otel_logs WHERE {where}")[1] == [[0]]
