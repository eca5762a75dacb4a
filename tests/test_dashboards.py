"""hive_otel.collector.dashboards expands panel SQL exactly as Grafana and the ClickHouse datasource plugin do.

The expected strings follow the plugin's own rules (grafana-clickhouse-datasource v4.20.0,
pkg/macros/macros.go and its tests; src/data/CHDatasource.ts for ``$__conditionalAll`` and the
variable format) and Grafana's (rangeutil's roundInterval, template variable formats).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hive_otel.collector.dashboards import ALL, Selection, grafana_interval, interpolate
from hive_otel.collector.queries.time_range import parse_time

START = datetime(2025, 3, 1, 8, 30, 15, 250000, tzinfo=UTC)  # 1740817815.25
END = datetime(2025, 3, 8, 8, 30, 15, 750000, tzinfo=UTC)  # 1741422615.75


def expand(sql: str, interval: timedelta = timedelta(minutes=10), **variables: Selection) -> str:
    return interpolate(sql, start=START, end=END, interval=interval, variables=variables)


F, T = "toDateTime(1740817815)", "toDateTime(1741422615)"  # START and END in whole seconds
FMS, TMS = "fromUnixTimestamp64Milli(1740817815250)", "fromUnixTimestamp64Milli(1741422615750)"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("WHERE $__timeFilter(ts)", f"WHERE ts >= {F} AND ts <= {T}"),
        ("WHERE $__timeFilter(cast(x as DateTime) )", f"WHERE cast(x as DateTime) >= {F} AND cast(x as DateTime) <= {T}"),
        ("WHERE $__timeFilter_ms(ts)", f"WHERE ts >= {FMS} AND ts <= {TMS}"),
        ("WHERE ts >= $__fromTime AND ts <= $__toTime", f"WHERE ts >= {F} AND ts <= {T}"),
        ("WHERE ts > $__fromTime_ms AND ts < $__toTime_ms", f"WHERE ts > {FMS} AND ts < {TMS}"),
        ("WHERE $__dateFilter(day)", "WHERE day >= toDate('2025-03-01') AND day <= toDate('2025-03-08')"),
        ("WHERE $__timeFrom(ts) AND $__timeTo(ts)", f"WHERE ts >= {F} AND ts <= {T}"),
        ("SELECT $__timeInterval(ts)", "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 600 second)"),
        ("SELECT $__timeInterval_ms(ts)", "SELECT toStartOfInterval(toDateTime64(ts, 3), INTERVAL 600000 millisecond)"),
        ("SELECT $__interval_s", "SELECT 600"),
        # nested macros expand innermost first
        ("SELECT $__timeInterval($__fromTime)", f"SELECT toStartOfInterval(toDateTime({F}), INTERVAL 600 second)"),
        ("WHERE $__timeFilter(coalesce(t, $__toTime))", f"WHERE coalesce(t, {T}) >= {F} AND coalesce(t, {T}) <= {T}"),
        # string literals (with ClickHouse's backslash escapes) are left alone
        (r"WHERE m = 'it\'s $__fromTime' AND $__toTime > 0", rf"WHERE m = 'it\'s $__fromTime' AND {T} > 0"),
        # a macro the plugin does not know reaches ClickHouse unchanged (and fails there)
        ("SELECT $__unknownMacro(x)", "SELECT $__unknownMacro(x)"),
    ],
)
def test_backend_macros(sql: str, expected: str) -> None:
    assert expand(sql) == expected


def test_interval_is_whole_seconds_and_at_least_one() -> None:
    assert expand("$__interval_s $__timeInterval(t)", timedelta(milliseconds=200)) == (
        "1 toStartOfInterval(toDateTime(t), INTERVAL 1 second)"
    )
    assert expand("$__timeInterval_ms(t)", timedelta(milliseconds=200)).endswith("INTERVAL 200 millisecond)")


def test_wrong_argument_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="timeFilter expects 1"):
        expand("WHERE $__timeFilter(a, b)")


TENANTS_ALL = Selection((ALL,), ("acme", "o'hara"), True)
TENANT_ONE = Selection(("acme",), ("acme", "o'hara"), True)
CAP = Selection(("100",), ("100",), False)


def test_conditional_all_drops_the_condition_only_for_all() -> None:
    sql = "WHERE $__conditionalAll(tenant IN (${tenant:singlequote}), $tenant) AND x"
    assert expand(sql, tenant=TENANTS_ALL) == "WHERE 1=1 AND x"
    assert expand(sql, tenant=TENANT_ONE) == "WHERE tenant IN ('acme') AND x"
    assert expand(sql.replace("$tenant)", "${tenant})"), tenant=TENANT_ONE) == "WHERE tenant IN ('acme') AND x"
    assert expand(sql) == "WHERE tenant IN (${tenant:singlequote}) AND x"  # not a variable: kept as written


def test_variable_formats() -> None:
    assert expand("IN (${tenant:singlequote})", tenant=TENANTS_ALL) == r"IN ('acme','o\'hara')"
    assert expand("IN (${tenant:sqlstring})", tenant=TENANTS_ALL) == "IN ('acme','o''hara')"
    assert expand("IN ($tenant)", tenant=TENANTS_ALL) == "IN ('acme','o'hara')"  # the datasource's own format
    assert expand("IN ([[tenant]])", tenant=TENANT_ONE) == "IN ('acme')"  # a multi-value variable is a list
    assert expand("< ${cap} AND < $cap AND ${cap:sqlstring}", cap=CAP) == "< 100 AND < 100 AND '100'"
    assert expand("$__timeFilter(t) AND c < $cap", cap=CAP).endswith("AND c < 100")


def test_relative_times() -> None:
    now = datetime(2026, 3, 18, 15, 42, 7, tzinfo=UTC)  # a Wednesday
    assert parse_time("now", now) == now
    assert parse_time("now-7d", now) == datetime(2026, 3, 11, 15, 42, 7, tzinfo=UTC)
    assert parse_time("now-6h", now) == datetime(2026, 3, 18, 9, 42, 7, tzinfo=UTC)
    assert parse_time("now/d", now) == datetime(2026, 3, 18, tzinfo=UTC)
    assert parse_time("now/w", now) == datetime(2026, 3, 16, tzinfo=UTC)
    assert parse_time("now/M", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_time("now/M", now, end=True) == datetime(2026, 3, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert parse_time("now-1M/M", now) == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_time("now-13M", now) == datetime(2025, 2, 18, 15, 42, 7, tzinfo=UTC)
    assert parse_time("now-1y/y", now) == datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_time("2026-03-01T00:00:00+02:00", now) == datetime(2026, 2, 28, 22, tzinfo=UTC)


def test_interval_is_rounded_like_grafana() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert grafana_interval(start, start + timedelta(days=7), 1000, None) == timedelta(minutes=10)  # 604.8 s
    assert grafana_interval(start, start + timedelta(hours=24), 1000, None) == timedelta(minutes=1)  # 86.4 s
    assert grafana_interval(start, start + timedelta(hours=1), 1000, None) == timedelta(seconds=5)  # 3.6 s
    assert grafana_interval(start, start + timedelta(days=7), 1000, timedelta(hours=1)) == timedelta(hours=1)
    assert grafana_interval(start, start + timedelta(days=3650), 10, None) == timedelta(days=365)
