"""A chDB store loaded the way the product loads it, for tests that read what dashboards and reports show.

Two tenants, each a realistic Hive home written by the real aden-hive runtime (queens, colonies with
workers, priced, partly priced and unpriced models, tool calls, stalls), exported with the real
``backfill`` to a real collector on 127.0.0.1. The collector has no tokens file, so each client names
its tenant in the tenant header, as a local client may. Each tenant then gets budgets (and tenant ``*``
a global one) through the collector's own quota evaluator, which records the crossings they cause.
"""

from __future__ import annotations

from pathlib import Path

from devtools.workload import WorkloadTruth, write_workload
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.api.quotas import QuotaPolicy
from hive_otel.collector.config import TENANT_HEADER
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store
from hive_otel.settings import ClientSettings

TENANTS = {"acme": ("alice", 0), "globex": ("bob", 1)}  # tenant → (user, workload seed)
# Spent past its limit at once (block), a monthly cost budget with room (allow), and a model budget.
BUDGETS = QuotaPolicy.model_validate(
    {"budgets": [
        {"id": "monthly-tokens", "scope": "tenant", "metric": "tokens", "period": "monthly", "limit": 1000},
        {"id": "monthly-cost", "scope": "tenant", "metric": "cost_usd", "period": "monthly", "limit": 1000,
         "action": "throttle"},
        {"id": "sonnet", "scope": "model", "value": "claude-sonnet-4-5", "metric": "cost_usd", "period": "daily",
         "limit": 0.01, "alert_at": 0.5, "action": "degrade", "degrade_to": "gpt-4o-mini"},
    ]}
)  # fmt: skip
GLOBAL_BUDGETS = QuotaPolicy.model_validate(
    {"budgets": [{"id": "everyone", "scope": "global", "metric": "cost_usd", "period": "monthly", "limit": 0.05}]}
)


def load_demo_store(work: Path) -> tuple[Store, dict[str, WorkloadTruth]]:
    """Open a store under ``work`` and load one workload per tenant; the caller closes the store."""
    store = open_store(f"chdb://{work / 'clickhouse'}")
    truths: dict[str, WorkloadTruth] = {}
    server = Collector(store, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    server.start()
    try:
        for tenant, (user, seed) in TENANTS.items():
            home = work / tenant
            truths[tenant] = write_workload(home, queens=2, colonies=2, workers_per_colony=3, turns_per_session=4, seed=seed)
            settings = ClientSettings.from_env(
                {
                    "HIVE_HOME": str(home),
                    "HIVE_OTEL_ENDPOINT": server.http_url,
                    "HIVE_OTEL_STATE_DIR": str(work / f"{tenant}-state"),
                    "HIVE_OTEL_USER_ID": user,
                    "HIVE_OTEL_TENANT_ID": tenant,
                    "OTEL_EXPORTER_OTLP_HEADERS": f"{TENANT_HEADER}={tenant}",
                }
            )
            assert backfill(settings, timeout_s=120) == EXIT_OK
            server.api.quotas.set_policy(tenant, BUDGETS)
        server.api.quotas.set_policy("*", GLOBAL_BUDGETS)
        # The crossings the Quotas dashboard lists. The collector's own evaluator, woken by set_policy,
        # may have recorded some already: what counts is that they are recorded, not who did it.
        server.api.quotas.evaluate_now(set(TENANTS))
        decisions = server.api.quotas.book.last_decisions()
        assert all(decisions.get((tenant, "monthly-tokens"), ("",))[0] == "block" for tenant in TENANTS), decisions
    except BaseException:
        server.stop()  # before the store closes under it, which would hide this error behind its own
        store.close()
        raise
    server.stop()
    return store, truths
