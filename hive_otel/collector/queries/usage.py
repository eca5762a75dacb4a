"""``hive-otel usage``: usage grouped by any of model, provider, colony, session, root_session, tenant,
user, agent_role, tool, hour, day, month, read from the rollups whenever they can answer exactly.

Which table answers:

* ``usage_daily``  — keys without ``hour``/``session`` and a range on whole days (month = the
  daily rows summed at query time);
* ``usage_hourly`` — with ``hour``, or a range on whole hours;
* ``usage_facts FINAL`` — with ``session`` (not a rollup dimension) or a range not on the hour.

Works on an open :class:`~hive_otel.collector.store.store.Store` or on a :class:`RemoteStore`, which asks
the process that owns an embedded store: by parameters (:meth:`RemoteStore.usage`, ``POST
{owner_url}/hive/v1/usage``), or on its SQL console (``POST {owner_url}/hive/v1/query`` with
``{"sql": ..., "readonly": true}`` → ``{"columns": [...], "rows": [...]}``, an admin token only).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hive_otel.collector.store.transport import StoreError, sql_string
from hive_otel.environment_variables import HIVE_OTEL_TOKEN

__all__ = ["GROUP_KEYS", "MEASURES", "QUERY_PATH", "Queryable", "RemoteStore", "UsageReport", "usage"]

QUERY_PATH = "/hive/v1/query"
USAGE_PATH = "/hive/v1/usage"

MEASURES = (
    "llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cache_creation_tokens", "cost_usd",
    "cost_estimated_usd", "unpriced_calls", "tool_calls", "tool_errors",
)  # fmt: skip
_COST_MEASURES = ("cost_usd", "cost_estimated_usd")

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


class Queryable(Protocol):
    def query(self, sql: str, readonly: bool = False) -> tuple[list[str], list[list[Any]]]: ...


class RemoteStore:
    """Read-only queries through the process that owns an embedded store."""

    def __init__(self, owner_url: str, timeout_s: float = 30.0, token: str | None = None) -> None:
        self.owner_url = owner_url.rstrip("/")
        self.timeout_s = timeout_s
        # The collector answers SQL only to an admin token: the store's local one (see _open_reader),
        # else HIVE_OTEL_TOKEN.
        self.token = token if token is not None else os.environ.get(HIVE_OTEL_TOKEN, "").strip() or None

    def query(self, sql: str, readonly: bool = True) -> tuple[list[str], list[list[Any]]]:
        """Run ``sql`` on the collector's SQL console (admin token only, console policy applies)."""
        doc = self._post(QUERY_PATH, {"sql": sql, "readonly": True})
        return list(doc["columns"]), list(doc["rows"])

    def console_query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        return self.query(sql)

    def usage(self, group_by: list[str], since: str | None, until: str | None, tenant: str | None) -> dict[str, Any]:
        """The usage report, asked by parameters (``POST /hive/v1/usage``), not as SQL."""
        return self._post(USAGE_PATH, {"group_by": group_by, "since": since, "until": until, "tenant": tenant})

    def _post(self, path: str, document: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(document).encode()
        request = urllib.request.Request(self.owner_url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise StoreError(f"the collector at {self.owner_url} refused the request ({exc.code}): {detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise StoreError(f"cannot ask the collector at {self.owner_url}: {exc}") from exc

    def close(self) -> None:
        return None


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


def parse_time(value: str | datetime | None) -> datetime | None:
    """ISO date or datetime (naive = UTC) → aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO date or time: {value!r}") from None
    return in_store_range(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC))


# The times every table of the store can compare against (its Date columns end in 2149): a bound
# outside is the caller's mistake, answered as such, never a failed query.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2149, 1, 1, tzinfo=UTC)


def in_store_range(moment: datetime) -> datetime:
    """``moment`` (aware), or ValueError when it lies outside [1970, 2149)."""
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{moment.isoformat()} is outside the store's time range (1970-01-01 to 2148-12-31)")
    return moment


def _aligned(moment: datetime | None, step: timedelta) -> bool:
    if moment is None:
        return True
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) % step == timedelta(0)


def _choose_table(keys: list[str], since: datetime | None, until: datetime | None) -> str:
    day, hour = timedelta(days=1), timedelta(hours=1)
    if "session" in keys or not (_aligned(since, hour) and _aligned(until, hour)):
        return "usage_facts"
    if "hour" in keys or not (_aligned(since, day) and _aligned(until, day)):
        return "usage_hourly"
    return "usage_daily"


def _literal_time(moment: datetime) -> str:
    return f"toDateTime64({sql_string(moment.strftime('%Y-%m-%d %H:%M:%S.%f'))}, 6, 'UTC')"


def build_sql(
    keys: list[str],
    since: datetime | None,
    until: datetime | None,
    tenant: str | None,
    filters: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """The grouped query and the table it reads. Half-open range: since <= t < until.

    ``filters`` keeps only the calls whose group key equals a value (``{"colony": "research"}``);
    a filter on ``session`` is answered from the facts, like a group by it."""
    filters = filters or {}
    table = _choose_table(keys + [k for k in filters if k not in ("hour", "day", "month")], since, until)
    on_facts = table == "usage_facts"
    time_column = {"usage_facts": "occurred_at", "usage_hourly": "hour", "usage_daily": "day"}[table]
    select = []
    for key in keys:
        rollup_expr, fact_expr = _KEYS[key]
        expr = fact_expr if on_facts else str(rollup_expr).format(t=time_column)
        select.append(f"{expr} AS `{key}`")
    measures = [(_FACT_MEASURES[m] if on_facts else f"sum({m})") + f" AS {m}" for m in MEASURES]
    where = []
    if tenant is not None:
        where.append(f"tenant = {sql_string(tenant)}")
    for key, value in filters.items():
        rollup_expr, fact_expr = _KEYS[key]
        expr = fact_expr if on_facts else str(rollup_expr).format(t=time_column)
        where.append(f"{expr} = {sql_string(value)}")
    if since is not None:
        where.append(f"{time_column} >= {_literal_time(since)}")
    if until is not None:
        where.append(f"{time_column} < {_literal_time(until)}")
    source = "usage_facts FINAL" if on_facts else table
    sql = f"SELECT {', '.join(select + measures)} FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if keys:
        positions = ", ".join(str(i + 1) for i in range(len(keys)))
        # Drop groups whose calls all moved elsewhere (a call's model arriving later nets to zero).
        nonzero = " OR ".join(f"{m} != 0" for m in ("llm_calls", "tool_calls", "input_tokens", "output_tokens"))
        sql += f" GROUP BY {positions} HAVING {nonzero} ORDER BY {positions}"
    return sql, table


def _number(name: str, value: Any) -> int | float:
    if value is None:
        return 0
    if name in _COST_MEASURES:
        return round(float(value), 10)
    return int(value)


def usage(
    store: Queryable,
    group_by: list[str],
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    tenant: str | None = None,
    *,
    filters: Mapping[str, str] | None = None,
) -> UsageReport:
    """Usage by ``group_by`` over ``[since, until)``, for one tenant or all of them, optionally only
    the calls matching ``filters`` (group key → value)."""
    unknown = [k for k in [*group_by, *(filters or {})] if k not in _KEYS]
    if unknown:
        raise ValueError(f"unknown group-by key(s) {unknown}; choose from {', '.join(GROUP_KEYS)}")
    if len(set(group_by)) != len(group_by):
        raise ValueError("a group-by key is repeated")
    start, end = parse_time(since), parse_time(until)
    if start and end and start >= end:
        raise ValueError("--since must be before --until")
    sql, table = build_sql(group_by, start, end, tenant, filters)
    columns, rows = store.query(sql, readonly=True)
    report = UsageReport(group_by, start.isoformat() if start else None, end.isoformat() if end else None,
                         source=table)  # fmt: skip
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        out: dict[str, Any] = {key: record[key] for key in group_by}
        out.update({m: _number(m, record[m]) for m in MEASURES})
        report.rows.append(out)
    totals_sql, _ = build_sql([], start, end, tenant, filters)
    columns, rows = store.query(totals_sql, readonly=True)
    record = dict(zip(columns, rows[0], strict=True)) if rows else {}
    report.totals = {m: _number(m, record.get(m)) for m in MEASURES}
    return report
