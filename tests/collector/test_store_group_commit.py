"""Group commit: requests queued while the store is busy go in one insert, each with its own result."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.group_commit import GroupCommit, Pending
from hive_otel.collector.store.store import IngestResult, Store
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, logs_request, traces_request

QUEEN = Session("sess-g1", "sess-g1")


@pytest.fixture
def inserts(store: Store) -> Iterator[list[str]]:
    """The table of every raw insert the store makes (a recording wrapper around the real transport)."""
    seen: list[str] = []
    real = store._transport.insert_bytes

    def recording(table, fmt, data, settings):  # type: ignore[no-untyped-def]
        seen.append(table)
        return real(table, fmt, data, settings)

    store._transport.insert_bytes = recording  # type: ignore[method-assign]
    yield seen
    store._transport.insert_bytes = real  # type: ignore[method-assign]


def submit_together(store: Store, queue: GroupCommit, jobs: list) -> list:  # type: ignore[type-arg]
    """Run ``jobs`` on threads while the store is busy, so that all of them queue up, then let go."""
    results: list = [None] * len(jobs)

    def run(index: int) -> None:
        results[index] = jobs[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    with store._lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(queue._queue) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.005)
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_queued_requests_share_one_insert_and_keep_their_own_results(store: Store, inserts: list[str]) -> None:
    tenants = [f"group-{i}" for i in range(4)]
    requests = [
        traces_request([SessionBatch(QUEEN, [LlmCall(f"g:{i}:{j}", cost_usd=0.5).span() for j in range(i + 1)])])
        for i in range(4)
    ]
    jobs = [lambda r=r, t=t: store.ingest_traces(r, tenant=t) for r, t in zip(requests, tenants, strict=True)]
    results: list[IngestResult] = submit_together(store, store._traces, jobs)
    assert inserts.count("otlp_traces_input") == 1
    assert [(r.accepted, r.new_calls) for r in results] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    for i, tenant in enumerate(tenants):
        totals = usage(store, ["model"], tenant=tenant).totals
        assert (totals["llm_calls"], totals["cost_usd"]) == (i + 1, 0.5 * (i + 1))


def test_the_same_call_in_two_queued_requests_is_one_call(store: Store, tenant: str, inserts: list[str]) -> None:
    first = traces_request([SessionBatch(QUEEN, [LlmCall("dup:1", source="log").span()])])
    second = traces_request([SessionBatch(QUEEN, [LlmCall("dup:1", cost_usd=0.25).span()])])
    jobs = [lambda r=r: store.ingest_traces(r, tenant=tenant) for r in (first, second, first)]
    submit_together(store, store._traces, jobs)
    assert inserts.count("otlp_traces_input") == 1
    _, rows = store.query(f"SELECT call_key, cost_usd, call_source FROM usage_facts FINAL WHERE tenant = '{tenant}'")
    assert rows == [["dup:1", 0.25, "event+log"]]
    assert usage(store, ["model"], tenant=tenant).totals["llm_calls"] == 1


def test_logs_are_grouped_too(store: Store, tenant: str, inserts: list[str]) -> None:
    jobs = [
        lambda i=i: store.ingest_logs(logs_request(QUEEN, [(i, "queen_phase_changed", {})]), tenant=tenant) for i in range(3)
    ]
    assert [r.accepted for r in submit_together(store, store._logs, jobs)] == [1, 1, 1]
    assert inserts.count("otlp_logs_input") == 1


def test_a_failing_group_is_retried_request_by_request() -> None:
    groups: list[list[str]] = []

    def write(group: list[Pending]) -> None:
        groups.append([p.request for p in group])
        if any(p.request == "bad" for p in group):
            raise ValueError("refused")
        for pending in group:
            pending.result = f"stored {pending.request}"

    lock = threading.RLock()
    queue = GroupCommit(lock, write, max_items=10)
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = queue.submit(Pending(name, None, 1))  # type: ignore[arg-type]
        except ValueError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "bad", "c")]
    with lock:
        for thread in threads:
            thread.start()
        while len(queue._queue) < 3:
            time.sleep(0.005)
    for thread in threads:
        thread.join(timeout=10)
    assert groups[0] == ["a", "bad", "c"] and sorted(map(tuple, groups[1:])) == [("a",), ("bad",), ("c",)]
    assert outcomes["a"] == "stored a" and outcomes["c"] == "stored c" and isinstance(outcomes["bad"], ValueError)


def test_a_group_never_exceeds_its_size_but_takes_at_least_one() -> None:
    groups: list[list[int]] = []
    lock = threading.RLock()
    queue = GroupCommit(lock, lambda g: groups.append([p.items for p in g]), max_items=10)
    queue._queue.extend(Pending(None, None, n) for n in (4, 5, 3, 12, 1))  # type: ignore[arg-type]
    queue.submit(Pending(None, None, 2))  # type: ignore[arg-type]
    assert groups == [[4, 5], [3], [12], [1, 2]]


def test_a_lone_caller_never_waits_for_company() -> None:
    groups: list[int] = []
    queue = GroupCommit(threading.RLock(), lambda g: groups.append(len(g)), max_items=10, linger_s=30)
    started = time.monotonic()
    for _ in range(3):
        queue.submit(Pending(None, None, 1))  # type: ignore[arg-type]
    assert groups == [1, 1, 1] and time.monotonic() - started < 10  # a wait for company would take 30 s


def test_under_load_the_writer_waits_for_the_callers_it_just_answered() -> None:
    """Four callers, each sending its next request 20 ms after its answer, as clients do: without the
    wait, the groups would alternate between those answered and those that queued meanwhile. The first
    caller, alone at first, finishes a group ahead of the others: the last group waits once, in vain."""
    groups: list[int] = []

    def write(group: list[Pending]) -> None:
        groups.append(len(group))
        time.sleep(0.05)

    linger_s = 2.0
    queue = GroupCommit(threading.RLock(), write, max_items=100, linger_s=linger_s)

    def caller() -> None:
        for _ in range(6):
            queue.submit(Pending(None, None, 1))  # type: ignore[arg-type]
            time.sleep(0.02)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(groups) == 24
    assert len(groups) >= 6 and set(groups[1:-1]) == {4}, groups
    # Each wait but the last ended when the four were queued, not at its timeout.
    assert time.monotonic() - started < 2 * linger_s
