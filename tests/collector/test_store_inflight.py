"""An insert that fails or dies between its raw part and the views under it is completed, not repeated.

Real chDB store. The raw part of an insert (``otel_traces``, ``otel_logs``) is committed before the
views under it run; the view that fails here is the one that writes the keys, broken for one tenant
with ClickHouse's ``throwIf``, so the insert stops with its raw rows stored and their keys not (what a
crash at that moment leaves, as a SIGKILL audit of the collector found: every span of the request
stored twice after the client's retry, and the trace-id lookup missing the traces for good). The
expected figures are counted from the requests as they are built.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hive_otel.collector.store.inflight import INFLIGHT_MARKER, OWN_VIEWS, InflightInserts
from hive_otel.collector.store.store import Store, StoreError
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, ToolCall, logs_request, traces_request

REPO = Path(__file__).resolve().parents[2]
KEY_VIEWS = {"otel_traces": "otel_traces_to_otel_span_keys_mv", "otel_logs": "otel_logs_to_otel_log_keys_mv"}


@contextmanager
def keys_failing_for(store: Store, raw: str, tenant: str) -> Iterator[None]:
    """The key view under ``raw`` fails for ``tenant``'s rows, then gets its own query back."""
    view = KEY_VIEWS[raw]
    where = f"database = currentDatabase() AND name = '{view}'"
    query = store.query(f"SELECT as_select FROM system.tables WHERE {where}")[1][0][0]
    fail = f"throwIf(ResourceAttributes['hive.tenant.id'] = '{tenant}', 'the key view failed') = 0"
    broken = f"{query} AND {fail}" if " WHERE " in query else f"{query} WHERE {fail}"
    store.execute(f"ALTER TABLE {view} MODIFY QUERY {broken}")
    try:
        yield
    finally:
        store.execute(f"ALTER TABLE {view} MODIFY QUERY {query}")


def _requests(tenant: str) -> tuple[object, object, int, int]:
    """A traces request (calls of two traces) and a logs request of one session, and their item counts."""
    session = Session(f"{tenant}-s", f"{tenant}-s")
    calls = [LlmCall(f"{tenant}:{i}", input_tokens=100 + i) for i in range(6)] + [ToolCall(f"{tenant}:t")]
    spans = [call.span() for call in calls]
    for n, span in enumerate(spans):  # ids the same in every process (the builders' use hash())
        span.span_id = hashlib.md5(f"{tenant}:{n}".encode()).digest()[:8]
        # two traces of this tenant's own (the lookup table has no tenant column)
        span.trace_id = hashlib.md5(f"{tenant}:{span is spans[-1]}".encode()).digest()
    logs = [(BASE_NS + i, "queen_phase_changed", {"hive.queen.phase": f"p{i}"}) for i in range(5)]
    return traces_request([SessionBatch(session, spans)]), logs_request(session, logs), len(spans), len(logs)


def _stored(store: Store, tenant: str) -> dict[str, object]:
    where = f"ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    return {
        "spans": store.query(f"SELECT count(), uniqExact(TraceId, SpanId) FROM otel_traces WHERE {where}")[1][0],
        "logs": store.query(f"SELECT count(), uniqExact(Timestamp, Body, EventName) FROM otel_logs WHERE {where}")[1][0],
        "traces_looked_up": store.query(
            "SELECT uniqExact(TraceId) FROM otel_traces_trace_id_ts WHERE TraceId IN "
            f"(SELECT TraceId FROM otel_traces WHERE {where})"
        )[1][0][0],
        "sessions": store.query(f"SELECT count() FROM agent_sessions FINAL WHERE tenant = '{tenant}'")[1][0][0],
        "calls": store.query(f"SELECT count() FROM usage_facts FINAL WHERE tenant = '{tenant}'")[1][0][0],
    }


def _expected(spans: int, logs: int) -> dict[str, object]:
    return {"spans": [spans, spans], "logs": [logs, logs], "traces_looked_up": 2, "sessions": 1, "calls": spans}


@pytest.mark.parametrize("raw", ["otel_traces", "otel_logs"])
def test_a_retry_after_a_failure_between_the_raw_rows_and_their_keys_stores_nothing_twice(
    store: Store, tenant: str, raw: str
) -> None:
    traces, logs, spans, records = _requests(tenant)
    if raw == "otel_logs":
        store.ingest_traces(traces, tenant)
    with keys_failing_for(store, raw, tenant), pytest.raises(StoreError, match="the key view failed"):
        store.ingest_traces(traces, tenant) if raw == "otel_traces" else store.ingest_logs(logs, tenant)
    # The client's retry, and another request after it.
    store.ingest_traces(traces, tenant)
    store.ingest_logs(logs, tenant)
    assert _stored(store, tenant) == _expected(spans, records)
    assert store._inflight.pending == []


CHILD = """
import json, os, sys
sys.path.insert(0, {repo!r})
from tests.collector.test_store_inflight import _requests, _stored, keys_failing_for
from hive_otel.collector.store.store import open_store
traces, logs, _, _ = _requests({tenant!r})
store = open_store({url!r})
if {crash!r}:
    with keys_failing_for(store, "otel_traces", {tenant!r}):
        try:
            store.ingest_traces(traces, {tenant!r})
        except Exception:
            pass
    os._exit(9)  # dies with the insert noted in flight, as a SIGKILL leaves it
print(json.dumps(os.path.exists({marker!r})))
store.ingest_traces(traces, {tenant!r})  # the retry of the request that was never answered
store.ingest_logs(logs, {tenant!r})
print(json.dumps(_stored(store, {tenant!r})))
store.close()
"""


def test_an_insert_a_crash_interrupted_is_completed_when_the_store_opens_again(tmp_path: Path) -> None:
    """A process stores the raw spans of a request without their keys and dies; the next owner of the
    store completes that insert when it opens it, and the client's retry then stores nothing twice.
    (Each in a process of its own: chDB opens one store path per process.)"""
    marker = tmp_path / "store" / INFLIGHT_MARKER
    values = {"repo": str(REPO), "url": f"chdb://{tmp_path / 'store'}", "tenant": "crashed", "marker": str(marker)}
    crashed = subprocess.run([sys.executable, "-c", CHILD.format(crash=True, **values)], timeout=300)
    assert crashed.returncode == 9 and marker.exists()
    reopened = subprocess.run(
        [sys.executable, "-c", CHILD.format(crash=False, **values)], timeout=300, capture_output=True, text=True, check=True
    )
    marker_left, stored = map(json.loads, reopened.stdout.splitlines())
    _, _, spans, records = _requests("crashed")
    assert (marker_left, stored) == (False, _expected(spans, records))


def test_the_views_run_again_are_every_view_the_migrations_put_under_the_raw_tables(store: Store) -> None:
    """A migration adding a view under otel_traces or otel_logs must decide whether it is run again."""
    for raw, names in OWN_VIEWS.items():
        where = f"database = currentDatabase() AND name = '{raw}'"
        assert sorted(store.query(f"SELECT dependencies_table FROM system.tables WHERE {where}")[1][0][0]) == sorted(names)


def test_a_view_of_someone_else_under_the_raw_table_is_not_run_again_nor_blocks_the_store(
    store: Store, tenant: str
) -> None:
    """Running every view under otel_traces again made an operator's summing view count a failed insert
    twice, and one whose query could not be rewritten (a table alias) refused every later insert."""
    traces, logs, spans, records = _requests(tenant)
    store.execute("CREATE TABLE spans_per_tenant (tenant String, spans UInt64) ENGINE = SummingMergeTree ORDER BY tenant")
    store.execute(
        "CREATE MATERIALIZED VIEW spans_per_tenant_mv TO spans_per_tenant AS SELECT "
        "t.ResourceAttributes['hive.tenant.id'] AS tenant, count() AS spans FROM otel_traces AS t GROUP BY tenant"
    )
    try:
        with keys_failing_for(store, "otel_traces", tenant), pytest.raises(StoreError, match="the key view failed"):
            store.ingest_traces(traces, tenant)
        store.ingest_traces(traces, tenant)
        store.ingest_logs(logs, tenant)
        counted = store.query(f"SELECT sum(spans) FROM spans_per_tenant WHERE tenant = '{tenant}'")[1][0][0]
    finally:
        store.execute("DROP VIEW spans_per_tenant_mv")
        store.execute("DROP TABLE spans_per_tenant")
    assert _stored(store, tenant) == _expected(spans, records)
    assert counted in (0, spans)  # as far as it ran in the failed insert; never twice


@pytest.mark.parametrize(
    "content", ["", '[{"raw": "otel_traces"}]', '[{"raw": "otel_traces; DROP TABLE x", "batches": [1], "started": 0}]']
)
def test_an_unreadable_marker_refuses_the_store_and_says_what_to_do(tmp_path: Path, content: str) -> None:
    (tmp_path / INFLIGHT_MARKER).write_text(content)
    with pytest.raises(StoreError, match="If it cannot be repaired, delete it"):
        InflightInserts(tmp_path / INFLIGHT_MARKER)
