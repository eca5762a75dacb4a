"""The dashboards' usage panels as templates of the query layer (``sql/panels/*.sql``), so Grafana,
``hive-otel report`` and the store read usage by the same SQL.

Each usage panel of deploy/grafana/dashboards (``usage.json``, and ``quotas.json``'s per-tenant usage)
has a template named ``panels/<dashboard>_<panel id>_<title>``; its ``rawSql`` is the template rendered
for Grafana (:func:`grafana_panel_sql`; tests/deploy/test_dashboards.py checks every panel). The same
template runs on the store for a :class:`~hive_otel.collector.queries.time_range.TimeRange` and key
values (:func:`panel_sql`), with the conditions :func:`~hive_otel.collector.queries.usage.usage` writes.
Placeholders:

* ``{range:COLUMN}`` — the time range on COLUMN. Grafana: ``hour >= $__fromTime AND hour < $__toTime`` on
  the hourly rollup's bucket (the hours that start in the range, half-open like every usage range), else
  ``$__timeFilter(COLUMN)``; the store: ``since <= COLUMN < until``. Usage panels read ``usage_hourly``, not
  ``usage_daily``: a day's bucket would put the whole first and last days of a range in it.
* ``{filter:KEY}`` — the selected values of a usage key (tenant, user, model). Grafana:
  ``$__conditionalAll(KEY IN (${KEY:singlequote}), $KEY)`` over the dashboard variable of that name; the
  store: ``KEY = 'value'``, or no condition when no value is given.
* ``{interval:COLUMN}`` — a time bucket. Grafana: ``$__timeInterval(COLUMN)``; the store: the hour.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from hive_otel.collector.queries.group_by import parse_keys
from hive_otel.collector.queries.time_range import TimeRange
from hive_otel.collector.queries.usage import GROUP_KEYS, time_conditions
from hive_otel.collector.sql_files import template, templates
from hive_otel.collector.store.transport import sql_string

__all__ = ["grafana_panel_sql", "panel_names", "panel_sql"]

_PLACEHOLDER = re.compile(r"\{(range|filter|interval):(\w+)\}")
_HOUR_BUCKETS = frozenset({"hour"})  # usage_hourly's column: the hour a row's calls fall in


def panel_names() -> list[str]:
    """Every usage panel template, e.g. ``panels/usage_03_calls``."""
    return templates(__package__, "panels")


def _render(name: str, fill: Callable[[str, str], str]) -> str:
    return _PLACEHOLDER.sub(lambda match: fill(match[1], match[2]), template(__package__, name))


def _grafana_range(column: str) -> str:
    if column in _HOUR_BUCKETS:
        # Half-open, as `hive-otel usage` reads a range: from 10:00 to 12:00 is two hours, where the plugin's
        # $__timeFilter (column <= to) would add the hour starting at 12:00.
        return f"{column} >= $__fromTime AND {column} < $__toTime"
    return f"$__timeFilter({column})"


def _grafana(kind: str, name: str) -> str:
    if kind == "range":
        return _grafana_range(name)
    if kind == "filter":
        parse_keys([name], GROUP_KEYS, what="filter")
        return f"$__conditionalAll({name} IN (${{{name}:singlequote}}), ${name})"
    return f"$__timeInterval({name})"


def grafana_panel_sql(name: str) -> str:
    """The panel's SQL as Grafana's ClickHouse datasource reads it (its ``rawSql``)."""
    return _render(name, _grafana)


def panel_sql(name: str, span: TimeRange, values: Mapping[str, str] | None = None) -> str:
    """The panel's SQL on the store over ``span``, narrowed to ``values`` (usage key → value)."""
    values = values or {}
    parse_keys(list(values), GROUP_KEYS, what="filter")

    def fill(kind: str, column: str) -> str:
        if kind == "range":
            return " AND ".join(time_conditions(column, span.since, span.until)) or "1=1"
        if kind == "filter":
            return f"{column} = {sql_string(values[column])}" if column in values else "1=1"
        return f"toStartOfHour({column})"

    return _render(name, fill)
