"""The Grafana dashboards in deploy/grafana/dashboards, readable and runnable without Grafana.

A panel's SQL is written for Grafana's ClickHouse datasource (grafana-clickhouse-datasource, pinned in
deploy/docker-compose.yml), so before ClickHouse sees it, two things rewrite it:

1. Grafana's frontend: the plugin's ``$__conditionalAll(condition, $var)`` (``1=1`` when ``$var`` is
   "All"), then the template variables (``$var``, ``${var}``, ``${var:format}``, ``[[var]]``), a
   multi-value variable without a format becoming ``'a','b'``;
2. the plugin's backend macros (pkg/macros/macros.go of the plugin): ``$__timeFilter(col)`` →
   ``col >= toDateTime(FROM) AND col <= toDateTime(TO)`` (Unix seconds), ``$__fromTime``/``$__toTime``
   → ``toDateTime(...)``, their ``_ms`` forms → ``fromUnixTimestamp64Milli(...)``, ``$__dateFilter(col)``
   → ``col >= toDate('YYYY-MM-DD') AND col <= toDate(...)``, ``$__timeInterval(col)`` →
   ``toStartOfInterval(toDateTime(col), INTERVAL N second)`` and ``$__interval_s`` → ``N``, N being
   the query interval in whole seconds (at least 1). Macros nested in arguments expand first.

:func:`interpolate` does both, the same way, so the tests run every panel's real query against a store
and ``hive-otel report`` charts the same queries Grafana shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "ALL",
    "DATASOURCE_UID",
    "FORMAT_TABLE",
    "FORMAT_TIME_SERIES",
    "Dashboard",
    "Panel",
    "Query",
    "Selection",
    "Variable",
    "dashboards_dir",
    "grafana_interval",
    "interpolate",
    "load_dashboard",
    "load_dashboards",
    "resolve_variables",
]

DATASOURCE_UID = "hive-clickhouse"
"""The uid every panel names; deploy/grafana/provisioning/datasources provisions it."""

ALL = "$__all"
"""The value Grafana stores for a variable's "All" option."""

DEFAULT_MAX_DATA_POINTS = 1000
"""Grafana asks for about one point per pixel of panel width; a panel without ``maxDataPoints`` is
taken to be 1000 pixels wide."""

FORMAT_TIME_SERIES, FORMAT_TABLE = 0, 1  # the datasource's query formats (sqlds FormatQueryOption)


# --- what a dashboard holds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    ref_id: str
    sql: str
    format: int  # FORMAT_TIME_SERIES or FORMAT_TABLE


@dataclass(frozen=True)
class Panel:
    id: int
    title: str
    type: str  # timeseries, barchart, piechart, stat, table, bargauge, text, ...
    description: str
    queries: tuple[Query, ...]
    max_data_points: int
    min_interval: timedelta | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Variable:
    name: str
    type: str  # query, custom, textbox, constant
    query: str  # SQL for a query variable, comma-separated options for custom, the default for textbox
    multi: bool
    include_all: bool
    current: tuple[str, ...]  # the saved selection; (ALL,) for "All"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    path: Path
    time_from: str
    time_to: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]  # rows flattened, in layout order
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def dashboards_dir() -> Path:
    """The packaged copy (a built wheel), else deploy/grafana/dashboards of the source tree."""
    packaged = Path(__file__).resolve().parents[1] / "data" / "dashboards"
    if any(packaged.glob("*.json")):
        return packaged
    return Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"


def load_dashboards(directory: Path | None = None) -> list[Dashboard]:
    """Every ``*.json`` dashboard in ``directory`` (default :func:`dashboards_dir`), by file name."""
    directory = directory or dashboards_dir()
    return [load_dashboard(path) for path in sorted(directory.glob("*.json"))]


def load_dashboard(path: Path) -> Dashboard:
    document = json.loads(path.read_text(encoding="utf-8"))
    return Dashboard(
        uid=document["uid"],
        title=document["title"],
        path=path,
        time_from=document.get("time", {}).get("from", "now-6h"),
        time_to=document.get("time", {}).get("to", "now"),
        variables=tuple(_variable(v) for v in document.get("templating", {}).get("list", [])),
        panels=tuple(_panel(p) for p in _flatten(document.get("panels", []))),
        raw=document,
    )


def _flatten(panels: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for panel in panels:
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside it
        else:
            out.append(panel)
    return out


def _panel(raw: Mapping[str, Any]) -> Panel:
    queries = tuple(
        Query(ref_id=t.get("refId", "A"), sql=t["rawSql"], format=int(t.get("format", FORMAT_TABLE)))
        for t in raw.get("targets", [])
        if t.get("rawSql")
    )
    interval = raw.get("interval")
    return Panel(
        id=int(raw.get("id", 0)),
        title=raw.get("title", ""),
        type=raw.get("type", ""),
        description=raw.get("description", ""),
        queries=queries,
        max_data_points=int(raw.get("maxDataPoints") or DEFAULT_MAX_DATA_POINTS),
        min_interval=_duration(interval) if interval else None,
        raw=raw,
    )


def _variable(raw: Mapping[str, Any]) -> Variable:
    current = raw.get("current") or {}
    value = current.get("value", ALL if raw.get("includeAll") else raw.get("query", ""))
    values = tuple(value) if isinstance(value, list) else (str(value),)
    query = raw.get("query", "")
    return Variable(
        name=raw["name"],
        type=raw.get("type", "query"),
        query=query.get("query", "") if isinstance(query, dict) else str(query),
        multi=bool(raw.get("multi")),
        include_all=bool(raw.get("includeAll")),
        current=values,
    )


# --- the interval, as Grafana computes it (the time range: hive_otel.collector.queries.time_range) -------------

_DURATION_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# Grafana's roundInterval: (upper bound of the raw interval, the interval used), in milliseconds.
_ROUNDED_INTERVALS_MS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000), (3_500, 2_000),
    (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000), (45_000, 30_000),
    (90_000, 60_000), (210_000, 120_000), (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000),
    (1_500_000, 1_200_000), (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000),
    (16_200_000, 10_800_000), (32_400_000, 21_600_000), (86_400_000, 43_200_000),
    (604_800_000, 86_400_000), (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)  # fmt: skip
_YEAR_MS = 31_536_000_000


def grafana_interval(start: datetime, end: datetime, max_data_points: int, min_interval: timedelta | None) -> timedelta:
    """The ``$__interval`` Grafana sends: the range over the data points, rounded, at least ``min_interval``."""
    raw_ms = (end - start).total_seconds() * 1000 / max(1, max_data_points)
    rounded = next((used for bound, used in _ROUNDED_INTERVALS_MS if raw_ms < bound), _YEAR_MS)
    interval = timedelta(milliseconds=rounded)
    return max(interval, min_interval) if min_interval else interval


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text.strip())
    if match is None:
        raise ValueError(f"unsupported interval {text!r}")
    return timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})


# --- template variables ----------------------------------------------------------------------------


class Selection(NamedTuple):
    """A variable's current value: what is selected, what could be, and whether Grafana holds a list."""

    selected: tuple[str, ...]  # (ALL,) for "All"
    options: tuple[str, ...]
    multi: bool

    @property
    def values(self) -> tuple[str, ...]:
        return self.options if self.selected == (ALL,) else self.selected


def resolve_variables(
    dashboard: Dashboard,
    query: Callable[[str], list[list[Any]]],
    start: datetime,
    end: datetime,
    overrides: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Selection]:
    """Each variable's :class:`Selection`, in dashboard order.

    A query variable's options are its SQL's first column, run through ``query`` after interpolating
    the variables before it (as Grafana refreshes them in order). The selection is ``overrides[name]``,
    else the dashboard's saved one; a saved value no longer among the options falls back to the first
    option, as Grafana does on load.
    """
    resolved: dict[str, Selection] = {}
    for variable in dashboard.variables:
        if variable.type == "query":
            sql = interpolate(variable.query, start=start, end=end, interval=timedelta(seconds=1), variables=resolved)
            options = tuple(str(row[0]) for row in query(sql))
        elif variable.type == "custom":
            options = tuple(o.strip() for o in variable.query.split(",") if o.strip())
        else:  # textbox, constant: free text whose default is the query field
            options = (variable.query,)
        selected = tuple(overrides[variable.name]) if overrides and variable.name in overrides else variable.current
        if selected != (ALL,) and variable.type in ("query", "custom") and not set(selected) <= set(options):
            selected = options[:1]
        resolved[variable.name] = Selection(selected, options, variable.multi or selected == (ALL,))
    return resolved


def _format(selection: Selection, fmt: str | None) -> str:
    values = selection.values
    if fmt is None:  # the datasource's own format: a list is quoted and joined, a single value is raw
        return "'" + "','".join(values) + "'" if selection.multi else "".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt == "raw":
        return ",".join(values)
    if fmt == "csv":
        return ",".join(values)
    raise ValueError(f"unsupported variable format {fmt!r}")


_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}")


def _replace_variables(sql: str, variables: Mapping[str, Selection]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        if name not in variables:
            return match[0]  # $__macros and unknown names stay for the backend (or fail there)
        return _format(variables[name], match[3] or match[5])

    return _VARIABLE.sub(substitute, sql)


def _conditional_all(sql: str, variables: Mapping[str, Selection]) -> str:
    """The plugin's ``$__conditionalAll(condition, $var)``: ``1=1`` when ``$var`` is All or empty, else
    the condition (also when ``$var`` is not a variable of the dashboard)."""
    marker = "$__conditionalAll("
    while (index := sql.rfind(marker)) != -1:
        args, after = _arguments(sql, index + len(marker) - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll needs 2 arguments, got {len(args)}")
        name = re.search(r"\$\{?(\w+)", args[1])
        selection = variables.get(name[1]) if name else None
        phrase = "1=1" if selection is not None and selection.selected in ((ALL,), ("",), ()) else args[0]
        sql = sql[:index] + phrase + sql[after:]
    return sql


# --- the plugin's backend macros ---------------------------------------------------------------------


def _arguments(text: str, open_paren: int) -> tuple[list[str], int]:
    """Split the argument list starting at ``text[open_paren] == '('`` on top-level commas.

    Returns the stripped arguments and the index just past the closing parenthesis; quotes and nested
    parentheses are respected.
    """
    depth, quote, start, args = 0, "", open_paren + 1, []
    for i in range(open_paren, len(text)):
        char = text[i]
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "'`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
                return ([] if args == [""] else args), i + 1
        elif char == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
    raise ValueError(f"unbalanced parentheses after {text[:open_paren]!r}")


def _macros(start: datetime, end: datetime, interval: timedelta) -> dict[str, tuple[int, Callable[[list[str]], str]]]:
    seconds = lambda t: f"toDateTime({int(t.timestamp())})"  # noqa: E731
    millis = lambda t: f"fromUnixTimestamp64Milli({int(t.timestamp() * 1000)})"  # noqa: E731
    date = lambda t: f"toDate('{t.astimezone(UTC):%Y-%m-%d}')"  # noqa: E731
    step_s = max(int(interval.total_seconds()), 1)
    step_ms = max(int(interval.total_seconds() * 1000), 1)
    return {  # name → (argument count, expansion)
        "timeFilter": (1, lambda a: f"{a[0]} >= {seconds(start)} AND {a[0]} <= {seconds(end)}"),
        "timeFilter_ms": (1, lambda a: f"{a[0]} >= {millis(start)} AND {a[0]} <= {millis(end)}"),
        "timeFrom": (1, lambda a: f"{a[0]} >= {seconds(start)}"),
        "timeTo": (1, lambda a: f"{a[0]} <= {seconds(end)}"),
        "dateFilter": (1, lambda a: f"{a[0]} >= {date(start)} AND {a[0]} <= {date(end)}"),
        "fromTime": (0, lambda _: seconds(start)),
        "toTime": (0, lambda _: seconds(end)),
        "fromTime_ms": (0, lambda _: millis(start)),
        "toTime_ms": (0, lambda _: millis(end)),
        "timeInterval": (1, lambda a: f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {step_s} second)"),
        "timeInterval_ms": (1, lambda a: f"toStartOfInterval(toDateTime64({a[0]}, 3), INTERVAL {step_ms} millisecond)"),
        "interval_s": (0, lambda _: str(step_s)),
    }


_MACRO = re.compile(r"\$__(\w+)")


def _expand_macros(sql: str, macros: Mapping[str, tuple[int, Callable[[list[str]], str]]]) -> str:
    out, i = [], 0
    while i < len(sql):
        char = sql[i]
        if char in "'`":  # copy a quoted literal or identifier as is
            end = i + 1
            while end < len(sql) and (sql[end] != char or sql[end - 1] == "\\"):
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
            continue
        match = _MACRO.match(sql, i) if char == "$" else None
        if match is None or match[1] not in macros:
            out.append(char)
            i += 1
            continue
        arity, expand = macros[match[1]]
        i = match.end()
        args: list[str] = []
        if i < len(sql) and sql[i] == "(":
            args, i = _arguments(sql, i)
            args = [_expand_macros(a, macros) for a in args]  # innermost first
        if len(args) != arity:
            raise ValueError(f"$__{match[1]} expects {arity} argument(s), received {len(args)}")
        out.append(expand(args))
    return "".join(out)


def interpolate(
    sql: str,
    *,
    start: datetime,
    end: datetime,
    interval: timedelta,
    variables: Mapping[str, Selection] | None = None,
) -> str:
    """The SQL ClickHouse receives for ``sql`` in a panel over [start, end] with ``interval``."""
    variables = variables or {}
    sql = _conditional_all(sql, variables)
    sql = _replace_variables(sql, variables)
    return _expand_macros(sql, _macros(start, end, interval))
