"""Every panel of the provisioned Grafana dashboards runs, as Grafana would send it, against a real store.

The SQL of each panel goes through :func:`hive_otel.collector.dashboards.interpolate` (the ClickHouse datasource's
``$__conditionalAll``, template variables and backend macros, expanded as the plugin does; see
tests/test_dashboards.py for the expansions themselves) over the dashboard's own default time range,
and must return rows from chDB loaded by the real pipeline. Grafana itself cannot run here (no Docker,
no Grafana binary), so the rendering is not exercised; the queries, their variables and the
datasource wiring are.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from devtools.workload import WorkloadTruth
from hive_otel.collector.dashboards import (
    ALL,
    DATASOURCE_UID,
    FORMAT_TIME_SERIES,
    Dashboard,
    Panel,
    Query,
    Selection,
    grafana_interval,
    interpolate,
    load_dashboards,
    resolve_variables,
)
from hive_otel.collector.queries.panels import grafana_panel_sql, panel_names, panel_sql
from hive_otel.collector.queries.status import (
    HEALTH_STATES,
    MAX_SESSIONS,
    colony_workers,
    recent_sessions,
    sessions_health,
)
from hive_otel.collector.queries.time_range import TimeRange, parse_time
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.store import Store
from tests.demo_store import TENANTS, load_demo_store

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARDS = load_dashboards(GRAFANA / "dashboards")
PANEL_QUERIES = [(d, p, q) for d in DASHBOARDS for p in d.panels for q in p.queries]
ROLLUP_FREE_DASHBOARDS = {"hive-session"}  # per-call rows of one session: no rollup has them


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, WorkloadTruth]]]:
    store, truths = load_demo_store(tmp_path_factory.mktemp("dashboards"))
    yield store, truths
    store.close()


def _rows(store: Store, sql: str) -> list[list[object]]:
    return store.query(sql, readonly=True)[1]


def _now(store: Store) -> datetime:
    """When someone looks at the dashboards: now, or just after the last event if that is later (the
    workload scripts its latencies, so a session it just wrote can end a few seconds ahead of the clock)."""
    (latest,) = _rows(store, "SELECT toUnixTimestamp64Milli(max(last_event_at)) FROM agent_session_status")[0]
    return max(datetime.now(UTC), datetime.fromtimestamp(int(latest) / 1000 + 1, UTC))


def _expand(
    store: Store, dashboard: Dashboard, panel: Panel, query: Query, overrides: dict[str, list[str]] | None = None
) -> str:
    now = _now(store)
    start, end = parse_time(dashboard.time_from, now), parse_time(dashboard.time_to, now, end=True)
    variables = resolve_variables(dashboard, lambda sql: _rows(store, sql), start, end, overrides)
    interval = grafana_interval(start, end, panel.max_data_points, panel.min_interval)
    return interpolate(query.sql, start=start, end=end, interval=interval, variables=variables)


def _drilled_into(store: Store) -> dict[str, list[str]]:
    """The session drill-down (its tenant and session) on the last active session with something in every panel: status
    events, LLM calls and tool calls. The dashboard's default, the last active session of all, is now
    and then one of RuntimeLogger's runs (L1-L3 files: spans and calls, no bus events), or a queen
    that called no tool, whose "Status events" or "Tool calls" panel is then rightly empty."""
    (tenant, session) = _rows(
        store,
        "SELECT tenant, session FROM agent_session_status WHERE llm_calls > 0 AND tool_calls > 0 AND session IN"
        " (SELECT ResourceAttributes['hive.session.id'] FROM otel_logs) ORDER BY last_event_at DESC, session LIMIT 1",
    )[0]
    return {"tenant": [str(tenant)], "session": [str(session)]}


def test_the_dashboards_are_usage_status_session_and_quotas() -> None:
    assert {d.uid for d in DASHBOARDS} == {"hive-usage", "hive-status", "hive-session", "hive-quotas"}
    assert len({d.title for d in DASHBOARDS}) == len(DASHBOARDS)


def test_every_query_names_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml").read_text())
    assert [d["uid"] for d in provisioned["datasources"]] == [DATASOURCE_UID]
    assert provisioned["datasources"][0]["type"] == "grafana-clickhouse-datasource"
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels:
            if panel.type == "text":
                continue
            assert panel.queries, f"{dashboard.uid}: {panel.title!r} has no SQL"
            assert panel.raw["datasource"]["uid"] == DATASOURCE_UID, panel.title
            for target in panel.raw["targets"]:
                assert target["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
                assert target["editorType"] == "sql"
        for variable in dashboard.raw["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == DATASOURCE_UID, variable["name"]


def test_the_dashboard_provider_reads_the_mounted_directory() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "hive.yaml").read_text())["providers"][0]
    compose = yaml.safe_load((GRAFANA.parent / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_layout_fits_the_grid_and_ids_are_unique() -> None:
    for dashboard in DASHBOARDS:
        ids = [p.id for p in dashboard.panels]
        assert len(ids) == len(set(ids)), dashboard.uid
        for panel in dashboard.panels:
            grid = panel.raw["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, (dashboard.uid, panel.title)


def test_variables_in_panel_sql_name_their_format() -> None:
    """A bare ``$var`` would be formatted by the datasource (a list quoted, a single value raw), which is
    easy to get wrong; every reference outside ``$__conditionalAll``'s second argument says how."""
    for dashboard in DASHBOARDS:
        names = [v.name for v in dashboard.variables]
        for panel in dashboard.panels:
            for query in panel.queries:
                sql = re.sub(r",\s*\$\w+\)", ")", query.sql)  # the $__conditionalAll(..., $var) argument
                for name in names:
                    assert not re.search(rf"\${name}\b|\[\[{name}\]\]|\$\{{{name}\}}", sql), (panel.title, name)


def test_rollups_are_read_wherever_one_exists() -> None:
    for dashboard, panel, query in PANEL_QUERIES:
        assert "usage_ledger" not in query.sql, panel.title
        if dashboard.uid not in ROLLUP_FREE_DASHBOARDS:
            assert "usage_facts" not in query.sql, f"{dashboard.uid}: {panel.title!r} scans usage_facts"


def test_query_variables_have_options(loaded: tuple[Store, dict[str, WorkloadTruth]]) -> None:
    store, _ = loaded
    now = _now(store)
    for dashboard in DASHBOARDS:
        resolved = resolve_variables(dashboard, lambda sql: _rows(store, sql), now, now)
        for variable in dashboard.variables:
            assert resolved[variable.name].options, f"{dashboard.uid}: ${variable.name} has no options"
    usage = next(d for d in DASHBOARDS if d.uid == "hive-usage")
    assert set(resolve_variables(usage, lambda sql: _rows(store, sql), now, now)["tenant"].options) == set(TENANTS)


@pytest.mark.parametrize(
    ("dashboard", "panel", "query"),
    PANEL_QUERIES,
    ids=[f"{d.uid}:{p.title or p.type}:{q.ref_id}" for d, p, q in PANEL_QUERIES],
)
def test_panel_query_runs_and_returns_rows(
    loaded: tuple[Store, dict[str, WorkloadTruth]], dashboard: Dashboard, panel: Panel, query: Query
) -> None:
    store, _ = loaded
    sql = _expand(store, dashboard, panel, query, _drilled_into(store) if dashboard.uid == "hive-session" else None)
    assert "$" not in sql.replace("$__all", ""), f"unexpanded macro or variable in:\n{sql}"
    columns, rows = store.query(sql, readonly=True)
    assert rows, f"{dashboard.uid}: {panel.title!r} returned no rows:\n{sql}"
    if query.format == FORMAT_TIME_SERIES:  # Grafana turns long rows into series by time, in order
        assert columns[0] == "time"
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_status_panels_call_each_session_what_the_api_calls_it(
    loaded: tuple[Store, dict[str, WorkloadTruth]],
) -> None:
    """One definition of health (seed §8.5: idle by design is not stalled by bug): the Status dashboard's
    health panels count what the API's ``session_health`` reads say, session for session and per colony."""
    store, _ = loaded
    status = next(d for d in DASHBOARDS if d.uid == "hive-status")
    panels = {p.title: p for p in status.panels}

    def panel_rows(title: str) -> list[list[object]]:
        return _rows(store, _expand(store, status, panels[title], panels[title].queries[0]))

    api = sessions_health(store, None, "")
    assert {str(h): int(n) for h, n in panel_rows("Health")} == Counter(r["health"] for r in api)
    assert len({r["health"] for r in api}) > 1, "the demo store should hold sessions in several states"
    for colony, *counts in panel_rows("Worker health by colony"):
        by_health = colony_workers(store, None, "" if colony == "(none)" else str(colony))["health"]["by_health"]
        assert dict(zip(HEALTH_STATES, map(int, counts), strict=True)) == by_health, colony


def test_the_status_command_calls_each_session_what_the_api_calls_it(
    loaded: tuple[Store, dict[str, WorkloadTruth]],
) -> None:
    """`hive-otel status` listed only the lifecycle (a stalled queen showed as `active`); its health
    column is the API's."""
    store, _ = loaded
    columns, rows = recent_sessions(store, None, MAX_SESSIONS)
    listed = {(r[columns.index("tenant")], r[columns.index("session")]): r[columns.index("health")] for r in rows}
    assert listed == {(r["tenant"], r["session"]): r["health"] for r in sessions_health(store, None, "")}
    assert "stalled" in listed.values()


def test_usage_panels_equal_the_workload_per_tenant(loaded: tuple[Store, dict[str, WorkloadTruth]]) -> None:
    """Selecting one tenant filters every usage figure to exactly what that tenant's Hive emitted."""
    store, truths = loaded
    usage = next(d for d in DASHBOARDS if d.uid == "hive-usage")
    calls = next(p for p in usage.panels if p.title == "Calls")
    cost = next(p for p in usage.panels if p.title == "Cost")
    for tenant, truth in truths.items():
        expected = truth.totals()
        (row,) = _rows(store, _expand(store, usage, calls, calls.queries[0], {"tenant": [tenant]}))
        # (its "unpriced" counts calls neither Hive nor genai-prices priced, which the workload cannot know)
        assert [row[0], row[2], row[3]] == [expected.llm_calls, expected.tool_calls, expected.tool_errors]
        (row,) = _rows(store, _expand(store, usage, cost, cost.queries[0], {"tenant": [tenant]}))
        assert row[0] == pytest.approx(expected.cost_usd, abs=1e-6)
    (row,) = _rows(store, _expand(store, usage, calls, calls.queries[0]))  # All
    assert row[0] == sum(t.totals().llm_calls for t in truths.values())


def _panel_of(name: str) -> Panel:
    """The panel a template ``panels/<dashboard>_<id>_<title>`` is for."""
    dashboard, panel_id = name.removeprefix("panels/").split("_")[:2]
    found = next(d for d in DASHBOARDS if d.uid == f"hive-{dashboard}")
    return next(p for p in found.panels if p.id == int(panel_id))


def test_usage_panels_are_the_query_layers_templates() -> None:
    """Every usage panel's SQL is its query-layer template rendered for Grafana, and every panel of the
    usage dashboard has one."""
    names = panel_names()
    for name in names:
        panel = _panel_of(name)
        assert [q.sql for q in panel.queries] == [grafana_panel_sql(name)], name
    usage_dashboard = next(d for d in DASHBOARDS if d.uid == "hive-usage")
    covered = {_panel_of(name).id for name in names if name.startswith("panels/usage_")}
    assert covered == {p.id for p in usage_dashboard.panels if p.type != "text"}


# The stat panels' columns, in order, as measures of the usage query.
STAT_PANELS = {
    "panels/usage_02_cost": ("cost_usd", "cost_estimated_usd"),
    "panels/usage_03_calls": ("llm_calls", "unpriced_calls", "tool_calls", "tool_errors"),
    "panels/usage_04_tokens": ("input_tokens", "output_tokens", "cached_tokens", "cache_creation_tokens"),
}


def test_usage_panel_templates_on_the_store_equal_the_usage_query(loaded: tuple[Store, dict[str, WorkloadTruth]]) -> None:
    """The same templates run on the store answer what `hive-otel usage` answers, tenant by tenant."""
    store, truths = loaded
    for tenant in truths:
        totals = usage(store, ["model"], tenant=tenant).totals
        for name in panel_names():
            rows = _rows(store, panel_sql(name, TimeRange(None, None), {"tenant": tenant}))
            assert rows, name
            if name in STAT_PANELS:
                (row,) = rows
                assert row == pytest.approx([totals[m] for m in STAT_PANELS[name]], abs=1e-9), name


def test_selections_outside_the_options_fall_back_like_grafana(loaded: tuple[Store, dict[str, WorkloadTruth]]) -> None:
    store, _ = loaded
    session = next(d for d in DASHBOARDS if d.uid == "hive-session")
    now = _now(store)
    resolved = resolve_variables(session, lambda sql: _rows(store, sql), now, now, {"session": ["no-such-session"]})
    assert resolved["session"] == Selection(resolved["session"].options[:1], resolved["session"].options, False)
    assert resolved["session"].selected != (ALL,)


def test_quota_panels_read_the_quota_tables_and_agree_with_the_evaluator(
    loaded: tuple[Store, dict[str, WorkloadTruth]],
) -> None:
    """Budgets come from quota_policies, decisions from quota_crossings: the same as the API's evaluator says."""
    from hive_otel.collector.api.quotas import QuotaBook

    store, _ = loaded
    quotas = next(d for d in DASHBOARDS if d.uid == "hive-quotas")
    assert not [v.name for v in quotas.variables if v.name != "tenant"]  # no budget typed into the dashboard
    budgets = next(p for p in quotas.panels if p.title == "Budgets now")
    crossings = next(p for p in quotas.panels if p.title == "Threshold crossings")
    book = QuotaBook(store)
    for tenant in TENANTS:
        columns, rows = store.query(_expand(store, quotas, budgets, budgets.queries[0], {"tenant": [tenant]}))
        shown = {(r[0], r[1]): dict(zip(columns, r, strict=True)) for r in rows}
        expected = {(s.tenant, s.id): s for s in book.evaluate(tenant, book.policies())}
        assert set(shown) == set(expected)
        for key, status in expected.items():
            assert shown[key]["spend"] == pytest.approx(status.spend, rel=1e-6, abs=1e-6)
            assert shown[key]["decision"] == status.decision
        assert shown[(tenant, "monthly-tokens")]["decision"] == "block"
        listed = _rows(store, _expand(store, quotas, crossings, crossings.queries[0], {"tenant": [tenant]}))
        assert {(r[1], r[2], r[8]) for r in listed} >= {(tenant, "monthly-tokens", "block")}
        assert {r[1] for r in listed} <= {tenant, "*"}
