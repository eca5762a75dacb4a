"""The in-memory key index: replays skip usage_facts, and a lost or wrong index never breaks exactness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.rollups import key_index as _usage_index
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, ToolCall, traces_request

QUEEN = Session("sess-k1", "sess-k1")


def calls(prefix: str) -> list[LlmCall | ToolCall]:
    return [LlmCall(f"{prefix}:llm:{i}", cost_usd=0.01 * (i % 2), at_ns=BASE_NS + i) for i in range(6)] + [
        ToolCall(f"{prefix}:tool:{i}", is_error=i == 0) for i in range(2)
    ]


def totals(store: Store, tenant: str) -> dict[str, object]:
    return usage(store, ["model"], tenant=tenant).totals


@pytest.fixture
def merge_reads(store: Store) -> Iterator[list[str]]:
    """Every merge query the store runs (a recording wrapper around the real transport call)."""
    seen: list[str] = []
    real = store._transport.query_arrow

    def recording(sql: str):  # type: ignore[no-untyped-def]
        if "old_version" in sql:
            seen.append(sql)
        return real(sql)

    store._transport.query_arrow = recording  # type: ignore[method-assign]
    yield seen
    store._transport.query_arrow = real  # type: ignore[method-assign]


def test_new_calls_and_replays_need_no_merge(store: Store, tenant: str, merge_reads: list[str]) -> None:
    request = traces_request([SessionBatch(QUEEN, [c.span() for c in calls("replay")])])
    first = store.ingest_traces(request, tenant=tenant)
    assert (first.new_calls, merge_reads) == (8, [])  # each candidate is its fact
    before = totals(store, tenant)
    again = store.ingest_traces(request, tenant=tenant)
    assert (again.new_calls, again.updated_calls, again.unchanged_calls) == (0, 0, 8)
    assert merge_reads == [] and totals(store, tenant) == before


def test_only_changed_calls_read_their_stored_rows(store: Store, tenant: str, merge_reads: list[str]) -> None:
    log = LlmCall("chg:1", source="log")
    store.ingest_traces(traces_request([SessionBatch(QUEEN, [log.span(), LlmCall("chg:2").span()])]), tenant=tenant)
    event = LlmCall("chg:1", cost_usd=0.5, cached_tokens=10, source="event")
    result = store.ingest_traces(
        traces_request([SessionBatch(QUEEN, [event.span(), LlmCall("chg:2").span()])]), tenant=tenant
    )
    assert (result.new_calls, result.updated_calls, result.unchanged_calls) == (0, 1, 1)
    assert len(merge_reads) == 1 and "usage_facts FINAL" in merge_reads[0]  # chg:2 was the same: not merged
    assert totals(store, tenant)["cost_usd"] == 0.5 and totals(store, tenant)["llm_calls"] == 2


def test_an_emptied_index_is_rebuilt_and_replays_stay_exact(store: Store, tenant: str) -> None:
    request = traces_request([SessionBatch(QUEEN, [c.span() for c in calls("restart")])])
    store.ingest_traces(request, tenant=tenant)
    before = totals(store, tenant)
    store.execute("TRUNCATE TABLE usage_key_index")  # what a server restart does to it (persistent = 0)
    again = store.ingest_traces(request, tenant=tenant)
    assert (again.new_calls, again.unchanged_calls) == (0, 8)
    assert totals(store, tenant) == before
    _, rows = store.query(f"SELECT {_usage_index.INDEX_READY_SQL}")
    assert rows == [[1]]


def test_a_key_hash_collision_only_costs_a_lookup(store: Store, tenant: str) -> None:
    # An index entry for a key the facts do not have (as if another key hashed the same).
    store.execute(f"INSERT INTO usage_key_index SELECT sipHash64('{tenant}', 'collide:1'), 12345")
    result = store.ingest_traces(
        traces_request([SessionBatch(QUEEN, [LlmCall("collide:1", cost_usd=0.25).span()])]), tenant=tenant
    )
    assert (result.new_calls, result.updated_calls) == (1, 0)
    assert totals(store, tenant)["llm_calls"] == 1 and totals(store, tenant)["cost_usd"] == 0.25


def test_a_stale_fingerprint_is_merged_against_the_stored_row(store: Store, tenant: str) -> None:
    request = traces_request([SessionBatch(QUEEN, [LlmCall("stale:1", cost_usd=0.125).span()])])
    store.ingest_traces(request, tenant=tenant)
    store.execute(f"INSERT INTO usage_key_index SELECT sipHash64('{tenant}', 'stale:1'), 999")
    again = store.ingest_traces(request, tenant=tenant)
    assert (again.new_calls, again.updated_calls, again.unchanged_calls) == (0, 0, 1)
    assert totals(store, tenant)["llm_calls"] == 1 and totals(store, tenant)["cost_usd"] == 0.125


def test_the_view_and_the_store_fingerprint_facts_the_same_way(store: Store, tenant: str) -> None:
    from hive_otel.collector.store.migrations import load_migrations

    index = next(m for m in load_migrations() if m.name == "create_usage_key_index")
    assert _usage_index.KEY_HASH_SQL in index.up and _usage_index.FINGERPRINT_SQL in index.up


def test_one_call_twice_in_a_request_is_merged_into_one_fact(store: Store, tenant: str, merge_reads: list[str]) -> None:
    twice = [LlmCall("twice:1", source="log").span(), LlmCall("twice:1", cost_usd=0.75).span()]
    result = store.ingest_traces(traces_request([SessionBatch(QUEEN, twice)]), tenant=tenant)
    assert (result.new_calls, len(merge_reads)) == (1, 1)
    _, rows = store.query(f"SELECT cost_usd, call_source FROM usage_facts FINAL WHERE tenant = '{tenant}'")
    assert rows == [[0.75, "event+log"]]
