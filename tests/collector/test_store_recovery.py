"""A collector that dies between the ledger and the facts insert leaves rollups that the next open repairs."""

from __future__ import annotations

from pathlib import Path

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.migrations import load_migrations
from hive_otel.collector.store.store import DIRTY_MARKER, Store, open_store
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

QUEEN = Session("sess-q1", "sess-q1")


def test_a_store_that_died_between_ledger_and_facts_is_rebuilt_on_open(store: Store) -> None:
    # chDB holds one path per process, so the module's own store is closed and reopened here.
    url = store.url
    tenant = "crash-tenant"
    store.ingest_traces(traces_request([SessionBatch(QUEEN, [LlmCall("crash:1", cost_usd=0.5).span()])]), tenant=tenant)
    store.execute(  # a ledger row whose fact never landed
        "INSERT INTO usage_ledger (tenant, call_key, sign, version, kind, model, occurred_at, input_tokens, cost_usd) "
        f"VALUES ('{tenant}', 'crash:2', 1, 1, 'llm', 'gpt-4o', '2026-01-01 00:00:00', 5, 9.5)"
    )
    store.close()
    Path(url.removeprefix("chdb://"), DIRTY_MARKER).touch()
    reopened = open_store(url)
    try:
        report = usage(reopened, ["model"], tenant=tenant)
        assert [(r["model"], r["llm_calls"], r["cost_usd"]) for r in report.rows] == [("gpt-4o", 1, 0.5)]
        assert not Path(url.removeprefix("chdb://"), DIRTY_MARKER).exists()
    finally:
        reopened.close()


def test_the_ledger_migration_rebuilds_the_rollups_it_recreates(store: Store) -> None:
    store.close()  # the earlier test may have reopened the path; chDB holds one path per process
    with open_store(store.url) as reopened:
        tenant = "ledger-migration"
        calls = [LlmCall(f"lm:{i}", cost_usd=0.5).span() for i in range(3)]
        reopened.ingest_traces(traces_request([SessionBatch(QUEEN, calls)]), tenant=tenant)
        before = usage(reopened, ["model"], tenant=tenant).totals
        version = next(m.version for m in load_migrations() if m.name == "create_usage_rollups")
        reopened.rollback(version - 1)  # no ledger and no rollups: a store from before them
        reopened.migrate()  # drops it and its views, creates them again, then reconciles
        assert usage(reopened, ["model"], tenant=tenant).totals == before
        _, rows = reopened.query(
            "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'usage_ledger'"
        )
        assert rows == [["Null"]]
