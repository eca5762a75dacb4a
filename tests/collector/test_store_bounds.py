"""Tokens and costs a tenant controls are bounded: out-of-bounds calls are refused and counted, never
summed into a bill; the rest of their request is stored and counted exactly.

Real chDB store. Each request mixes good calls with one bad one; the usage of the tenant must equal
the good calls' totals, counted here as they are built.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from hive_otel import attributes as A
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.store import ISOLATION_INSERTS, Store
from hive_otel.collector.store.transport import clickhouse_reason
from tests.collector.otlp_builders import (
    BASE_NS,
    LlmCall,
    Session,
    SessionBatch,
    any_value,
    logs_request,
    traces_request,
)


def _with(span, key: str, value: object):  # type: ignore[no-untyped-def]
    for attribute in span.attributes:
        if attribute.key == key:
            attribute.value.CopyFrom(any_value(value))
            return span
    raise AssertionError(f"no attribute {key}")


BAD = [
    (A.GEN_AI_USAGE_INPUT_TOKENS, 10**14),  # failed the whole request in pricing (ArrowInvalid) before
    (A.GEN_AI_USAGE_INPUT_TOKENS, -5),
    (A.GEN_AI_USAGE_OUTPUT_TOKENS, float("nan")),
    (A.GEN_AI_USAGE_OUTPUT_TOKENS, float("inf")),
    (A.GEN_AI_USAGE_INPUT_TOKENS, "12 tokens"),
    (A.HIVE_COST_USD, -3.5),  # would lower the tenant's bill and quota spend
    (A.HIVE_COST_USD, float("nan")),  # became 0 silently, not even counted as unpriced
    (A.HIVE_COST_USD, float("-inf")),
    (A.HIVE_COST_USD, 1e308),
]


@pytest.mark.parametrize(("key", "value"), BAD, ids=[f"{k}={v}" for k, v in BAD])
def test_an_out_of_bounds_call_is_refused_and_the_rest_is_counted(
    store: Store, tenant: str, key: str, value: object
) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    good = [LlmCall(f"{tenant}:{i}", model="gpt-4o", input_tokens=100 + i, output_tokens=7, cost_usd=0.25)
            for i in range(3)]  # fmt: skip
    bad = _with(LlmCall(f"{tenant}:bad", model="gpt-4o", input_tokens=1, cost_usd=0.5).span(), key, value)
    request = traces_request([SessionBatch(session, [c.span() for c in good] + [bad])])
    for _ in range(2):  # a retry is refused the same way and changes nothing
        result = store.ingest_traces(request, tenant)
        assert result.rejected == 1
        assert "out of bounds" in result.message
    totals = usage(store, ["model"], tenant=tenant).totals
    assert totals["llm_calls"] == 3
    assert totals["input_tokens"] == 100 + 101 + 102
    assert totals["output_tokens"] == 21
    assert Decimal(str(totals["cost_usd"])) == Decimal("0.75")
    assert totals["unpriced_calls"] == 0


def test_bounds_admit_the_largest_sane_values(store: Store, tenant: str) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    call = LlmCall(f"{tenant}:big", model="gpt-4o", input_tokens=10**12, output_tokens=0, cost_usd=1e6)
    result = store.ingest_traces(traces_request([SessionBatch(session, [call.span()])]), tenant)
    assert result.rejected == 0
    totals = usage(store, ["model"], tenant=tenant).totals
    assert (totals["llm_calls"], totals["input_tokens"], totals["cost_usd"]) == (1, 10**12, 1e6)


DATETIME_END_NS = 2**32 * 10**9  # 2106-02-07 06:28:16 UTC: the first second DateTime (the rollups' hour) cannot hold
PAST_THE_ROLLUPS = [("2106-02-07 06:28:16", DATETIME_END_NS), ("2200-01-01", 7_258_118_400 * 10**9)]


@pytest.mark.parametrize(("when", "time_ns"), PAST_THE_ROLLUPS, ids=[w for w, _ in PAST_THE_ROLLUPS])
def test_a_call_past_2106_is_stored_as_a_span_but_refused_as_usage(
    store: Store, tenant: str, when: str, time_ns: int
) -> None:
    """usage_hourly's DateTime ends at 2106 and usage_daily's Date at 2149: a call in 2200 was summed
    into 2106-02-07 06:00 and 2020-07-27. Now it is refused as usage, like a call with a token count out
    of bounds, and the reason names the limit."""
    session = Session(f"{tenant}-s", f"{tenant}-s")
    good = [LlmCall(f"{tenant}:{i}", model="gpt-4o", input_tokens=100 + i, cost_usd=0.25) for i in range(3)]
    late = LlmCall(f"{tenant}:late", model="gpt-4o", input_tokens=1, cost_usd=0.5, at_ns=time_ns)
    request = traces_request([SessionBatch(session, [c.span() for c in good] + [late.span()])])
    for _ in range(2):  # a retry is refused the same way and changes nothing
        result = store.ingest_traces(request, tenant)
        assert result.rejected == 1
        assert "at or past 2106-02-07 06:28:16 UTC" in result.message
    by_day = usage(store, ["day"], tenant=tenant)
    assert [(r["day"], r["llm_calls"]) for r in by_day.rows] == [("2026-01-01", 3)]
    assert by_day.totals["input_tokens"] == 100 + 101 + 102 and by_day.totals["cost_usd"] == 0.75
    assert usage(store, ["hour"], tenant=tenant).totals == by_day.totals
    late_span = f"SpanAttributes['hive.call_key'] = '{tenant}:late'"
    stored = store.query(f"SELECT toUnixTimestamp64Nano(Timestamp) FROM otel_traces WHERE {late_span}")[1]
    assert stored == [[time_ns]]  # the span itself is stored with its time


def test_a_call_in_the_last_second_datetime_holds_is_counted_in_its_hour(store: Store, tenant: str) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    last = LlmCall(f"{tenant}:last", model="gpt-4o", input_tokens=7, at_ns=DATETIME_END_NS - 1)
    result = store.ingest_traces(traces_request([SessionBatch(session, [last.span()])]), tenant)
    assert result.rejected == 0
    hours = usage(store, ["hour", "day"], tenant=tenant).rows
    assert [(r["hour"], r["day"], r["input_tokens"]) for r in hours] == [("2106-02-07 06:00:00", "2106-02-07", 7)]


TOO_LATE = [("span start", 2**63), ("span end", 2**64 - 1), ("event", 2**63 + 1)]


@pytest.mark.parametrize(("where", "time_ns"), TOO_LATE, ids=[w for w, _ in TOO_LATE])
def test_a_span_time_past_2262_is_refused_alone(store: Store, tenant: str, where: str, time_ns: int) -> None:
    """Times from 2^63 ns on do not fit DateTime64(9): they wrapped to 1677 or 1969, silently, and the
    call's usage went to that hour. Now that span alone is rejected, with the reason."""
    session = Session(f"{tenant}-s", f"{tenant}-s")
    good = [LlmCall(f"{tenant}:{i}", model="gpt-4o", input_tokens=100 + i) for i in range(3)]
    bad = LlmCall(f"{tenant}:late", model="gpt-4o", input_tokens=1).span()
    if where == "span start":
        bad.start_time_unix_nano = time_ns
    elif where == "span end":
        bad.end_time_unix_nano = time_ns
    else:
        bad.events.add(time_unix_nano=time_ns, name="late")
    result = store.ingest_traces(traces_request([SessionBatch(session, [c.span() for c in good] + [bad])]), tenant)
    assert (result.rejected, result.message) == (1, "items the store cannot accept: constraint times_before_2262")
    totals = usage(store, ["model"], tenant=tenant).totals
    assert (totals["llm_calls"], totals["input_tokens"]) == (3, 100 + 101 + 102)
    where = f"ResourceAttributes['hive.tenant.id'] = '{tenant}'"
    assert store.query(f"SELECT count(), min(Timestamp) > '2020-01-01' FROM otel_traces WHERE {where}")[1] == [[3, True]]


def test_a_log_record_time_past_2262_is_refused_alone(store: Store, tenant: str) -> None:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    request = logs_request(session, [(BASE_NS, "a", {}), (2**63, "b", {}), (BASE_NS + 2, "c", {})])
    result = store.ingest_logs(request, tenant)
    assert (result.accepted, result.rejected) == (2, 1)
    assert "times_before_2262" in result.message


def test_a_request_of_nothing_but_refused_spans_costs_a_bounded_number_of_inserts(store: Store, tenant: str) -> None:
    """Finding the refused spans took one insert per span (2N - 1, each ~40 ms of a core under the
    store's lock): 512 late spans took 44 s of CPU. Now at most ISOLATION_INSERTS; the rest is
    rejected whole, and said so."""
    inserts_sql = "SELECT sum(value) FROM system.events WHERE event = 'InsertQuery'"  # ClickHouse's own count
    inserts_before = store.query(inserts_sql)[1][0][0]
    session = Session(f"{tenant}-s", f"{tenant}-s")
    late = [LlmCall(f"{tenant}:{i}", model="gpt-4o").span() for i in range(512)]
    for i, span in enumerate(late):
        span.start_time_unix_nano = 2**63 + i
    good = [LlmCall(f"{tenant}:good:{i}", model="gpt-4o", input_tokens=10).span() for i in range(4)]
    result = store.ingest_traces(traces_request([SessionBatch(session, good + late)]), tenant)
    assert store.query(inserts_sql)[1][0][0] - inserts_before <= ISOLATION_INSERTS + 4  # + the good calls' usage
    assert (result.accepted + result.rejected, result.rejected >= 512) == (516, True)
    assert "times_before_2262" in result.message and f"past {ISOLATION_INSERTS} refused inserts" in result.message
    totals = usage(store, ["model"], tenant=tenant).totals
    assert totals["llm_calls"] == result.accepted  # what was not refused is stored, and counted once


REASONS = [
    (  # a server store, through clickhouse-connect: the server's address and version stay out
        "insert into otlp_traces_input failed: HTTPDriver for http://10.0.0.5:8123 received ClickHouse error code 241\n"
        " Code: 241. DB::Exception: Memory limit (total) exceeded: would use 9.31 GiB. (MEMORY_LIMIT_EXCEEDED) "
        "(version 25.3.1.1)",
        "MEMORY_LIMIT_EXCEEDED",
    ),
    (  # the input error's name wins over an outer one
        "Code: 27. DB::Exception: Cannot parse input: expected 'x' before: 'secret' (CANNOT_PARSE_INPUT_ASSERTION_FAILED):"
        " While executing Protobuf. (UNKNOWN_EXCEPTION)",
        "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    ),
    ("Code: 1000. DB::Exception: Poco::Exception. secret", "ClickHouse error 1000"),
    (  # a value it quotes looks like an error name: the name is the last one
        "Code: 241. DB::Exception: Column values: x = '(MY_SECRET)'. (MEMORY_LIMIT_EXCEEDED)",
        "MEMORY_LIMIT_EXCEEDED",
    ),
    ("with its nested values as JSON text the request takes 9 bytes, over 8: not stored", None),  # the store's own
]


@pytest.mark.parametrize(("message", "reason"), REASONS)
def test_a_client_is_told_clickhouse_s_reason_in_a_word(message: str, reason: str | None) -> None:
    assert clickhouse_reason(message) == reason
