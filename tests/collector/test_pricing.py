"""Estimated cost from genai-prices, kept apart from the runtime's cost."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
from genai_prices import Usage

from hive_otel.collector.pricing import ESTIMATED_SOURCE, CostEstimator
from hive_otel.collector.store import Store
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

AT = datetime(2026, 1, 1, tzinfo=UTC)
QUEEN = Session("sess-p1", "sess-p1")


def test_estimate_matches_genai_prices_with_cache_tokens() -> None:
    estimate = CostEstimator().estimate(
        model="claude-sonnet-4-5", provider="anthropic", input_tokens=10_000, output_tokens=500,
        cached_tokens=4_000, cache_creation_tokens=1_000, at=AT,
    )  # fmt: skip
    expected = genai_prices.calc_price(
        Usage(input_tokens=10_000, output_tokens=500, cache_read_tokens=4_000, cache_write_tokens=1_000),
        "claude-sonnet-4-5", provider_id="anthropic", genai_request_timestamp=AT,
    ).total_price  # fmt: skip
    assert estimate == Decimal(expected).quantize(Decimal("1e-10"))
    assert f"estimated:genai-prices-{genai_prices.__version__}" == ESTIMATED_SOURCE


def test_unknown_models_and_missing_models_stay_unpriced() -> None:
    estimator = CostEstimator()
    kwargs = dict(input_tokens=1, output_tokens=1, cached_tokens=0, cache_creation_tokens=0, at=AT)
    assert estimator.estimate(model="no-such-model-xyz", provider="nobody", **kwargs) is None
    assert estimator.estimate(model="", provider="openai", **kwargs) is None


def test_store_keeps_runtime_cost_and_estimate_apart(store: Store, tenant: str) -> None:
    spans = [
        LlmCall("p:runtime", model="gpt-4o", cost_usd=0.5).span(),
        LlmCall("p:estimated", model="gpt-4o", input_tokens=1000, output_tokens=100, cached_tokens=200).span(),
        LlmCall("p:unknown", model="no-such-model-xyz").span(),
    ]
    store.ingest_traces(traces_request([SessionBatch(QUEEN, spans)]), tenant=tenant)
    _, rows = store.query(
        "SELECT call_key, cost_usd, cost_estimated_usd, cost_source FROM usage_facts FINAL "
        f"WHERE tenant = '{tenant}' ORDER BY call_key"
    )
    expected = float(
        CostEstimator().estimate(
            model="gpt-4o",
            provider="openai",
            input_tokens=1000,
            output_tokens=100,
            cached_tokens=200,
            cache_creation_tokens=0,
            at=AT,
        )
    )
    assert rows == [
        ["p:estimated", 0, expected, ESTIMATED_SOURCE],
        ["p:runtime", 0.5, 0, "runtime"],
        ["p:unknown", 0, 0, "unpriced"],
    ]
