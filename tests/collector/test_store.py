"""Ingest into a real chDB store: raw tables, one fact per call, exact rollups under duplicates."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.store import Store, StoreError, StoreLockedError, open_store, read_owner
from hive_otel.collector.store.transport import StoreInputError
from tests.collector.otlp_builders import (
    BASE_NS,
    LlmCall,
    Session,
    SessionBatch,
    ToolCall,
    logs_request,
    session_span,
    traces_request,
)

HOUR_NS = 3600 * 10**9
QUEEN = Session("sess-q1", "sess-q1", colony="", queen="queen-1")
WORKER = Session("sess-w1", "sess-q1", role="worker", colony="colony-a", worker="worker-1", parent="sess-q1")
OTHER_QUEEN = Session("sess-q2", "sess-q2", queen="queen-2", colony="colony-b")


def workload() -> tuple[list[SessionBatch], list[tuple[Session, LlmCall | ToolCall]]]:
    """Three sessions, three models, runtime-priced and unpriced calls, tools that fail."""
    emitted: list[tuple[Session, LlmCall | ToolCall]] = []
    models = [("gpt-4o", "openai", 0.0125), ("claude-sonnet-4-5", "anthropic", 0.0), ("gpt-4o-mini", "openai", 0.0003)]
    for s_index, session in enumerate((QUEEN, WORKER, OTHER_QUEEN)):
        for i in range(12):
            model, provider, cost = models[(i + s_index) % 3]
            call = LlmCall(
                f"{session.session}:node-1:{i}", model=model, provider=provider, cost_usd=cost,
                input_tokens=1000 + 10 * i, output_tokens=50 + i, cached_tokens=100 * (i % 2),
                at_ns=BASE_NS + i * HOUR_NS // 3,
            )  # fmt: skip
            emitted.append((session, call))
        for i in range(4):
            emitted.append((session, ToolCall(f"{session.session}:tool:{i}", is_error=i == 3, at_ns=BASE_NS + i)))
    batches = [SessionBatch(s, [c.span() for sess, c in emitted if sess == s]) for s in (QUEEN, WORKER, OTHER_QUEEN)]
    return batches, emitted


def expected_by(key: str, emitted: list[tuple[Session, LlmCall | ToolCall]]) -> dict[str, dict[str, object]]:
    totals: dict[str, dict[str, object]] = {}
    for session, call in emitted:
        group = {"model": getattr(call, "model", ""), "colony": session.colony, "session": session.session,
                 "root_session": session.root}[key]  # fmt: skip
        t = totals.setdefault(group, {"llm_calls": 0, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0,
                                      "cost_usd": Decimal(0), "tool_calls": 0, "tool_errors": 0})  # fmt: skip
        if isinstance(call, LlmCall):
            t["llm_calls"] += 1
            t["input_tokens"] += call.input_tokens
            t["output_tokens"] += call.output_tokens
            t["cached_tokens"] += call.cached_tokens
            t["cost_usd"] += Decimal(repr(call.cost_usd))
        else:
            t["tool_calls"] += 1
            t["tool_errors"] += int(call.is_error)
    return totals


def observed_by(store: Store, key: str, tenant: str) -> dict[str, dict[str, object]]:
    report = usage(store, [key], tenant=tenant)
    return {
        row[key]: {m: (Decimal(repr(row[m])) if m == "cost_usd" else row[m]) for m in
                   ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "tool_calls", "tool_errors")}
        for row in report.rows
    }  # fmt: skip


def rollup_snapshot(store: Store, tenant: str) -> list[list[object]]:
    _, rows = store.query(
        "SELECT hour, user, model, provider, colony, root_session, agent_role, kind, tool_name, sum(llm_calls), "
        "sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cost_usd), sum(cost_estimated_usd), "
        f"sum(unpriced_calls), sum(tool_calls), sum(tool_errors) FROM usage_hourly WHERE tenant = '{tenant}' "
        "GROUP BY ALL HAVING sum(llm_calls) != 0 OR sum(tool_calls) != 0 ORDER BY ALL"
    )
    return rows


def fact_count(store: Store, tenant: str) -> tuple[int, int]:
    _, rows = store.query(f"SELECT count(), uniqExact(call_key) FROM usage_facts FINAL WHERE tenant = '{tenant}'")
    return int(rows[0][0]), int(rows[0][1])


def test_rollups_equal_the_emitted_totals_by_model_colony_session_and_root(store: Store, tenant: str) -> None:
    batches, emitted = workload()
    result = store.ingest_traces(traces_request(batches), tenant=tenant)
    assert (result.accepted, result.rejected, result.new_calls) == (len(emitted), 0, len(emitted))
    for key in ("model", "colony", "session", "root_session"):
        assert observed_by(store, key, tenant) == expected_by(key, emitted), key


def test_a_batch_sent_three_times_leaves_rollups_and_fact_counts_identical(store: Store, tenant: str) -> None:
    batches, emitted = workload()
    request = traces_request(batches)
    store.ingest_traces(request, tenant=tenant)
    first = (rollup_snapshot(store, tenant), fact_count(store, tenant))
    for _ in range(2):
        again = store.ingest_traces(request, tenant=tenant)
        assert (again.new_calls, again.updated_calls, again.unchanged_calls) == (0, 0, len(emitted))
        assert (rollup_snapshot(store, tenant), fact_count(store, tenant)) == first
    assert fact_count(store, tenant) == (len(emitted), len(emitted))
    _, rows = store.query(f"SELECT count() FROM otel_traces WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'")
    assert rows[0][0] == len(emitted)  # raw spans are stored once, however often they are sent


@pytest.mark.parametrize("order", ["log-then-event", "event-then-log"])
def test_a_call_seen_from_l3_and_from_the_bus_is_one_richer_call(store: Store, tenant: str, order: str) -> None:
    key = "sess-q1:node-7:3"
    event = LlmCall(key, model="gpt-4o", provider="openai", cost_usd=0.02, input_tokens=900, output_tokens=80,
                    cached_tokens=300, at_ns=BASE_NS + 5 * HOUR_NS, source="event")  # fmt: skip
    log = LlmCall(key, input_tokens=900, output_tokens=80, at_ns=BASE_NS, source="log")
    sends = [log, event] if order == "log-then-event" else [event, log]
    for call in sends:
        store.ingest_traces(traces_request([SessionBatch(QUEEN, [call.span()])]), tenant=tenant)
    _, rows = store.query(
        "SELECT model, provider, input_tokens, cached_tokens, cost_usd, cost_source, call_source, occurred_at "
        f"FROM usage_facts FINAL WHERE tenant = '{tenant}'"
    )
    assert rows == [["gpt-4o", "openai", 900, 300, 0.02, "runtime", "event+log", "2026-01-01 05:00:00.000000000"]]
    report = usage(store, ["model", "hour"], tenant=tenant)
    assert [(r["model"], r["hour"], r["llm_calls"], r["cost_usd"]) for r in report.rows] == [
        ("gpt-4o", "2026-01-01 05:00:00", 1, 0.02)
    ]
    assert report.totals["llm_calls"] == 1 and report.totals["unpriced_calls"] == 0


def test_tenant_argument_overrides_the_payload_tenant_everywhere(store: Store, tenant: str) -> None:
    store.ingest_traces(traces_request([SessionBatch(QUEEN, [LlmCall("k-override").span()])]), tenant=tenant)
    _, facts = store.query(f"SELECT tenant FROM usage_facts FINAL WHERE call_key = 'k-override' AND tenant = '{tenant}'")
    _, raw = store.query(
        "SELECT ResourceAttributes['hive.tenant.id'] FROM otel_traces WHERE SpanAttributes['hive.call_key'] = 'k-override'"
    )
    assert facts == [[tenant]] and raw == [[tenant]]


def test_unkeyed_usage_spans_are_rejected_but_stored(store: Store, tenant: str) -> None:
    span = LlmCall("").span()
    del span.attributes[:]
    span.attributes.extend(LlmCall("x").span().attributes[:1])  # gen_ai.operation.name only
    span.trace_id = b""
    result = store.ingest_traces(traces_request([SessionBatch(QUEEN, [span])]), tenant=tenant)
    assert (result.accepted, result.rejected) == (0, 1)
    assert "hive.call_key" in result.message


def test_session_status_follows_spans_and_phase_logs(store: Store, tenant: str) -> None:
    spans = [LlmCall("st:1", at_ns=BASE_NS + 10).span(), session_span(WORKER, BASE_NS, BASE_NS + 2 * HOUR_NS, failed=True)]
    store.ingest_traces(traces_request([SessionBatch(QUEEN, spans[:1]), SessionBatch(WORKER, spans[1:])]), tenant=tenant)
    logs = logs_request(QUEEN, [(BASE_NS + 20, "queen_phase_changed", {"hive.queen.phase": "independent"}),
                                (BASE_NS + 3 * HOUR_NS, "queen_phase_changed", {"hive.queen.phase": "colony"})])  # fmt: skip
    assert store.ingest_logs(logs, tenant=tenant).accepted == 2
    store.ingest_logs(logs, tenant=tenant)  # a replay changes nothing
    _, rows = store.query(
        "SELECT session, status, phase, last_event_at, llm_calls FROM agent_session_status "
        f"WHERE tenant = '{tenant}' ORDER BY session"
    )
    assert rows == [
        ["sess-q1", "active", "colony", "2026-01-01 03:00:00.000000000", 1],
        ["sess-w1", "failed", "", "2026-01-01 02:00:00.000000000", 0],
    ]


def test_metrics_land_in_the_exporter_tables(store: Store, tenant: str) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, NumberDataPoint

    from tests.collector.otlp_builders import key_values

    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend(key_values(QUEEN.resource()))
    sm = rm.scope_metrics.add()
    cost = sm.metrics.add(name="hive.cost", unit="USD")
    cost.sum.is_monotonic = True
    cost.sum.aggregation_temporality = 1
    point_attributes = key_values({"gen_ai.token.type": "input", "gen_ai.tool.call.arguments": "private"})
    cost.sum.data_points.append(NumberDataPoint(time_unix_nano=BASE_NS, as_double=0.5, attributes=point_attributes))
    tokens = sm.metrics.add(name="gen_ai.client.token.usage", unit="{token}")
    tokens.histogram.data_points.append(
        HistogramDataPoint(time_unix_nano=BASE_NS, count=2, sum=300, bucket_counts=[0, 2], explicit_bounds=[100])
    )
    gauge = sm.metrics.add(name="hive.queue", unit="1")
    gauge.gauge.data_points.append(NumberDataPoint(time_unix_nano=BASE_NS, as_int=7))
    assert store.ingest_metrics(request, tenant=tenant).accepted == 3
    where = f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    assert store.query(f"SELECT MetricName, Value, IsMonotonic, Attributes FROM otel_metrics_sum {where}")[1] == [
        ["hive.cost", 0.5, True, {"gen_ai.token.type": "input"}]  # the key the policy does not export is gone
    ]
    assert store.query(f"SELECT Count, Sum, BucketCounts FROM otel_metrics_histogram {where}")[1] == [[2, 300, [0, 2]]]
    assert store.query(f"SELECT Value, TimeUnix FROM otel_metrics_gauge {where}")[1] == [[7, "2026-01-01 00:00:00"]]


def test_points_past_2106_are_refused_alone_with_nested_values_and_when_all_are_late(store: Store, tenant: str) -> None:
    """The walk over every point for a time past 2106 runs only once the input table refused a request
    for one; with nested values refused too, both repairs apply, and a request of late points alone
    is rejected whole with the reason (nothing stored, no error)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
    from opentelemetry.proto.metrics.v1.metrics_pb2 import NumberDataPoint

    past_2106 = (1 << 32) * 10**9
    nested = KeyValue(key="gen_ai.token.type", value=AnyValue(kvlist_value=KeyValueList(values=[
        KeyValue(key="a", value=AnyValue(int_value=1))
    ])))  # fmt: skip

    def request(*times: int) -> ExportMetricsServiceRequest:
        out = ExportMetricsServiceRequest()
        metric = out.resource_metrics.add().scope_metrics.add().metrics.add(name="late")
        for value, time in enumerate(times):
            metric.gauge.data_points.append(NumberDataPoint(time_unix_nano=time, as_int=value, attributes=[nested]))
        return out

    mixed = store.ingest_metrics(request(BASE_NS, past_2106, BASE_NS + 1, past_2106 + 1), tenant=tenant)
    assert (mixed.accepted, mixed.rejected) == (2, 2) and "times_before_2106" in mixed.messages[0]
    late = store.ingest_metrics(request(past_2106), tenant=tenant)
    assert (late.accepted, late.rejected) == (0, 1) and "times_before_2106" in late.messages[0]
    where = f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    assert store.query(f"SELECT Value, Attributes FROM otel_metrics_gauge {where} ORDER BY Value")[1] == [
        [0, {"gen_ai.token.type": '{"a":"1"}'}],
        [2, {"gen_ai.token.type": '{"a":"1"}'}],
    ]


def test_raw_span_columns_are_written_like_the_exporter(store: Store, tenant: str) -> None:
    call = LlmCall("raw:1", span_id=bytes.fromhex("00f067aa0ba902b7"))
    store.ingest_traces(traces_request([SessionBatch(QUEEN, [call.span()])]), tenant=tenant)
    _, rows = store.query(
        "SELECT TraceId, SpanId, ParentSpanId, SpanKind, StatusCode, ServiceName, Duration, "
        "SpanAttributes['gen_ai.usage.input_tokens'], SpanAttributes['hive.cost_usd'] FROM otel_traces "
        "WHERE SpanId = '00f067aa0ba902b7'"
    )
    assert rows == [["0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7", "", "SPAN_KIND_CLIENT",
                     "STATUS_CODE_UNSET", "hive", 1_200_000_000, "1000", "0"]]  # fmt: skip


def test_read_only_queries_refuse_writes(store: Store) -> None:
    with pytest.raises(StoreError, match="read-only"):
        store.query("DROP TABLE usage_facts", readonly=True)
    with pytest.raises(StoreError):
        store.query("SELECT 1; DROP TABLE usage_facts", readonly=True)
    assert store.query("SELECT 1 AS one", readonly=True) == (["one"], [[1]])


def test_second_open_of_a_chdb_path_names_the_owner(store: Store) -> None:
    path = Path(store.url.removeprefix("chdb://"))
    store.set_owner_url("http://127.0.0.1:4318")
    with pytest.raises(StoreLockedError) as info:
        open_store(store.url)
    assert f"process {os.getpid()}" in str(info.value) and "http://127.0.0.1:4318" in str(info.value)
    assert read_owner(path) == {
        "pid": os.getpid(),
        "owner_url": "http://127.0.0.1:4318",
        "since": pytest.approx(0, abs=1e10),
    }


def test_requests_spanning_more_than_100_days_are_stored_whole(store: Store, tenant: str) -> None:
    """The raw tables are partitioned by day and ClickHouse refuses an insert touching more than 100
    partitions: chDB's streaming insert swallowed the refusal, so such a request was acknowledged and
    nothing of it stored (a backfill of an old history, or the requests group commit merges)."""
    days = 150
    session = Session(f"sess-days-{tenant}", f"sess-days-{tenant}")
    calls = [LlmCall(f"{tenant}:day-{i}", at_ns=BASE_NS + i * 24 * HOUR_NS) for i in range(days)]
    request = traces_request([SessionBatch(session, [c.span() for c in calls])])
    assert store.ingest_traces(request, tenant=tenant).new_calls == days
    events = [(BASE_NS + i * 24 * HOUR_NS, "queen_phase_changed", {"hive.queen.phase": "working"}) for i in range(days)]
    store.ingest_logs(logs_request(session, events), tenant=tenant)
    counts = store.query(
        f"SELECT (SELECT count() FROM otel_traces WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'),"
        f" (SELECT count() FROM otel_logs WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'),"
        f" (SELECT count() FROM usage_facts FINAL WHERE tenant = '{tenant}')"
    )[1]
    assert counts == [[days, days, days]]


def test_a_view_that_fails_is_not_acknowledged_and_the_retry_counts_once(store: Store, tenant: str) -> None:
    """chDB's streaming insert reported only errors of parsing: one raised in a materialized view (or
    a constraint, or a limit) was swallowed, so the request was acknowledged and the views after the
    failing one stored nothing. Now the ingest fails (retryable), and the retry counts each call once
    although the views before the failing one had written."""
    batches, emitted = workload()
    request = traces_request(batches)
    store.execute("CREATE TABLE failing_sink (x UInt8) ENGINE = Null")
    store.execute(
        "CREATE MATERIALIZED VIEW failing_mv TO failing_sink AS "
        f"SELECT throwIf(tenant = '{tenant}', 'a view failed') AS x FROM otlp_spans"
    )
    try:
        with pytest.raises(StoreError, match="a view failed") as info:
            store.ingest_traces(request, tenant=tenant)
        assert not isinstance(info.value, StoreInputError)  # the store's fault: the client retries
    finally:
        store.execute("DROP VIEW failing_mv")
        store.execute("DROP TABLE failing_sink")
    store.ingest_traces(request, tenant=tenant)
    assert observed_by(store, "session", tenant) == expected_by("session", emitted)


def test_rows_the_store_makes_fail_loudly_too(store: Store) -> None:
    store.execute("CREATE TABLE checked_rows (a Int64, CONSTRAINT small CHECK a < 10) ENGINE = Null")
    try:
        store._transport.insert_arrow("checked_rows", pa.table({"a": [1, 2]}))
        with pytest.raises(StoreError, match="VIOLATED_CONSTRAINT"):
            store._transport.insert_arrow("checked_rows", pa.table({"a": [3, 11]}))
    finally:
        store.execute("DROP TABLE checked_rows")
