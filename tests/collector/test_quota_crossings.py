"""A budget crossing is recorded even when the first try to store it fails.

Real chDB store. The decision in memory moved on before the crossing was stored, so after one
failed insert the next evaluation saw no change: the tenant sat at "block" with no crossing
recorded or streamed until the collector restarted.
"""

from __future__ import annotations

import time

import pytest

from hive_otel.collector.api.quotas import QuotaBook, QuotaEvaluator, QuotaPolicy
from hive_otel.collector.store.store import Store, StoreError
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request


def test_a_crossing_whose_insert_failed_is_recorded_by_the_next_evaluation(store: Store, tenant: str) -> None:
    evaluator = QuotaEvaluator(QuotaBook(store), None)
    budget = {"id": "daily", "scope": "tenant", "metric": "tokens", "period": "daily", "limit": 500, "action": "block"}
    evaluator.set_policy(tenant, QuotaPolicy.model_validate({"budgets": [budget]}))
    call = LlmCall(f"{tenant}:k", input_tokens=1000, at_ns=time.time_ns())
    store.ingest_traces(traces_request([SessionBatch(Session(f"{tenant}-s", f"{tenant}-s"), [call.span()])]), tenant)
    store.execute(f"ALTER TABLE quota_crossings ADD CONSTRAINT refuse_for_test CHECK tenant != '{tenant}'")
    try:
        with pytest.raises(StoreError, match="refuse_for_test"):
            evaluator.evaluate_now({tenant})
    finally:
        store.execute("ALTER TABLE quota_crossings DROP CONSTRAINT refuse_for_test")
    [crossing] = evaluator.evaluate_now({tenant})
    assert (crossing["previous"], crossing["decision"]) == ("allow", "block")
    assert store.query(f"SELECT count() FROM quota_crossings WHERE tenant = '{tenant}'")[1] == [[1]]
    assert evaluator.evaluate_now({tenant}) == []  # recorded once
