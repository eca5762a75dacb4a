"""The usage and status dashboards as one self-contained page (what ``hive-otel report --html out.html`` writes).

For people without Grafana. The page runs the panels of the provisioned Usage and Status dashboards
(deploy/grafana/dashboards, through :mod:`hive_otel.collector.dashboards`, so it shows the same numbers Grafana
does) over ``[--since, --until]`` and draws them with plotly.js, which is embedded in the page: it opens
offline, from a file or an e-mail attachment, and fetches nothing.

A panel whose query fails is shown as failed in the page and listed in :attr:`ReportResult.failed`
(the command exits 1 then); the rest of the page is still written.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.offline

from hive_otel import __version__
from hive_otel.collector.dashboards import (
    Dashboard,
    Panel,
    Selection,
    grafana_interval,
    interpolate,
    load_dashboards,
    resolve_variables,
)
from hive_otel.collector.queries.time_range import parse_time
from hive_otel.collector.queries.usage import Queryable
from hive_otel.collector.store.transport import StoreError

__all__ = ["DEFAULT_SINCE", "REPORTED_DASHBOARDS", "ReportResult", "write_report"]

REPORTED_DASHBOARDS = ("hive-usage", "hive-status")
DEFAULT_SINCE = "now-30d"
TABLE_ROWS = 50


@dataclass(frozen=True)
class ReportResult:
    path: Path
    charts: int  # panels drawn with plotly
    panels: int  # every panel in the page
    failed: tuple[str, ...]  # "dashboard: panel: error" for each panel whose query failed


# --- values --------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_FRACTIONAL_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+$")


def _format(value: Any, unit: str | None) -> str:
    if isinstance(value, str) and _FRACTIONAL_TIME.match(value):
        return value.split(".")[0]  # ClickHouse's nanoseconds are noise in a report
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    if unit == "currencyUSD":
        return f"${number:,.4f}" if abs(number) < 100 else f"${number:,.2f}"
    if unit == "percent":
        return f"{number:,.1f} %"
    if unit == "s":
        return f"{number:,.0f} s"
    if number.is_integer():
        return f"{number:,.0f}"
    return f"{number:,.4g}" if abs(number) < 1 else f"{number:,.2f}"


def _units(panel: Panel) -> dict[str, str]:
    """Column name → Grafana unit, from the panel's overrides (by name) over its default unit."""
    field_config = panel.raw.get("fieldConfig", {})
    units = {"*": field_config.get("defaults", {}).get("unit", "")}
    for override in field_config.get("overrides", []):
        for prop in override.get("properties", []):
            if prop.get("id") == "unit" and override.get("matcher", {}).get("id") == "byName":
                units[override["matcher"]["options"]] = prop["value"]
    return units


_GRAFANA_COLORS = {"green": "#73bf69", "red": "#f2495c", "blue": "#5794f2", "yellow": "#fade2a", "orange": "#ff9830"}


def _colors(panel: Panel) -> dict[str, str]:
    """Column name → color, from the panel's fixed-color overrides (e.g. failed in red)."""
    colors = {}
    for override in panel.raw.get("fieldConfig", {}).get("overrides", []):
        for prop in override.get("properties", []):
            if prop.get("id") == "color" and prop["value"].get("mode") == "fixed":
                fixed = prop["value"]["fixedColor"]
                colors[override["matcher"]["options"]] = _GRAFANA_COLORS.get(fixed, fixed)
    return colors


def _markdown(text: str) -> str:
    """The little markdown the dashboards' text panels use: **bold** and `code`."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


# --- panels → HTML --------------------------------------------------------------------------------


def _layout(fig: go.Figure, *, stacked: bool, horizontal: bool = False) -> go.Figure:
    fig.update_layout(
        template="plotly_white", height=320, margin={"l": 50, "r": 20, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.2}, barmode="stack" if stacked else "group",
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
    )  # fmt: skip
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return fig


def _series(columns: list[str], rows: list[list[Any]]) -> dict[str, tuple[list[Any], list[float | None]]]:
    """Grafana's time series: long rows (time, key, value) become one series per key; wide rows one per column."""
    times = [r[0] for r in rows]
    if len(columns) == 3 and all(isinstance(r[1], str) for r in rows):
        series: dict[str, tuple[list[Any], list[float | None]]] = {}
        for time_, key, value in rows:
            xs, ys = series.setdefault(key or "(none)", ([], []))
            xs.append(time_)
            ys.append(_number(value))
        return series
    return {name: (times, [_number(r[i]) for r in rows]) for i, name in enumerate(columns) if i > 0}


def _chart(panel: Panel, columns: list[str], rows: list[list[Any]]) -> go.Figure | None:
    custom = panel.raw.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
    options = panel.raw.get("options", {})
    if panel.type == "timeseries":
        bars = custom.get("drawStyle") == "bars"
        stacked = custom.get("stacking", {}).get("mode") == "normal"
        colors = _colors(panel)
        fig = go.Figure()
        for name, (xs, ys) in _series(columns, rows).items():
            marker = {"color": colors[name]} if name in colors else None
            if bars:
                fig.add_trace(go.Bar(x=xs, y=ys, name=name, marker=marker))
            else:
                fig.add_trace(go.Scatter(x=xs, y=ys, name=name, mode="lines+markers", marker=marker))
        return _layout(fig, stacked=bars and stacked)
    if panel.type in ("barchart", "bargauge"):
        labels = [str(r[0]) for r in rows]
        horizontal = panel.type == "bargauge" or options.get("orientation") == "horizontal"
        colors = _colors(panel)
        fig = go.Figure()
        for i, name in enumerate(columns[1:], start=1):
            values = [_number(r[i]) for r in rows]
            marker = {"color": colors[name]} if name in colors else None
            if horizontal:
                fig.add_trace(go.Bar(y=labels, x=values, name=name, orientation="h", marker=marker))
            else:
                fig.add_trace(go.Bar(x=labels, y=values, name=name, marker=marker))
        return _layout(fig, stacked=options.get("stacking") == "normal", horizontal=horizontal)
    if panel.type == "piechart":
        fig = go.Figure(go.Pie(labels=[str(r[0]) for r in rows], values=[_number(r[1]) for r in rows], hole=0.45))
        return _layout(fig, stacked=False)
    return None


def _stat(panel: Panel, columns: list[str], rows: list[list[Any]]) -> str:
    units = _units(panel)
    first = rows[0] if rows else [None] * len(columns)
    cards = "".join(
        f'<div class="stat"><div class="value">{html.escape(_format(v, units.get(c, units["*"])))}</div>'
        f'<div class="name">{html.escape(c)}</div></div>'
        for c, v in zip(columns, first, strict=True)
    )
    return f'<div class="stats">{cards}</div>'


def _table(panel: Panel, columns: list[str], rows: list[list[Any]]) -> str:
    units = _units(panel)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="{"num" if _number(v) is not None and not isinstance(v, str) else "text"}">'
            f"{html.escape(_format(v, units.get(c) or None))}</td>"
            for c, v in zip(columns, row, strict=True)
        ) + "</tr>"
        for row in rows[:TABLE_ROWS]
    )  # fmt: skip
    more = f'<p class="note">… and {len(rows) - TABLE_ROWS} more rows</p>' if len(rows) > TABLE_ROWS else ""
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>'


def _panel_html(panel: Panel, query: Callable[[str], tuple[list[str], list[list[Any]]]], sql: str) -> tuple[str, bool]:
    """The panel's body and whether it is a plotly chart; raises StoreError when its query fails."""
    columns, rows = query(sql)
    if not rows and panel.type != "stat":
        return '<p class="empty">No data in this range.</p>', False
    if panel.type == "stat":
        return _stat(panel, columns, rows), False
    figure = _chart(panel, columns, rows)
    if figure is None:
        return _table(panel, columns, rows), False
    config = {"displayModeBar": False, "responsive": True}
    return figure.to_html(full_html=False, include_plotlyjs=False, config=config), True


# --- the page ------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f4f5f7; color: #1f2328; }
header { background: #1f2937; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; } header p { margin: 0; color: #cbd5e1; font-size: 13px; }
main { padding: 12px 20px 40px; } h2 { margin: 26px 8px 4px; font-size: 18px; }
.intro { margin: 4px 8px 10px; font-size: 13px; color: #4b5563; max-width: 1100px; }
.grid { display: grid; grid-template-columns: repeat(24, 1fr); gap: 12px; }
.panel { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; min-width: 0; }
.panel h3 { margin: 0 0 6px; font-size: 14px; } .panel .desc { margin: -2px 0 6px; font-size: 12px; color: #6b7280; }
.stats { display: flex; flex-wrap: wrap; gap: 18px; } .stat .value { font-size: 24px; font-weight: 600; color: #1d4ed8; }
.stat .name { font-size: 12px; color: #6b7280; }
.table { overflow-x: auto; max-height: 420px; overflow-y: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th { position: sticky; top: 0; background: #f9fafb; text-align: left; border-bottom: 1px solid #e5e7eb; padding: 4px 8px; }
td { border-bottom: 1px solid #f1f5f9; padding: 3px 8px; white-space: pre; } td.num { text-align: right; }
.empty, .note { color: #6b7280; font-size: 12px; } .error { color: #b91c1c; font-size: 12px; white-space: pre-wrap; }
footer { color: #6b7280; font-size: 12px; padding: 0 28px 24px; }
"""


def _span(panel: Panel) -> int:
    """The panel's width in Grafana's 24-column grid, which the page's grid reuses."""
    return min(24, max(1, int(panel.raw.get("gridPos", {}).get("w", 12))))


def _time_range(reader: Queryable, since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """``[since, until]`` as Grafana reads them. Without ``until`` the range ends now, or at the latest
    event in the store when that is later (a client whose clock runs ahead must not vanish from its
    own report)."""
    start = parse_time(since or DEFAULT_SINCE, now)
    if until:
        end = parse_time(until, now, end=True)
    else:
        latest_sql = "SELECT toUnixTimestamp64Milli(max(last_event_at)) FROM agent_sessions"
        (latest,) = reader.query(latest_sql, readonly=True)[1][0]
        # +1 s: the time filters compare whole seconds, and the last event may end within its second
        end = max(now, datetime.fromtimestamp(int(latest or 0) / 1000 + 1, UTC))
    assert start is not None and end is not None  # parse_time returns None for no text only
    if end <= start:
        raise ValueError(f"the range is empty: --since {start:%Y-%m-%d %H:%M} is not before --until {end:%Y-%m-%d %H:%M}")
    return start, end


@dataclass
class _Tally:
    """What the page holds so far: panels, charts among them, and the panels that failed."""

    panels: int = 0
    charts: int = 0
    failed: list[str] = field(default_factory=list)


def _section(
    dashboard: Dashboard, reader: Queryable, start: datetime, end: datetime, tenant: str | None, tally: _Tally
) -> str:
    """One dashboard as a heading, its intro text and a grid of its panels."""

    def query(sql: str) -> tuple[list[str], list[list[Any]]]:
        return reader.query(sql, readonly=True)

    overrides = {"tenant": [tenant]} if tenant else None
    variables: dict[str, Selection] = resolve_variables(dashboard, lambda sql: query(sql)[1], start, end, overrides)
    intro, cells = "", []
    for panel in dashboard.panels:
        if panel.type == "text":
            intro = f'<p class="intro">{_markdown(panel.raw.get("options", {}).get("content", ""))}</p>'
            continue
        tally.panels += 1
        interval = grafana_interval(start, end, panel.max_data_points, panel.min_interval)
        try:
            sql = interpolate(panel.queries[0].sql, start=start, end=end, interval=interval, variables=variables)
            body, is_chart = _panel_html(panel, query, sql)
            tally.charts += is_chart
        except (StoreError, ValueError) as exc:
            tally.failed.append(f"{dashboard.title}: {panel.title}: {exc}")
            body = f'<p class="error">This panel failed: {html.escape(str(exc))}</p>'
        description = f'<p class="desc">{html.escape(panel.description)}</p>' if panel.description else ""
        cells.append(f'<section class="panel" style="grid-column: span {_span(panel)}">'
                     f"<h3>{html.escape(panel.title)}</h3>{description}{body}</section>")  # fmt: skip
    title = dashboard.title.split("·")[-1].strip()
    return f'<h2>{html.escape(title)}</h2>{intro}<div class="grid">{"".join(cells)}</div>'


def _page(sections: list[str], start: datetime, end: datetime, now: datetime, scope: str, source: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hive usage and status</title><style>{_CSS}</style>
<script>{plotly.offline.get_plotlyjs()}</script></head>
<body><header><h1>Hive usage and status</h1>
<p>{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC{scope} · {html.escape(source)} · generated {now:%Y-%m-%d %H:%M} UTC
by hive-otel {__version__}</p></header>
<main>{"".join(sections)}</main>
<footer>The same queries as the Grafana dashboards in deploy/grafana/dashboards. Runtime cost is what Hive priced;
estimated cost is genai-prices' estimate for calls Hive left unpriced.</footer>
</body></html>
"""


def write_report(
    reader: Queryable,
    path: Path,
    *,
    since: str | None,
    until: str | None,
    source: str,
    tenant: str | None = None,
    dashboards: Sequence[Dashboard] | None = None,
) -> ReportResult:
    """Write the page for ``[since, until]`` (Grafana expressions such as ``now-7d`` or ISO times; see
    :mod:`hive_otel.collector.queries.time_range`). ``tenant`` selects one tenant wherever the
    dashboards filter by tenant."""
    now = datetime.now(UTC)
    start, end = _time_range(reader, since, until, now)
    chosen = dashboards if dashboards is not None else [d for d in load_dashboards() if d.uid in REPORTED_DASHBOARDS]
    order = sorted(chosen, key=lambda d: REPORTED_DASHBOARDS.index(d.uid) if d.uid in REPORTED_DASHBOARDS else 99)
    tally = _Tally()
    sections = [_section(dashboard, reader, start, end, tenant, tally) for dashboard in order]
    scope = f" · tenant {html.escape(tenant)}" if tenant else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(sections, start, end, now, scope, source), encoding="utf-8")
    return ReportResult(path=path, charts=tally.charts, panels=tally.panels, failed=tuple(tally.failed))
