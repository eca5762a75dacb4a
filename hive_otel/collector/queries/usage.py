"""Usage grouped by any of model, provider, colony, session, root_session, tenant, user, agent_role,
tool, hour, day, month, read from the rollups whenever they can answer exactly: the one usage read of
``hive-otel usage``, ``POST /hive/v1/usage``, the API's usage routes and ``hive-otel report``'s numbers.

Which table answers:

* ``usage_daily``  — keys without ``hour``/``session`` and a range on whole days (month = the
  daily rows summed at query time);
* ``usage_hourly`` — with ``hour``, or a range on whole hours;
* ``usage_facts FINAL`` — with ``session`` (not a rollup dimension) or a range not on the hour.

:func:`usage` runs on an open :class:`~hive_otel.collector.store.store.Store`, or asks a reader that
answers usage itself (:class:`~hive_otel.collector.queries.remote.RemoteStore`: the collector that owns
an embedded store, by parameters). Its SQL is ``sql/usage.sql``; times follow
:mod:`~hive_otel.collector.queries.time_range`, key lists :mod:`~hive_otel.collector.queries.group_by`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from hive_otel.collector.queries.group_by import parse_keys
from hive_otel.collector.queries.time_range import TimeRange, parse_time
from hive_otel.collector.sql_files import template
from hive_otel.collector.store.transport import sql_string

__all__ = [
    "GROUP_KEYS", "MAX_ROWS", "MEASURES", "AnswersUsage", "Queryable", "UsageQuery", "UsageReport", "one_of",
    "time_conditions", "usage", "usage_sql",
]  # fmt: skip

MEASURES = (
    "llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cache_creation_tokens", "cost_usd",
    "cost_estimated_usd", "unpriced_calls", "tool_calls", "tool_errors",
)  # fmt: skip
_COST_MEASURES = ("cost_usd", "cost_estimated_usd")
MAX_ROWS = 100_000
"""The most rows one report answers; past them it is refused with what to do (a ValueError). A tenant's
``POST /hive/v1/usage`` of 140k rows took 2.3 s and 240 MB of the collector's memory, unbounded before."""

# key → (expression on a rollup, expression on usage_facts); None = that table cannot answer it.
_KEYS: dict[str, tuple[str | None, str]] = {
    "model": ("model", "model"),
    "provider": ("provider", "provider"),
    "colony": ("colony", "colony"),
    "session": (None, "session"),
    "root_session": ("root_session", "root_session"),
    "tenant": ("tenant", "tenant"),
    "user": ("user", "user"),
    "agent_role": ("agent_role", "agent_role"),
    "tool": ("tool_name", "tool_name"),
    "hour": ("toStartOfHour({t})", "toStartOfHour(occurred_at)"),
    "day": ("toDate({t})", "toDate(occurred_at)"),
    "month": ("toStartOfMonth({t})", "toStartOfMonth(occurred_at)"),
}
GROUP_KEYS = tuple(_KEYS)
_TIME_KEYS = ("hour", "day", "month")

# The same measures computed from current facts (one row per call).
_FACT_MEASURES = {
    "llm_calls": "countIf(kind = 'llm')",
    "input_tokens": "sum(input_tokens)",
    "output_tokens": "sum(output_tokens)",
    "cached_tokens": "sum(cached_tokens)",
    "cache_creation_tokens": "sum(cache_creation_tokens)",
    "cost_usd": "sum(cost_usd)",
    "cost_estimated_usd": "sum(cost_estimated_usd)",
    "unpriced_calls": "countIf(kind = 'llm' AND cost_source = 'unpriced')",
    "tool_calls": "countIf(kind = 'tool')",
    "tool_errors": "countIf(kind = 'tool' AND is_error = 1)",
}
_TIME_COLUMNS = {"usage_facts": "occurred_at", "usage_hourly": "hour", "usage_daily": "day"}


class Queryable(Protocol):
    def query(self, sql: str, readonly: bool = False) -> tuple[list[str], list[list[Any]]]: ...


@dataclass(frozen=True)
class UsageQuery:
    """A checked usage question: keys, ``[since, until)``, one tenant or all (None), key filters, and
    the sessions the calls must be of (None: any): a session's tree below its root, which no key names."""

    group_by: tuple[str, ...]
    since: datetime | None = None
    until: datetime | None = None
    tenant: str | None = None
    filters: tuple[tuple[str, str], ...] = ()
    sessions: tuple[str, ...] | None = None

    @classmethod
    def parse(
        cls,
        group_by: str | Sequence[str] | None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        tenant: str | None = None,
        filters: Mapping[str, str | Sequence[str]] | None = None,
    ) -> UsageQuery:
        """``filters`` maps a key to its value, or ``session`` to a list of ids (any of them). Raises
        ValueError for an unknown or repeated key, a bad filter value, a bad time or an empty range."""
        keys = parse_keys(group_by, GROUP_KEYS)
        span = TimeRange(parse_time(since), parse_time(until)).checked()
        equal, sessions = _checked_filters(filters)
        return cls(tuple(keys), span.since, span.until, tenant, equal, sessions)


def _checked_filters(
    filters: Mapping[str, str | Sequence[str]] | None,
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...] | None]:
    """``filters`` with their keys checked and trimmed and their values strings, and the list of a
    ``session`` filter apart; a time key's value is an instant, written as ClickHouse reads it (any
    other string would fail the query, not the caller)."""
    if filters is None:
        return (), None
    if not isinstance(filters, Mapping):
        raise ValueError("filters: expected an object of key: value")
    checked, sessions, names = [], None, []
    for key, value in filters.items():
        name = key.strip() if isinstance(key, str) else key
        if not name or not isinstance(name, str):
            raise ValueError(f"filter key {key!r}: choose from {', '.join(GROUP_KEYS)}")
        names.append(name)
        if name == "session" and isinstance(value, list | tuple):
            sessions = _session_set(value)
            continue
        if not isinstance(value, str):
            raise ValueError(f"filter {name}: expected a string value, got {type(value).__name__}")
        _check_text(name, value)
        if name in _TIME_KEYS:
            moment = parse_time(value)
            value = "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S" if name == "hour" else "%Y-%m-%d")
        checked.append((name, value))
    parse_keys(names, GROUP_KEYS, what="filter")  # unknown or repeated
    return tuple(checked), sessions


def _session_set(ids: Sequence[Any]) -> tuple[str, ...]:
    """A ``session`` filter's ids, distinct and sorted (one set, one SQL text)."""
    if not all(isinstance(one, str) for one in ids):
        raise ValueError("filter session: expected a string or a list of strings")
    for one in ids:
        _check_text("session", one)
    return tuple(sorted(set(ids)))


def _check_text(name: str, value: str) -> None:
    """Refuse a value that is not text UTF-8 can carry: JSON's ``"\\ud800"`` decodes to a lone surrogate,
    which failed the query (a 500) as a value, and as one id of a set emptied the whole set in SQL."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError(f"filter {name}: {value!r} is not valid text (a lone surrogate)") from None


@runtime_checkable
class AnswersUsage(Protocol):
    """A reader that answers a :class:`UsageQuery` itself (the collector that owns the store)."""

    def usage_report(self, query: UsageQuery) -> UsageReport: ...


@dataclass
class UsageReport:
    group_by: list[str]
    since: str | None
    until: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the table that answered (not part of the JSON shape)

    def as_dict(self) -> dict[str, Any]:
        return {"group_by": self.group_by, "since": self.since, "until": self.until,
                "rows": self.rows, "totals": self.totals}  # fmt: skip


def _aligned(moment: datetime | None, step: timedelta) -> bool:
    if moment is None:
        return True
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) % step == timedelta(0)


def _choose_table(keys: Sequence[str], since: datetime | None, until: datetime | None) -> str:
    day, hour = timedelta(days=1), timedelta(hours=1)
    if "session" in keys or not (_aligned(since, hour) and _aligned(until, hour)):
        return "usage_facts"
    if "hour" in keys or not (_aligned(since, day) and _aligned(until, day)):
        return "usage_hourly"
    return "usage_daily"


def _literal_time(moment: datetime) -> str:
    return f"toDateTime64({sql_string(moment.strftime('%Y-%m-%d %H:%M:%S.%f'))}, 6, 'UTC')"


def _key_expression(key: str, table: str) -> str:
    rollup_expr, fact_expr = _KEYS[key]
    return fact_expr if table == "usage_facts" else str(rollup_expr).format(t=_TIME_COLUMNS[table])


def time_conditions(column: str, since: datetime | None, until: datetime | None) -> list[str]:
    """``since <= column < until`` as SQL conditions (none for an open side)."""
    clauses = [] if since is None else [f"{column} >= {_literal_time(since)}"]
    return clauses + ([] if until is None else [f"{column} < {_literal_time(until)}"])


def one_of(column: str, values: Collection[str]) -> str:
    """``column`` is one of ``values``, as SQL. The values travel as one JSON string: ClickHouse reads
    100,000 ids in 0.1 s that way, against 4.8 s as a tuple of literals (and a has() over an array
    literal, tested per row, took minutes); measured on chDB 26.9."""
    return f"{column} IN (SELECT arrayJoin(JSONExtract({sql_string(json.dumps(list(values)))}, 'Array(String)')))"


def _where(query: UsageQuery, table: str) -> str:
    clauses = [] if query.tenant is None else [f"tenant = {sql_string(query.tenant)}"]
    clauses += [f"{_key_expression(key, table)} = {sql_string(value)}" for key, value in query.filters]
    clauses += [] if query.sessions is None else [one_of("session", query.sessions)]
    clauses += time_conditions(_TIME_COLUMNS[table], query.since, query.until)
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def usage_sql(query: UsageQuery, keys: Sequence[str] | None = None) -> tuple[str, str]:
    """The grouped query (by ``keys``, default the query's) and the table it reads.

    A filter is answered by a table that holds its key, like a group by it: ``session`` by the facts,
    ``hour`` by the hours (usage_daily has no hour to compare)."""
    keys = query.group_by if keys is None else keys
    asked = [*keys, *(key for key, _ in query.filters), *([] if query.sessions is None else ["session"])]
    table = _choose_table(asked, query.since, query.until)
    on_facts = table == "usage_facts"
    columns = [f"{_key_expression(key, table)} AS `{key}`" for key in keys]
    columns += [(_FACT_MEASURES[m] if on_facts else f"sum({m})") + f" AS {m}" for m in MEASURES]
    grouping = ""
    if keys:
        positions = ", ".join(str(i + 1) for i in range(len(keys)))
        # Drop groups whose calls all moved elsewhere (a call's model arriving later nets to zero).
        nonzero = " OR ".join(f"{m} != 0" for m in ("llm_calls", "tool_calls", "input_tokens", "output_tokens"))
        grouping = f" GROUP BY {positions} HAVING {nonzero} ORDER BY {positions} LIMIT {MAX_ROWS + 1}"
    sql = template(__package__, "usage").format(
        columns=", ".join(columns), table="usage_facts FINAL" if on_facts else table,
        where=_where(query, table), grouping=grouping,
    )  # fmt: skip
    return sql, table


def _number(name: str, value: Any) -> int | float:
    if value is None:
        return 0
    if name in _COST_MEASURES:
        return round(float(value), 10)
    return int(value)


def _measures(record: Mapping[str, Any]) -> dict[str, int | float]:
    return {m: _number(m, record.get(m)) for m in MEASURES}


def run_usage(store: Queryable, query: UsageQuery) -> UsageReport:
    """The report of ``query`` from the store's tables."""
    sql, table = usage_sql(query)
    columns, rows = store.query(sql, readonly=True)
    since, until = (t.isoformat() if t else None for t in (query.since, query.until))
    report = UsageReport(list(query.group_by), since, until, source=table)
    if len(rows) > MAX_ROWS:
        raise ValueError(
            f"the report has more than {MAX_ROWS:,} rows: narrow the time range, add a filter or group by fewer keys "
            "(`hive-otel sql` reads more)"
        )
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        report.rows.append({**{key: record[key] for key in query.group_by}, **_measures(record)})
    columns, rows = store.query(usage_sql(query, keys=())[0], readonly=True)
    report.totals = _measures(dict(zip(columns, rows[0], strict=True)) if rows else {})
    return report


def usage(
    store: Queryable | AnswersUsage,
    group_by: str | Sequence[str],
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    tenant: str | None = None,
    *,
    filters: Mapping[str, str | Sequence[str]] | None = None,
) -> UsageReport:
    """Usage by ``group_by`` over ``[since, until)``, for one tenant or all of them, optionally only
    the calls matching ``filters`` (group key → value; ``session`` → a list of ids, any of them).
    Raises ValueError for a bad key or time."""
    query = UsageQuery.parse(group_by, since, until, tenant, filters)
    if isinstance(store, AnswersUsage):
        return store.usage_report(query)
    return run_usage(store, query)
