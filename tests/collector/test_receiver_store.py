"""The receiver in front of the real store (embedded chDB), over real sockets on 127.0.0.1.

In-process: gRPC, OTLP/HTTP protobuf+gzip and OTLP/JSON land as exact usage facts, replays change
nothing, and ``hive-otel usage``'s reader gets the same answers through ``/hive/v1/query``.
As a process: ``hive-otel collector`` owns the chDB path, advertises its URL for ``hive-otel sql``,
refuses a second owner with exit code 3 and shuts down cleanly on SIGTERM.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Summary,
    SummaryDataPoint,
)

from hive_otel.collector.queries.remote import RemoteStore
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, read_owner
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, ToolCall, traces_request
from tests.collector.otlp_json import otlp_json

REPO = Path(__file__).resolve().parents[2]
QUEEN = Session("sess-rq1", "sess-rq1", queen="queen-1")
WORKER = Session("sess-rw1", "sess-rq1", role="worker", colony="colony-r", worker="worker-1", parent="sess-rq1")
OTHER = Session("sess-rq2", "sess-rq2", queen="queen-2", colony="colony-s")


def _calls(session: Session, model: str, n: int) -> list[LlmCall | ToolCall]:
    calls: list[LlmCall | ToolCall] = [
        LlmCall(f"{session.session}:llm:{i}", model=model, input_tokens=100 + i, output_tokens=10, cost_usd=0.01,
                at_ns=BASE_NS + i * 1_000_000_000)
        for i in range(n)
    ]  # fmt: skip
    calls.append(ToolCall(f"{session.session}:tool:0", is_error=True))
    return calls


WORKLOAD = {
    QUEEN: _calls(QUEEN, "gpt-4o", 3),
    WORKER: _calls(WORKER, "claude-sonnet-4-5", 4),
    OTHER: _calls(OTHER, "gpt-4o", 2),
}


def _request(session: Session) -> trace_service_pb2.ExportTraceServiceRequest:
    return traces_request([SessionBatch(session, [call.span() for call in WORKLOAD[session]])])


@pytest.fixture
def collector(store: Store) -> Iterator[Collector]:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as server:
        yield server


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _send_workload(collector: Collector, tenant: str) -> None:
    """The queen over gRPC, the worker as gzip protobuf over HTTP, the other queen as OTLP/JSON."""
    with grpc.insecure_channel(collector.grpc_target) as channel:
        response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            _request(QUEEN), metadata=[("x-hive-tenant-id", tenant)], compression=grpc.Compression.Gzip, timeout=30
        )
        assert not response.HasField("partial_success")
    status, _ = _post(
        collector.http_url,
        "/v1/traces",
        gzip.compress(_request(WORKER).SerializeToString()),
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip", "x-hive-tenant-id": tenant},
    )
    assert status == 200
    status, body = _post(
        collector.http_url,
        "/v1/traces",
        otlp_json(_request(OTHER)),
        {"Content-Type": "application/json", "x-hive-tenant-id": tenant},
    )
    assert (status, json.loads(body)) == (200, {})


def test_every_transport_lands_exact_facts_and_replays_change_nothing(
    collector: Collector, store: Store, tenant: str
) -> None:
    # what `hive-otel usage` uses while the collector owns the store, with the store's local admin token
    reader = RemoteStore(collector.http_url, token=store.admin_token)
    expected = {
        "gpt-4o": {"llm_calls": 5, "input_tokens": 3 * 100 + 3 + 2 * 100 + 1},
        "claude-sonnet-4-5": {"llm_calls": 4, "input_tokens": 4 * 100 + 6},
    }
    for _ in range(3):  # the first send and two replays
        _send_workload(collector, tenant)
        report = usage(reader, ["model"], tenant=tenant)
        by_model = {row["model"]: {k: row[k] for k in ("llm_calls", "input_tokens")} for row in report.rows if row["model"]}
        assert by_model == expected
        assert report.totals["tool_calls"] == report.totals["tool_errors"] == 3
        columns, rows = reader.query(f"SELECT count(), uniqExact(call_key) FROM usage_facts FINAL WHERE tenant = '{tenant}'")
        assert rows == [[12, 12]], (columns, rows)
    assert collector.counters()["items_accepted"] == {"traces": 3 * 12}


def test_every_metric_kind_is_stored_and_a_point_past_2106_is_refused_alone(
    collector: Collector, store: Store, tenant: str
) -> None:
    """Exponential histograms and summaries were refused with a partial success, which the Python SDK's
    exporter reports as a success; a metric time past 2106 was stored as 2106-02-07 without a word."""
    gauge = Metric(name="queue.depth", gauge=Gauge(data_points=[NumberDataPoint(time_unix_nano=BASE_NS, as_int=7)]))
    exponential = Metric(
        name="http.server.request.duration",
        exponential_histogram=ExponentialHistogram(
            aggregation_temporality=2,
            data_points=[ExponentialHistogramDataPoint(
                time_unix_nano=BASE_NS, count=6, sum=2.5, scale=-3, zero_count=1, min=0.0, max=1.5,
                positive=ExponentialHistogramDataPoint.Buckets(offset=-2, bucket_counts=[1, 0, 3]),
                negative=ExponentialHistogramDataPoint.Buckets(offset=4, bucket_counts=[1]),
                exemplars=[Exemplar(time_unix_nano=BASE_NS, as_double=0.25, trace_id=bytes(range(16)))],
            )],
        ),
    )  # fmt: skip
    summary = Metric(
        name="go_gc_duration_seconds",
        summary=Summary(data_points=[SummaryDataPoint(
            time_unix_nano=BASE_NS, count=10, sum=0.5,
            quantile_values=[SummaryDataPoint.ValueAtQuantile(quantile=q, value=v) for q, v in ((0.5, 0.01), (1.0, 0.2))],
        )]),
    )  # fmt: skip
    past_2106 = (1 << 32) * 10**9
    late = Metric(name="late", gauge=Gauge(data_points=[
        NumberDataPoint(time_unix_nano=BASE_NS, as_int=1), NumberDataPoint(time_unix_nano=past_2106, as_int=2),
        NumberDataPoint(time_unix_nano=BASE_NS + 1, as_int=3),
    ]))  # fmt: skip
    request = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[gauge, exponential, summary, late])])]
    )
    status, body = _post(
        collector.http_url,
        "/v1/metrics",
        request.SerializeToString(),
        {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant},
    )
    assert status == 200
    partial = metrics_service_pb2.ExportMetricsServiceResponse.FromString(body).partial_success
    # The point alone, not its metric (an attack found a whole series gone for one point, counted as 1).
    assert partial.rejected_data_points == 1 and "times_before_2106" in partial.error_message
    assert collector.counters()["items_accepted"] == {"metrics": 5}
    where = f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    _, rows = store.query(
        "SELECT MetricName, Count, Sum, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, NegativeOffset, "
        "NegativeBucketCounts, Min, Max, AggregationTemporality, Exemplars.Value, Exemplars.TraceId "
        f"FROM otel_metrics_exponential_histogram {where}"
    )
    assert rows == [["http.server.request.duration", 6, 2.5, -3, 1, -2, [1, 0, 3], 4, [1], 0.0, 1.5, 2, [0.25],
                     [bytes(range(16)).hex()]]]  # fmt: skip
    _, rows = store.query(
        f"SELECT MetricName, Count, Sum, ValueAtQuantiles.Quantile, ValueAtQuantiles.Value FROM otel_metrics_summary {where}"
    )
    assert rows == [["go_gc_duration_seconds", 10, 0.5, [0.5, 1.0], [0.01, 0.2]]]
    _, rows = store.query(f"SELECT MetricName, Value FROM otel_metrics_gauge {where} ORDER BY MetricName, Value")
    assert rows == [["late", 1.0], ["late", 3.0], ["queue.depth", 7.0]]


def test_a_link_to_an_invalid_span_context_is_stored(collector: Collector, store: Store, tenant: str) -> None:
    """The OpenTelemetry SDKs keep a link to an invalid span context when it has attributes, with its
    ids all zeros. The collector refused the whole request for it (400: the SDK drops the batch)."""
    call = LlmCall(f"{tenant}:linked", input_tokens=9)
    span = call.span()
    span.links.add(trace_id=bytes(16), span_id=bytes(8)).attributes.add(key="reason").value.string_value = "retry"
    status, body = _post(
        collector.http_url,
        "/v1/traces",
        traces_request([SessionBatch(QUEEN, [span])]).SerializeToString(),
        {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant},
    )
    assert status == 200, body
    where = f"ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    rows = store.query(f"SELECT Links.TraceId, Links.SpanId FROM otel_traces WHERE {where}")[1]
    assert rows == [[[""], [""]]]
    assert usage(store, ["model"], tenant=tenant).totals["input_tokens"] == 9


def test_a_refusal_tells_the_client_why_in_a_word_and_no_more(collector: Collector, store: Store, tenant: str) -> None:
    """The 400 of a request the store refuses, and the 503 of a store that fails, carried ClickHouse's
    whole error text: the table's UUID, the constraint's expression and the rows' values. The client
    now gets the reason (the constraint, ClickHouse's error name); the collector's log keeps the rest."""
    late = LlmCall(f"{tenant}:late", at_ns=2**63 + 5).span()
    headers = {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant}
    body = traces_request([SessionBatch(QUEEN, [late])]).SerializeToString()
    status, answer = _post(collector.http_url, "/v1/traces", body, headers)
    assert status == 400
    assert Status.FromString(answer).message == "the store cannot accept this request: constraint times_before_2262"

    store.execute("CREATE TABLE failing_sink (x UInt8) ENGINE = Null")
    store.execute(
        "CREATE MATERIALIZED VIEW failing_mv TO failing_sink AS "
        f"SELECT throwIf(tenant = '{tenant}', 'secret row value') AS x FROM otlp_spans"
    )
    try:
        body = traces_request([SessionBatch(QUEEN, [LlmCall(f"{tenant}:ok").span()])]).SerializeToString()
        status, answer = _post(collector.http_url, "/v1/traces", body, headers)
    finally:
        store.execute("DROP VIEW failing_mv")
        store.execute("DROP TABLE failing_sink")
    assert status == 503
    assert Status.FromString(answer).message.startswith(
        "the store could not ingest the request (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO); retry in"
    )


def test_query_endpoint_refuses_writes_through_the_real_store(collector: Collector, store: Store) -> None:
    status, body = _post(
        collector.http_url,
        "/hive/v1/query",
        b'{"sql": "DROP TABLE usage_facts"}',
        {"Content-Type": "application/json", "Authorization": f"Bearer {store.admin_token}"},
    )
    assert status == 400
    assert "only one SELECT" in json.loads(body)["error"]


# --- `hive-otel collector` as a process -------------------------------------------------------


def _hive_otel(*args: str) -> list[str]:
    return [sys.executable, "-m", "hive_otel.cli", *args]


def _wait_for_owner_url(path: Path, process: subprocess.Popen[str], timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owner = read_owner(path)
        if owner and owner.get("owner_url"):
            return str(owner["owner_url"])
        if process.poll() is not None:
            raise AssertionError(f"the collector exited early: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the collector did not advertise its URL in time")


def test_collector_command_owns_the_store_serves_readers_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store_flag = f"--store=chdb://{path}"
    ports = ["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        _hive_otel("collector", store_flag, *ports), cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        owner_url = _wait_for_owner_url(path, process)
        assert read_owner(path)["pid"] == process.pid

        status, _ = _post(owner_url, "/v1/traces", _request(QUEEN).SerializeToString(),
                          {"Content-Type": "application/x-protobuf"})  # fmt: skip
        assert status == 200
        # The command assembled the API onto the same port (hive_otel.collector.service).
        with urllib.request.urlopen(f"{owner_url}/api/quotas/local", timeout=30) as api:
            assert api.status == 200 and json.load(api)["tenant"] == "local"

        # `hive-otel sql` cannot open the files while the collector owns them; it asks the collector.
        sql = subprocess.run(
            _hive_otel("sql", store_flag, "--format=json", "SELECT count() AS calls FROM usage_facts FINAL"),
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert sql.returncode == 0, sql.stderr
        assert json.loads(sql.stdout) == [{"calls": len(WORKLOAD[QUEEN])}]
        # `hive-otel usage` and `status` ask it by parameters (POST /hive/v1/usage, /hive/v1/status).
        for command, flags in (("usage", ["--group-by=session"]), ("status", [])):
            read = subprocess.run(
                _hive_otel(command, store_flag, "--format=json", *flags),
                cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert read.returncode == 0, read.stderr
            answer = json.loads(read.stdout)
            sessions = [row["session"] for row in (answer["rows"] if command == "usage" else answer)]
            assert sessions == [QUEEN.session], (command, answer)

        second = subprocess.run(
            _hive_otel("collector", store_flag, *ports), cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 3
        assert f"in use by process {process.pid}" in second.stderr
        assert owner_url in second.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"OTLP/HTTP on {owner_url}" in stdout
    assert read_owner(path) is None  # the lock went with the process


def test_collector_command_with_allow_all_keys_stores_other_senders_keys(tmp_path: Path) -> None:
    """Without the flag the store keeps only the policy's keys (tests/collector/test_store_redaction.py):
    another sender's series that differ only by such a key would be stored as one."""
    path = tmp_path / "store"
    store_flag = f"--store=chdb://{path}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        _hive_otel("collector", store_flag, "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--allow-all-keys"),
        cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        owner_url = _wait_for_owner_url(path, process)
        request = _request(QUEEN)
        request.resource_spans[0].resource.attributes.add(key="host.name", value=AnyValue(string_value="build-7"))
        status, _ = _post(owner_url, "/v1/traces", request.SerializeToString(), {"Content-Type": "application/x-protobuf"})
        assert status == 200
        sql = subprocess.run(
            _hive_otel("sql", store_flag, "--format=json",
                       "SELECT DISTINCT ResourceAttributes['host.name'] AS host FROM otel_traces"),
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert sql.returncode == 0, sql.stderr
        assert json.loads(sql.stdout) == [{"host": "build-7"}]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_collector_command_rejects_bad_flags_before_opening_the_store(tmp_path: Path) -> None:
    result = subprocess.run(
        _hive_otel("collector", f"--store=chdb://{tmp_path / 'store'}", "--http", "localhost"),
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--http: expected HOST:PORT" in result.stderr
    assert not (tmp_path / "store").exists()
