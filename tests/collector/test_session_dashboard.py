"""The Session drill-down shows one tenant's session: two tenants may each have a session ``s1``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hive_otel.collector.dashboards import Dashboard, grafana_interval, interpolate, load_dashboards, resolve_variables
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import (
    BASE_NS,
    LlmCall,
    Session,
    SessionBatch,
    ToolCall,
    logs_request,
    session_span,
    traces_request,
)

SESSION_DASHBOARD = next(d for d in load_dashboards() if d.uid == "hive-session")
START = datetime.fromtimestamp(BASE_NS / 1e9, UTC)
END = START + timedelta(days=1)
CALLS = {"drill-a": 1, "drill-b": 2}  # tenant → LLM calls (as many tool calls, status events) in its s1


def _send_session(store: Store, tenant: str, session: str, calls: int) -> None:
    sent = Session(session, session, tenant=tenant)
    spans = [session_span(sent, BASE_NS, BASE_NS + 10**12)]
    for n in range(calls):
        spans += [LlmCall(f"{session}:{n}", at_ns=BASE_NS + n).span(), ToolCall(f"{session}:t{n}", at_ns=BASE_NS + n).span()]
    store.ingest_traces(traces_request([SessionBatch(sent, spans)]), tenant=tenant)
    events = [(BASE_NS + n, "node_stalled", {}) for n in range(calls)]
    store.ingest_logs(logs_request(sent, events), tenant=tenant)


@pytest.fixture(scope="module")
def shared_session_id(store: Store) -> Store:
    """Each tenant of CALLS has a session s1; drill-b also has an s2."""
    for tenant, calls in CALLS.items():
        _send_session(store, tenant, "s1", calls)
    _send_session(store, "drill-b", "s2", 1)
    return store


def _panels(store: Store, dashboard: Dashboard, tenant: str) -> dict[str, list[list[object]]]:
    """Every panel's rows with ``tenant`` chosen and its first session (s1) drilled into."""
    variables = resolve_variables(dashboard, lambda sql: store.query(sql)[1], START, END, {"tenant": [tenant]})
    assert variables["session"].selected == ("s1",)
    rows = {}
    for panel in dashboard.panels:
        interval = grafana_interval(START, END, panel.max_data_points, panel.min_interval)
        sql = interpolate(panel.queries[0].sql, start=START, end=END, interval=interval, variables=variables)
        rows[panel.title] = store.query(sql, readonly=True)[1]
    return rows


def test_the_tenant_variable_narrows_the_sessions(shared_session_id: Store) -> None:
    def options(tenant: str) -> dict[str, tuple[str, ...]]:
        resolved = resolve_variables(
            SESSION_DASHBOARD, lambda sql: shared_session_id.query(sql)[1], START, END, {"tenant": [tenant]}
        )
        return {name: selection.options for name, selection in resolved.items()}

    assert set(CALLS) <= set(options("drill-a")["tenant"])
    assert options("drill-a")["session"] == ("s1",)
    assert set(options("drill-b")["session"]) == {"s1", "s2"}


@pytest.mark.parametrize("tenant", list(CALLS))
def test_each_panel_shows_the_chosen_tenants_session_only(shared_session_id: Store, tenant: str) -> None:
    calls = CALLS[tenant]
    shown = _panels(shared_session_id, SESSION_DASHBOARD, tenant)
    assert [row[9] for row in shown["Session"]] == [tenant]  # its tenant column
    assert [row[0] for row in shown["Totals"]] == [calls]
    assert [row[1] for row in shown["Its agent tree"]] == ["s1"]
    assert sum(row[1] for row in shown["Spans by name"]) == 1 + 2 * calls  # the session's span, its calls
    assert len(shown["Spans"]) == 1 + 2 * calls
    assert len(shown["LLM calls"]) == calls
    assert len(shown["Tool calls"]) == calls
    assert len(shown["Status events"]) == calls


def test_every_panel_names_the_tenant() -> None:
    """The facts are keyed by (tenant, call_key): the predicate also keeps a panel off other tenants' parts."""
    for panel in SESSION_DASHBOARD.panels:
        for query in panel.queries:
            assert "${tenant:singlequote}" in query.sql, panel.title
