"""The query layer's one time grammar, one key-list parser and one tenant check, which every read uses
(``hive-otel usage``/``status``/``report``, ``POST /hive/v1/usage``/``status``, the API, the dashboards)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hive_otel import attributes as A
from hive_otel.collector.auth.principal import Forbidden, Principal
from hive_otel.collector.queries.group_by import parse_keys
from hive_otel.collector.queries.status import recent_sessions, session_latency, sessions_under, subtree_sessions
from hive_otel.collector.queries.time_range import TimeRange, parse_range, parse_time
from hive_otel.collector.queries.usage import GROUP_KEYS, UsageQuery, usage, usage_sql
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, session_span, traces_request

NOW = datetime(2026, 3, 18, 15, 42, 7, 500000, tzinfo=UTC)  # a Wednesday


# --- one time grammar --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),  # a date is its midnight, UTC
        ("2026-03-01T09:30:00", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),  # naive means UTC
        ("2026-03-01T09:30:00Z", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01T09:30:00+02:00", datetime(2026, 3, 1, 7, 30, tzinfo=UTC)),
        (" 2026-03-01 ", datetime(2026, 3, 1, tzinfo=UTC)),
        ("now", NOW),
        ("now-7d", NOW - timedelta(days=7)),
        ("now+1h", NOW + timedelta(hours=1)),
        ("now/h", datetime(2026, 3, 18, 15, tzinfo=UTC)),
        ("now-1d/d", datetime(2026, 3, 17, tzinfo=UTC)),
        ("now/w", datetime(2026, 3, 16, tzinfo=UTC)),  # weeks start on Monday
        ("now-1M/M", datetime(2026, 2, 1, tzinfo=UTC)),
        ("now-1y/y", datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_an_instant_is_iso_or_grafana_relative(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


def test_the_end_of_a_grafana_range_rounds_up_to_the_last_millisecond() -> None:
    assert parse_time("now/d", NOW, end=True) == datetime(2026, 3, 18, 23, 59, 59, 999000, tzinfo=UTC)
    assert parse_time("now", NOW, end=True) == NOW  # nothing to round
    assert parse_time("2026-03-01", NOW, end=True) == datetime(2026, 3, 1, tzinfo=UTC)  # ISO is exact


@pytest.mark.parametrize("empty", [None, ""])
def test_no_time_is_an_open_bound(empty: str | None) -> None:
    assert parse_time(empty, NOW) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yesterday", "ISO"),
        ("now-7", "ISO"),
        ("now-1q", "ISO"),
        ("2026-13-01", "ISO"),
        ("1969-12-31", "outside the store's time range"),
        ("2149-01-01", "outside the store's time range"),
        ("now+200y", "outside the store's time range"),
    ],
)
def test_a_bad_instant_is_a_value_error_naming_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_time(text, NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", (None, None)),
        ("today", (datetime(2026, 3, 18, tzinfo=UTC), None)),
        ("month", (datetime(2026, 3, 1, tzinfo=UTC), None)),
        ("1h", (datetime(2026, 3, 18, 15, tzinfo=UTC), None)),  # the current hour
        ("3h", (datetime(2026, 3, 18, 13, tzinfo=UTC), None)),
        ("0d", (datetime(2026, 3, 18, tzinfo=UTC), None)),  # at least the current day
        ("7d", (datetime(2026, 3, 12, tzinfo=UTC), None)),
        ("2w", (datetime(2026, 3, 5, tzinfo=UTC), None)),
        ("2026-03-01/2026-03-02T12:00:00Z", (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC))),
    ],
)
def test_the_api_range(text: str, expected: tuple[datetime | None, datetime | None]) -> None:
    assert parse_range(text, NOW) == TimeRange(*expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-03-02/2026-03-01", "must be before"),
        ("2026-03-01/2026-03-01", "must be before"),
        ("1900-01-01/2026-03-01", "outside the store's time range"),
        ("2026-02-30/2026-03-01", "ISO"),
        ("now-7d/now", "expected all, today"),
        ("week", "expected all, today"),
    ],
)
def test_a_bad_range_is_a_value_error_naming_the_range(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as error:
        parse_range(text, NOW)
    assert "range" in str(error.value)


# --- one key-list parser ------------------------------------------------------------------------------


def test_keys_come_as_text_or_a_list() -> None:
    assert parse_keys("model, day,", GROUP_KEYS) == ["model", "day"]
    assert parse_keys(["model", " day "], GROUP_KEYS) == ["model", "day"]
    assert parse_keys(None, GROUP_KEYS) == parse_keys("", GROUP_KEYS) == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("model,nope", r"unknown group-by key\(s\) \['nope'\]; choose from model"),
        ("model,model", "repeated"),
        (["model", 3], "list of key names"),
    ],
)
def test_bad_keys_are_value_errors_naming_the_choices(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_keys(value, GROUP_KEYS)  # type: ignore[arg-type]


def test_a_filter_on_an_unknown_key_is_refused_like_a_group_by() -> None:
    with pytest.raises(ValueError, match="unknown filter key"):
        UsageQuery.parse(["model"], filters={"nope": "x"})


# --- one tenant check ---------------------------------------------------------------------------------


def test_a_tenant_token_is_narrowed_to_its_tenant() -> None:
    token = Principal(tenant="acme", may_query_sql=False, authenticated=True)
    assert token.reads(None) == "acme" and token.reads("acme") == "acme"
    with pytest.raises(Forbidden, match="'acme' only"):
        token.reads("globex")
    assert not token.reads_every_tenant


@pytest.mark.parametrize(
    "principal",
    [
        Principal(tenant="ops", may_query_sql=True, authenticated=True),  # an admin token
        Principal(tenant="local", may_query_sql=True, authenticated=False),  # a local client, no tokens file
    ],
)
def test_an_operator_reads_any_tenant_or_all(principal: Principal) -> None:
    assert principal.reads(None) is None and principal.reads("globex") == "globex"
    assert principal.reads_every_tenant


# --- the queries on a store ---------------------------------------------------------------------------


def test_the_usage_sql_is_the_template_filled(store: Store, tenant: str) -> None:
    query = UsageQuery.parse(["model"], "2026-01-01", "2026-02-01", tenant)
    sql, table = usage_sql(query)
    assert table == "usage_daily"
    assert sql.startswith("SELECT model AS `model`, sum(llm_calls) AS llm_calls")
    assert "\nFROM usage_daily WHERE tenant = " in sql and "--" not in sql  # the template's comments are dropped


def test_relative_times_read_usage_and_the_session_list(store: Store, tenant: str) -> None:
    at = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1e9)
    spans = [LlmCall("q:1", model="gpt-4o", at_ns=at).span(), LlmCall("q:old", model="gpt-4o", at_ns=BASE_NS).span()]
    store.ingest_traces(traces_request([SessionBatch(Session("sess-q1", "sess-q1"), spans)]), tenant=tenant)
    assert usage(store, ["model"], since="now-1d", tenant=tenant).totals["llm_calls"] == 1
    assert usage(store, ["model"], tenant=tenant).totals["llm_calls"] == 2
    columns, rows = recent_sessions(store, tenant, limit=5)
    assert columns[:2] == ["tenant", "session"] and [r[:2] for r in rows] == [[tenant, "sess-q1"]]
    with pytest.raises(ValueError, match="between 1 and 100000"):
        recent_sessions(store, tenant, limit=0)


def test_a_filter_on_a_set_of_sessions_reads_usage_and_latency_of_those_only(store: Store, tenant: str) -> None:
    """A tree below its root has no key: the API names its sessions. 150,000 ids (~5 MB of SQL) pass the
    parser's default 256 KiB, and as a tuple of literals took 4.8 s to read; ids carry quotes and escapes."""
    ids = ["set-a", "set-'b\\", "set-ü\n"]
    batches = [
        SessionBatch(Session(sid, "set-root"), [LlmCall(f"set:{i}", input_tokens=10**i, latency_ms=100 * (i + 1)).span()])
        for i, sid in enumerate(ids)
    ]
    store.ingest_traces(traces_request(batches), tenant=tenant)
    absent = [f"absent-{i:06d}-0123456789abcdef" for i in range(150_000)]
    two = usage(store, ["session"], tenant=tenant, filters={"session": [*absent, ids[2], ids[0]]})
    assert [(row["session"], row["input_tokens"]) for row in two.rows] == [(ids[0], 1), (ids[2], 100)]
    assert two.totals["input_tokens"] == 101 and two.totals["llm_calls"] == 2
    alone = usage(store, [], tenant=tenant, filters={"session": ids[1], "root_session": "set-root"}).totals
    assert usage(store, [], tenant=tenant, filters={"session": ids[1:2], "root_session": "set-root"}).totals == alone
    assert usage(store, [], tenant=tenant, filters={"session": []}).totals["llm_calls"] == 0
    latency = session_latency(store, tenant, "set-root", "root_session", sessions=[*absent, ids[1]])
    assert latency == session_latency(store, tenant, ids[1]) and latency["max_ms"] == 200
    assert session_latency(store, tenant, "set-root", "root_session", sessions=[])["llm_calls_timed"] == 0  # as usage


@pytest.mark.parametrize(
    ("filters", "reason"),
    [({"session": ["a", 3]}, "filter session: expected a string or a list of strings"),
     ({"model": ["gpt-4o"]}, "filter model: expected a string value, got list"),
     ({"session": ["a", "\ud800"]}, "filter session: '\\\\ud800' is not valid text"),
     ({"model": "\ud800"}, "filter model: '\\\\ud800' is not valid text")],
)  # fmt: skip
def test_a_list_is_a_filter_value_of_session_only_and_values_are_text(filters: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        UsageQuery.parse([], filters=filters)


def test_the_sessions_under_one_at_any_depth() -> None:
    """A DM session, its fork, the colony made from the fork, its workers: a call names only its root and parent."""
    parents = [("fork", "dm"), ("colony", "fork"), ("w1", "colony"), ("w2", "colony"), ("other", "dm"), ("dm", "")]
    assert sessions_under(parents, "fork") == {"fork", "colony", "w1", "w2"}
    assert sessions_under(parents, "w1") == {"w1"}
    assert sessions_under(parents, "dm") == {"dm", "fork", "colony", "w1", "w2", "other"}


def test_a_report_past_its_row_cap_is_refused_with_what_to_do(
    store: Store, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unbounded before: a tenant's report of 140k rows held 240 MB of the collector for 2.3 s."""
    import hive_otel.collector.queries.usage as usage_module

    calls = [LlmCall(f"cap:{model}", model=model).span() for model in ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5")]
    store.ingest_traces(traces_request([SessionBatch(Session("sess-cap", "sess-cap"), calls)]), tenant=tenant)
    monkeypatch.setattr(usage_module, "MAX_ROWS", 3)
    assert len(usage(store, ["model"], tenant=tenant).rows) == 3
    monkeypatch.setattr(usage_module, "MAX_ROWS", 2)
    with pytest.raises(ValueError, match="more than 2 rows: narrow the time range"):
        usage(store, ["model"], tenant=tenant)
    assert usage(store, ["model"], tenant=tenant, filters={"model": "gpt-4o"}).totals["llm_calls"] == 1


def test_the_sessions_under_one_are_all_found_in_a_tree_of_more_than_a_list_of_sessions(store: Store, tenant: str) -> None:
    """The walk read ``session_health``'s list, which stops at 10,000 sessions by start: a session started
    after the 10,000th of its root's tree was left out of its parent's tree, and its usage with it."""
    second = 1_000_000_000
    root = Session("big-root", "big-root")
    batches = [SessionBatch(root, [session_span(root, BASE_NS, BASE_NS + second)])]
    for i in range(10_001):
        sibling = Session(f"big-{i:05d}", "big-root", role=A.ROLE_WORKER, worker=f"w{i}", parent="big-root")
        batches.append(SessionBatch(sibling, [session_span(sibling, BASE_NS + i * second, BASE_NS + (i + 1) * second)]))
    late = BASE_NS + 20_000 * second
    middle = Session("big-m", "big-root", role=A.ROLE_WORKER, worker="m", parent="big-root")
    leaf = Session("big-x", "big-root", role=A.ROLE_WORKER, worker="x", parent="big-m")
    batches += [SessionBatch(middle, [session_span(middle, late, late + second)]),
                SessionBatch(leaf, [session_span(leaf, late + second, late + 2 * second)])]  # fmt: skip
    store.ingest_traces(traces_request(batches), tenant=tenant)
    assert subtree_sessions(store, tenant, "big-root", "big-m") == {"big-m", "big-x"}
