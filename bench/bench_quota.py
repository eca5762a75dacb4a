"""hive_otel.client.quota.check from its local cache: the cost a runtime pays per LLM call (goal: <= 5 µs).

Three cases, each the median of several timed loops: no budget at all (the module-level check with
no cache started), a cache whose budgets all allow, and a cache with blocking, degrading and
alerting budgets on every scope (the most restrictive decision is computed per call). The cache is
filled by build_table from a /decisions answer, as the refresh thread fills it; no network is used.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bench._common import machine, write_result
from hive_otel.client import quota
from hive_otel.client.quota import QuotaCache, build_table
from hive_otel.settings import ClientSettings

CALLS = 200_000
ROUNDS = 7


def _per_call_us(fn: Callable[[], object]) -> float:
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            fn()
        timings.append((time.perf_counter() - started) / CALLS * 1e6)
    return round(statistics.median(timings), 3)


def _budget(budget_id: str, scope: str, value: str | None, decision: str, degrade_to: str | None = None) -> dict:
    return {"id": budget_id, "tenant": "acme", "scope": scope, "value": value, "metric": "cost_usd",
            "period": "daily", "decision": decision, "degrade_to": degrade_to, "spend": 9.0, "limit": 10.0}  # fmt: skip


def _cache(budgets: list[dict]) -> QuotaCache:
    settings = ClientSettings.from_env({"HIVE_OTEL_ENDPOINT": "http://127.0.0.1:9", "HIVE_OTEL_TENANT_ID": "acme"})
    cache = QuotaCache(settings)
    cache._table = build_table(budgets)
    cache._fresh_until = float("inf")
    cache.register_session("session_1", user="alice", agent_role="worker", colony="research")
    return cache


def main() -> dict[str, object]:
    allowing = _cache([_budget("t", "tenant", None, "allow"), _budget("m", "model", "gpt-4o", "allow")])
    busy = _cache([
        _budget("tenant", "tenant", None, "alert"),
        _budget("user", "user", "alice", "throttle"),
        _budget("role", "agent_role", "worker", "alert"),
        _budget("colony", "colony", "research", "block"),
        _budget("model", "model", "gpt-4o", "degrade", "gpt-4o-mini"),
    ])  # fmt: skip
    assert busy.check("session_1", "gpt-4o").action == "block"
    result = {
        "what": "hive_otel.client.quota.check per call, from the local cache (µs, median of rounds)",
        "calls_per_round": CALLS,
        "rounds": ROUNDS,
        "no_budget_module_check_us": _per_call_us(lambda: quota.check("session_1", "gpt-4o")),
        "all_allow_check_us": _per_call_us(lambda: allowing.check("session_1", "gpt-4o")),
        "five_scopes_most_restrictive_us": _per_call_us(lambda: busy.check("session_1", "gpt-4o")),
        "goal_us": 5.0,
        "machine": machine(),
    }
    write_result("quota", result)
    return result


if __name__ == "__main__":
    print(main())
