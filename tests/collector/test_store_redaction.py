"""The store enforces the redaction allowlist again: private attribute keys never reach a table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from hive_otel.client.redaction import RedactionPolicy
from hive_otel.collector.store.otlp_schema import ingest_trailer
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import (
    BASE_NS,
    LlmCall,
    Session,
    SessionBatch,
    ToolCall,
    key_values,
    logs_request,
    traces_request,
)

CANARIES = ("CANARY-args-6f1d", "CANARY-error-93ab", "CANARY-resource-4c2e", "CANARY-event-77d0", "CANARY-log-0b5f",
            "CANARY-metric-e8a1")  # fmt: skip
QUEEN = Session("sess-r1", "sess-r1")
# Engines that hold no rows of their own (their targets are scanned instead).
NO_ROWS_ENGINES = ("MaterializedView", "Null")


def leaky_traces(canaries: tuple[str, ...] = CANARIES) -> ExportTraceServiceRequest:
    """Two spans carrying private keys on the span, its event and link, and on the resource."""
    tool = ToolCall("r:tool", is_error=True).span()
    tool.attributes.extend(key_values({"gen_ai.tool.call.arguments": canaries[0], "hive.error.message": canaries[1]}))
    tool.events.add(time_unix_nano=BASE_NS, name="exception", attributes=key_values({"exception.message": canaries[3]}))
    link = tool.links.add(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)))
    link.attributes.extend(key_values({"hive.file.path": canaries[3], "hive.call_key": "linked"}))
    llm = LlmCall("r:llm").span()
    llm.attributes.extend(key_values({"gen_ai.output.text": canaries[0]}))
    request = traces_request([SessionBatch(QUEEN, [tool, llm])])
    request.resource_spans[0].resource.attributes.extend(key_values({"host.name": canaries[2]}))
    return request


def scan(store: Store, needles: tuple[str, ...]) -> dict[str, int]:
    """``{"table.column": rows}`` for every String, Map, Array or Tuple column of every table holding a needle."""
    _, tables = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        f"AND engine NOT IN ({', '.join(repr(e) for e in NO_ROWS_ENGINES)}) ORDER BY name"
    )
    hits: dict[str, int] = {}
    for (table,) in tables:
        _, columns = store.query(
            f"SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '{table}'"
        )
        text = [name for name, type_ in columns if any(word in type_ for word in ("String", "Map", "Array", "Tuple"))]
        if not text:
            continue
        probes = [f"countIf(multiSearchAny(toString(`{name}`), [{', '.join(repr(n) for n in needles)}]))" for name in text]
        _, rows = store.query(f"SELECT {', '.join(probes)} FROM `{table}`")
        hits.update({f"{table}.{name}": int(count) for name, count in zip(text, rows[0], strict=True) if int(count)})
    return hits


def dropped(store: Store, tenant: str) -> dict[str, int]:
    _, rows = store.query(
        "SELECT signal, sum(dropped_attributes) FROM redaction_dropped_attributes "
        f"WHERE tenant = '{tenant}' GROUP BY signal ORDER BY signal"
    )
    return {signal: int(count) for signal, count in rows}


@pytest.fixture
def allow_all(store: Store) -> Iterator[None]:
    store.allow_all_keys = True
    yield
    store.allow_all_keys = False


def test_private_keys_leave_no_trace_in_any_table_and_are_counted(store: Store, tenant: str) -> None:
    store.ingest_traces(leaky_traces(), tenant=tenant)
    logs = logs_request(QUEEN, [(BASE_NS, "tool_call_completed", {"gen_ai.tool.call.result": CANARIES[4]})])
    logs.resource_logs[0].scope_logs[0].scope.attributes.extend(key_values({"hive.event.data": CANARIES[4]}))
    store.ingest_logs(logs, tenant=tenant)
    metrics = ExportMetricsServiceRequest()
    rm = metrics.resource_metrics.add()
    rm.resource.attributes.extend(key_values({**QUEEN.resource(), "process.command_line": CANARIES[5]}))
    gauge = rm.scope_metrics.add().metrics.add(name="hive.queue")
    gauge.gauge.data_points.extend(
        NumberDataPoint(time_unix_nano=BASE_NS + i, as_int=i, attributes=key_values({"hive.file.path": CANARIES[5]}))
        for i in range(3)
    )
    private = key_values({"hive.file.path": CANARIES[5]})
    exponential = rm.scope_metrics[0].metrics.add(name="hive.latency").exponential_histogram.data_points.add(
        time_unix_nano=BASE_NS, count=1, attributes=private
    )
    exponential.exemplars.add(time_unix_nano=BASE_NS, as_double=1.0, filtered_attributes=private)
    rm.scope_metrics[0].metrics.add(name="hive.gc").summary.data_points.add(time_unix_nano=BASE_NS, attributes=private)
    store.ingest_metrics(metrics, tenant=tenant)

    assert scan(store, CANARIES) == {}
    # Per stored row: tool span 2 own + 1 event + 1 link (hive.call_key is exported) + 1 resource,
    # llm span 1 own + 1 resource; the log record 1 own + 1 scope; each of 3 gauge points 1 own + 1 resource,
    # the exponential histogram's point 1 own + 1 exemplar's + 1 resource, the summary's point 1 own + 1 resource.
    assert dropped(store, tenant) == {"logs": 2, "metrics": 11, "traces": 7}
    _, rows = store.query(
        f"SELECT SpanAttributes['gen_ai.tool.name'], `Links.Attributes` FROM otel_traces "
        f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}' AND SpanName LIKE 'execute_tool%'"
    )
    assert rows == [["web_search", [{"hive.call_key": "linked"}]]]  # exported keys stay
    _, facts = store.query(f"SELECT call_key, tool_name, is_error FROM usage_facts FINAL WHERE tenant = '{tenant}'")
    assert sorted(facts) == [["r:llm", "", 0], ["r:tool", "web_search", 1]]


def test_the_positive_control_finds_what_the_scan_looks_for(store: Store, tenant: str) -> None:
    store.ingest_traces(traces_request([SessionBatch(QUEEN, [LlmCall("r:control-5d9e").span()])]), tenant=tenant)
    assert {"otel_traces.SpanAttributes", "usage_facts.call_key"} <= set(scan(store, ("r:control-5d9e",)))


def test_allow_all_keys_stores_every_key_and_drops_nothing(store: Store, tenant: str, allow_all: None) -> None:
    kept = tuple(f"KEPT-{i}" for i in range(4))  # not the canaries: the other tests scan for those
    store.ingest_traces(leaky_traces(kept), tenant=tenant)
    _, rows = store.query(
        "SELECT SpanAttributes['gen_ai.tool.call.arguments'], ResourceAttributes['host.name'] FROM otel_traces "
        f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}' AND SpanName LIKE 'execute_tool%'"
    )
    assert rows == [[kept[0], kept[2]]]
    assert dropped(store, tenant) == {}


@pytest.mark.parametrize("with_wire", [False, True], ids=["decoded", "with-its-bytes"])
def test_a_client_cannot_send_the_store_fields_itself(store: Store, tenant: str, with_wire: bool) -> None:
    """Also when the receiver hands the store the bytes it parsed (OTLP/HTTP protobuf does)."""
    raw = leaky_traces().SerializeToString() + ingest_trailer("someone-else", 7, allow_all_keys=True)
    spoofed = ExportTraceServiceRequest.FromString(raw)
    assert len(UnknownFieldSet(spoofed)) == 3  # the client's own fields 1000-1002 survived decoding
    store.ingest_traces(spoofed, tenant=tenant, wire=raw if with_wire else None)
    assert scan(store, CANARIES[:4]) == {}
    _, rows = store.query("SELECT count() FROM usage_facts FINAL WHERE tenant = 'someone-else'")
    assert rows == [[0]]
    assert dropped(store, tenant)["traces"] == 7


def test_the_store_keeps_exactly_the_policy_exported_keys(store: Store) -> None:
    _, rows = store.query("SELECT argMax(keys, version) FROM redaction_allowed_keys")
    assert frozenset(rows[0][0]) == RedactionPolicy.load(None).exported_keys
    versions = store.query("SELECT count() FROM redaction_allowed_keys")[1]
    store.migrate()  # the same policy again writes no new version
    assert store.query("SELECT count() FROM redaction_allowed_keys")[1] == versions


def test_unrelated_spans_keep_their_exported_keys(store: Store, tenant: str) -> None:
    span = Span(name="GET /", trace_id=bytes(range(16)), span_id=bytes(range(8)), start_time_unix_nano=BASE_NS)
    span.attributes.extend(key_values({"http.request.method": "GET", "error.type": "timeout"}))
    store.ingest_traces(traces_request([SessionBatch(QUEEN, [span])]), tenant=tenant)
    _, rows = store.query(f"SELECT SpanAttributes FROM otel_traces WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'")
    assert rows == [[{"error.type": "timeout"}]]
    assert dropped(store, tenant) == {"traces": 1}


def test_a_request_sent_again_counts_its_dropped_keys_once(store: Store, tenant: str) -> None:
    """A retry after a lost acknowledgement, or a replay, stores no span or log record again, so it drops no
    key again: the counter counts what was stored (it counted every delivery). Metric points are stored
    again (at-least-once), and so are counted again."""
    logs = logs_request(QUEEN, [(BASE_NS, "tool_call_completed", {"gen_ai.tool.call.result": CANARIES[4]})])
    for _ in range(3):
        store.ingest_traces(leaky_traces(), tenant=tenant)
        store.ingest_logs(logs, tenant=tenant)
    assert dropped(store, tenant) == {"logs": 1, "traces": 7}
