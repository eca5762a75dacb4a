"""Raw tables hold each span and log record once, whatever is sent again (real chDB store).

Replays, a request re-split differently, a retry after an error answer, and a group commit retried
request by request must all leave count() equal to the distinct (TraceId, SpanId) of the tenant.
The one fault injected (a failing usage merge after the raw insert) stands for any store failure
between the raw insert and the answer; it is a patch because nothing else fails on demand.
"""

from __future__ import annotations

import threading

import pytest

from hive_otel.collector.store import store as store_module
from hive_otel.collector.store.store import Store, StoreError, StoreInputError
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, ToolCall, logs_request, traces_request
from tests.collector.test_store_poison import poisoned


def _spans(tenant: str, count: int, group: int = 0) -> list:  # type: ignore[type-arg]
    """``count`` LLM spans with ids unique within ``group``, and one tool span."""
    calls = [LlmCall(f"{tenant}:{group}:{i}", model="gpt-4o", input_tokens=5,
                     span_id=bytes([group + 1, i + 1]) * 4) for i in range(count)]  # fmt: skip
    return [c.span() for c in calls] + [ToolCall(f"{tenant}:{group}:tool").span()]


def _raw(store: Store, tenant: str) -> tuple[int, int]:
    _, rows = store.query(
        "SELECT count(), uniqExact(TraceId, SpanId) FROM otel_traces "
        f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    )
    return int(rows[0][0]), int(rows[0][1])


def test_replays_and_a_different_split_store_each_span_once(store: Store, tenant: str) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    spans = _spans(tenant, 8)
    whole = traces_request([SessionBatch(session, spans)])
    for _ in range(3):
        store.ingest_traces(whole, tenant)
    for part in (spans[:3], spans[3:], spans[1:6]):  # the same spans again, batched differently
        store.ingest_traces(traces_request([SessionBatch(session, part)]), tenant)
    assert _raw(store, tenant) == (len(spans), len(spans))


def test_a_retry_after_an_error_answer_stores_nothing_twice(
    store: Store, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    request = traces_request([SessionBatch(session, _spans(tenant, 5))])
    real_merge = store_module._usage_merge.merge
    failures = iter([True])

    def failing_once(*args: object, **kwargs: object) -> object:
        if next(failures, False):
            raise RuntimeError("injected: the store failed after the raw insert")
        return real_merge(*args, **kwargs)

    monkeypatch.setattr(store_module._usage_merge, "merge", failing_once)
    with pytest.raises(RuntimeError, match="injected"):  # the receiver answers this with a 503
        store.ingest_traces(request, tenant)
    store.ingest_traces(request, tenant)  # the client's retry
    assert _raw(store, tenant) == (6, 6)


def test_a_block_the_raw_table_refused_is_stored_by_the_retry(store: Store, tenant: str) -> None:
    """A key is kept only for a row otel_traces really stored: when otel_traces refuses the block
    (here a CHECK constraint of ClickHouse's own, added for the test), the ingest fails (retryable: the
    store's tables refused, not the input format) and the retry stores every span."""
    session = Session(f"{tenant}-s", f"{tenant}-s")
    request = traces_request([SessionBatch(session, _spans(tenant, 5))])
    store.execute(
        "ALTER TABLE otel_traces ADD CONSTRAINT refuse_for_test "
        f"CHECK ResourceAttributes['hive.tenant.id'] != '{tenant}'"
    )
    try:
        with pytest.raises(StoreError, match="refuse_for_test") as refused:
            store.ingest_traces(request, tenant)
        assert not isinstance(refused.value, StoreInputError)
    finally:
        store.execute("ALTER TABLE otel_traces DROP CONSTRAINT refuse_for_test")
    assert _raw(store, tenant) == (0, 0)
    store.ingest_traces(request, tenant)  # the client's retry
    assert _raw(store, tenant) == (6, 6)


def test_a_group_commit_retried_request_by_request_stores_each_span_once(store: Store, tenant: str) -> None:
    """Requests that share one insert with a poisoned one are retried alone; none is stored twice."""
    sessions = [Session(f"{tenant}-s{i}", f"{tenant}-s{i}") for i in range(6)]
    requests = [traces_request([SessionBatch(s, _spans(tenant, 4, i))]) for i, s in enumerate(sessions)]
    bad = traces_request([SessionBatch(sessions[0], [poisoned(s) for s in _spans(tenant, 2, 99)])])
    errors: list[BaseException] = []

    def send(request: object) -> None:
        try:
            store.ingest_traces(request, tenant)  # type: ignore[arg-type]
        except StoreInputError as exc:
            errors.append(exc)

    with store._lock:  # hold the store so that every request queues into one group
        threads = [threading.Thread(target=send, args=(r,)) for r in [*requests[:3], bad, *requests[3:]]]
        for thread in threads:
            thread.start()
        while len(store._traces._queue) < len(threads):
            threading.Event().wait(0.01)
    for thread in threads:
        thread.join(60)
    assert len(errors) == 1  # the poisoned request alone
    assert _raw(store, tenant) == (6 * 5, 6 * 5)


def test_log_records_sent_again_are_stored_once(store: Store, tenant: str) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    events = [(1_767_225_600_000_000_000 + i, "queen_phase_changed", {"hive.queen.phase": f"p{i}"}) for i in range(4)]
    for _ in range(3):
        store.ingest_logs(logs_request(session, events), tenant)
    store.ingest_logs(logs_request(session, events[1:3]), tenant)
    _, rows = store.query(f"SELECT count() FROM otel_logs WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'")
    assert rows == [[4]]


def test_a_request_of_many_log_records_is_stored_whole_and_once(store: Store, tenant: str) -> None:
    # 20,000 records, ~6 MB, in one insert: from ~4 MB, the key look-up of migration 0016 made the view
    # pass no record at all while the insert succeeded (0023 looks keys up by a join). Group commit
    # merges requests into inserts of this size under load.
    session = Session(f"{tenant}-s", f"{tenant}-s")
    node = "n" * 200
    events = [(1_767_225_600_000_000_000 + i, "node_loop_iteration", {"hive.node.id": node, "hive.iteration": i})
              for i in range(20_000)]  # fmt: skip
    request = logs_request(session, events)
    assert store.ingest_logs(request, tenant).accepted == len(events)
    store.ingest_logs(request, tenant)  # sent again: nothing stored twice
    _, rows = store.query(f"SELECT count() FROM otel_logs WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}'")
    assert rows == [[len(events)]]


def test_storing_spans_and_log_records_raises_no_error_inside_the_engine(store: Store, tenant: str) -> None:
    # The dedupe views once planned a subquery over the inserted block that ClickHouse could not clone;
    # it fell back silently, and for log records the fallback stored nothing (0023, 0024). The error
    # counter is the only trace such a fallback leaves.
    session = Session(f"{tenant}-s", f"{tenant}-s")
    errors = "SELECT sum(value) FROM system.errors"
    _, before = store.query(errors)
    store.ingest_traces(traces_request([SessionBatch(session, _spans(tenant, 8))]), tenant)
    store.ingest_logs(logs_request(session, [(1_767_225_600_000_000_000, "queen_phase_changed", {})]), tenant)
    _, after = store.query(errors)
    assert after == before


def test_spans_without_ids_are_never_dropped_as_duplicates(store: Store, tenant: str) -> None:
    # No (TraceId, SpanId) to tell them apart: the store keeps each (the receiver refuses such spans;
    # the store's own ingest does not rely on that).
    session = Session(f"{tenant}-s", f"{tenant}-s")
    spans = _spans(tenant, 2)[:2]
    for span in spans:
        span.ClearField("span_id")
    store.ingest_traces(traces_request([SessionBatch(session, spans)]), tenant)
    store.ingest_traces(traces_request([SessionBatch(session, spans)]), tenant)
    assert _raw(store, tenant)[0] == 4
