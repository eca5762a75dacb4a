"""The dashboards' panels, as Grafana sends them, over a chosen range of a store holding calls on several days.

tests/deploy/test_dashboards.py runs every panel over its dashboard's default range on a demo store whose
calls all fall within today; here the calls span four days, so a panel that reads more or less than the
range shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hive_otel.collector.dashboards import (
    Dashboard,
    Panel,
    grafana_interval,
    interpolate,
    load_dashboards,
    resolve_variables,
)
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, ToolCall, traces_request

DASHBOARDS = {d.uid: d for d in load_dashboards()}
HOUR_NS = 3600 * 10**9
CALL_MINUTE = 40  # each hour's calls come 40 minutes past it, so a range starting at :30 cuts an hour in two
DAYS = 4
FIRST_DAY = datetime.fromtimestamp(BASE_NS / 1e9, UTC)


@pytest.fixture(scope="module")
def hourly_calls(store: Store) -> str:
    """A tenant with an LLM call (costing more each hour) and a tool call in every hour of four days."""
    tenant = "ranges"
    spans = []
    for hour in range(DAYS * 24):
        at_ns = BASE_NS + hour * HOUR_NS + CALL_MINUTE * 60 * 10**9
        spans.append(LlmCall(f"r:{hour}", cost_usd=0.001 * (hour + 1), at_ns=at_ns).span())
        spans.append(ToolCall(f"r:t{hour}", is_error=hour % 5 == 0, at_ns=at_ns).span())
    store.ingest_traces(traces_request([SessionBatch(Session("sess-r", "sess-r"), spans)]), tenant=tenant)
    return tenant


def _panel_rows(store: Store, dashboard: Dashboard, title: str, start: datetime, end: datetime, tenant: str) -> list:
    panel: Panel = next(p for p in dashboard.panels if p.title == title)
    variables = resolve_variables(dashboard, lambda sql: store.query(sql)[1], start, end, {"tenant": [tenant]})
    interval = grafana_interval(start, end, panel.max_data_points, panel.min_interval)
    sql = interpolate(panel.queries[0].sql, start=start, end=end, interval=interval, variables=variables)
    return store.query(sql, readonly=True)[1]


def _usage_panels(store: Store, start: datetime, end: datetime, tenant: str) -> dict[str, list]:
    """What the Usage dashboard's Cost, Calls and Tokens stats show and its By day table sums."""
    dashboard = DASHBOARDS["hive-usage"]
    (cost,) = _panel_rows(store, dashboard, "Cost", start, end, tenant)
    (calls,) = _panel_rows(store, dashboard, "Calls", start, end, tenant)
    (tokens,) = _panel_rows(store, dashboard, "Tokens", start, end, tenant)
    by_day = _panel_rows(store, dashboard, "By day", start, end, tenant)
    per_tenant_per_day = _panel_rows(store, DASHBOARDS["hive-quotas"], "Per tenant per day", start, end, tenant)
    return {
        "stats": [*cost, calls[0], calls[2], calls[3], *tokens[:2]],
        "by day": sorted((str(row[0]), row[1]) for row in by_day),
        "quotas per day": sorted((str(row[0]), row[2]) for row in per_tenant_per_day),
    }


def _usage_answer(store: Store, since: datetime, until: datetime, tenant: str) -> dict[str, list]:
    """The same figures from `hive-otel usage --since --until` (the query layer)."""
    totals = usage(store, [], since=since, until=until, tenant=tenant).totals
    days = [(row["day"], row["llm_calls"]) for row in usage(store, ["day"], since=since, until=until, tenant=tenant).rows]
    measures = ("cost_usd", "cost_estimated_usd", "llm_calls", "tool_calls", "tool_errors", "input_tokens", "output_tokens")
    return {"stats": [totals[m] for m in measures], "by day": days, "quotas per day": days}


def _assert_same(shown: dict[str, list], answered: dict[str, list]) -> None:
    assert shown["stats"] == pytest.approx(answered["stats"], abs=1e-9)
    assert shown["by day"] == answered["by day"]
    assert shown["quotas per day"] == answered["quotas per day"]


def test_a_range_on_whole_hours_shows_what_usage_answers(store: Store, hourly_calls: str) -> None:
    """From 06:00 on the first day to 18:00 on the third: not the whole first and last days."""
    start, end = FIRST_DAY + timedelta(hours=6), FIRST_DAY + timedelta(days=2, hours=18)
    shown = _usage_panels(store, start, end, hourly_calls)
    _assert_same(shown, _usage_answer(store, start, end, hourly_calls))
    assert shown["stats"][2] == 2 * 24 + 12  # from day 1's 06:00 hour to day 3's 17:00 hour


def test_a_range_within_hours_shows_the_hours_that_start_in_it(store: Store, hourly_calls: str) -> None:
    """From 06:30 to 17:30: the panels read whole hours, those starting in the range (07:00 to 17:00)."""
    start, end = FIRST_DAY + timedelta(hours=6, minutes=30), FIRST_DAY + timedelta(days=2, hours=17, minutes=30)
    shown = _usage_panels(store, start, end, hourly_calls)
    hours_starting_in_range = (FIRST_DAY + timedelta(hours=7), FIRST_DAY + timedelta(days=2, hours=18))
    _assert_same(shown, _usage_answer(store, *hours_starting_in_range, hourly_calls))
