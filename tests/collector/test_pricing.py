"""Estimated cost from genai-prices, kept apart from the runtime's cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import genai_prices
import pytest
from genai_prices import Usage, data_snapshot
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GenAiProviderNameValues

from hive_otel.client.mapping.calls import _PROVIDER_PREFIXES, provider_for_model
from hive_otel.collector.rollups.pricing import _PROVIDER_IDS, ESTIMATED_SOURCE, CostEstimator
from hive_otel.collector.store.store import Store
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


def reference(model: str, provider: str, tokens: tuple[int, int, int, int], at: datetime) -> Decimal | None:
    """genai-prices' own answer through its public API, on the scale of the cost columns."""
    inp, out, cached, creation = tokens
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached or None,
                  cache_write_tokens=creation or None)  # fmt: skip
    try:
        price = genai_prices.calc_price(usage, model, provider_id=provider, genai_request_timestamp=at)
    except (ValueError, LookupError):
        return None
    return Decimal(price.total_price).quantize(Decimal("1e-10"))


# (input incl. cached, output, cache read, cache write): small, cached, both cache kinds, each side of
# the 128k and 200k input tiers, nothing at all, and an impossible mix (more cached than input).
TOKEN_MIXES = [
    (1000, 100, 0, 0), (1000, 100, 300, 0), (300_000, 5000, 100_000, 20_000), (200_000, 1, 0, 0),
    (200_001, 1, 0, 0), (128_000, 10, 0, 0), (128_001, 10, 0, 0), (0, 0, 0, 0), (0, 50, 0, 0),
    (10, 5, 10, 0), (5, 5, 10, 0), (7_777_777, 12_345, 1_234_567, 7),
]  # fmt: skip
MODELS = [
    ("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("o3", "openai"), ("claude-sonnet-4-5", "anthropic"),
    ("claude-3-5-haiku-latest", "anthropic"), ("claude-opus-4-6", "anthropic"), ("gemini-2.5-pro", "google"),
    ("gemini-1.5-flash", "google"), ("gemini-3-pro-preview", "google"), ("deepseek-chat", "deepseek"),
    ("deepseek-v4-pro", "deepseek"), ("mistral-small-latest", "mistral"), ("grok-4.20", "x-ai"),
]  # fmt: skip
# Dates on both sides of dated price changes (o3 2025-06-10, gemini-3 2026-01-05, opus-4-6 2026-03-13)
# and hours on both sides of DeepSeek's off-peak window.
TIMES = [
    datetime(2025, 6, 9, 23, 59, tzinfo=UTC), datetime(2025, 6, 10, tzinfo=UTC), AT,
    datetime(2026, 1, 5, 2, 30, tzinfo=UTC), datetime(2026, 3, 13, 17, tzinfo=UTC),
    datetime(2026, 8, 17, 3, 0, tzinfo=UTC), datetime(2026, 9, 10, 12, tzinfo=UTC),
]  # fmt: skip


@pytest.mark.parametrize(("model", "provider"), MODELS)
def test_cached_rates_give_exactly_what_genai_prices_gives(model: str, provider: str) -> None:
    estimator = CostEstimator()
    for at in TIMES:
        for tokens in TOKEN_MIXES:
            inp, out, cached, creation = tokens
            got = estimator.estimate(model=model, provider=provider, input_tokens=inp, output_tokens=out,
                                     cached_tokens=cached, cache_creation_tokens=creation, at=at)  # fmt: skip
            assert got == reference(model, provider, tokens, at), (model, tokens, at)


def test_every_model_genai_prices_knows_is_priced_identically_from_cached_rates() -> None:
    estimator = CostEstimator()
    mixes = [(1000, 100, 0, 0), (300_000, 5000, 100_000, 20_000), (50, 7, 20, 10)]
    checked = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            estimator._models[(model.id, provider.id)] = (provider, model)  # each exact model, no matching
            for inp, out, cached, creation in mixes:
                got = estimator.estimate(model=model.id, provider=provider.id, input_tokens=inp, output_tokens=out,
                                         cached_tokens=cached, cache_creation_tokens=creation, at=AT)  # fmt: skip
                usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached or None,
                              cache_write_tokens=creation or None)  # fmt: skip
                try:
                    total = model.calc_price(usage, provider, genai_request_timestamp=AT).total_price
                    expected: Decimal | None = Decimal(total).quantize(Decimal("1e-10"))
                except (ValueError, LookupError):
                    expected = None
                assert got == expected, (provider.id, model.id, (inp, out, cached, creation))
                checked += 1
    assert checked > 3000


def test_rates_are_cached_per_model_provider_and_day_and_time_of_day_prices_are_not() -> None:
    estimator = CostEstimator()
    kwargs = dict(input_tokens=1000, output_tokens=10, cached_tokens=0, cache_creation_tokens=0)
    for hour in range(0, 24, 3):
        estimator.estimate(model="gpt-4o", provider="openai", at=AT + timedelta(hours=hour), **kwargs)
        estimator.estimate(model="deepseek-chat", provider="deepseek", at=AT + timedelta(hours=hour), **kwargs)
    estimator.estimate(model="gpt-4o", provider="openai", at=AT + timedelta(days=1), **kwargs)
    assert sorted((m, d.isoformat()) for m, _, d in estimator._days) == [
        ("deepseek-chat", "2026-01-01"), ("gpt-4o", "2026-01-01"), ("gpt-4o", "2026-01-02")
    ]  # fmt: skip
    assert estimator._days[("deepseek-chat", "deepseek", AT.date())] is None  # off-peak hours: asked every time


@pytest.mark.parametrize(
    ("model", "priced_as"),
    [
        ("openrouter/anthropic/claude-3.5-sonnet", ("anthropic/claude-3.5-sonnet", "openrouter")),
        ("openrouter/openai/gpt-4o", ("openai/gpt-4o", "openrouter")),
        ("groq/llama-3.1-8b-instant", ("llama-3.1-8b-instant", "groq")),
        ("together_ai/meta-llama/Llama-3-70b-chat-hf", ("meta-llama/Llama-3-70b-chat-hf", "together")),
        (
            "fireworks_ai/accounts/fireworks/models/deepseek-v3-0324",
            ("accounts/fireworks/models/deepseek-v3-0324", "fireworks"),
        ),
    ],
)
def test_a_litellm_name_is_priced_as_its_model_at_the_provider_its_prefix_names(
    model: str, priced_as: tuple[str, str]
) -> None:
    """The provider is the one the client gives the call (from the prefix); the price is that provider's."""
    got = CostEstimator().estimate(
        model=model, provider=provider_for_model(model) or "", input_tokens=1000, output_tokens=100,
        cached_tokens=0, cache_creation_tokens=0, at=AT,
    )  # fmt: skip
    expected = reference(*priced_as, (1000, 100, 0, 0), AT)
    assert expected is not None and got == expected


def test_each_provider_a_prefix_names_is_a_well_known_value_or_one_genai_prices_knows() -> None:
    well_known = {v.value for v in GenAiProviderNameValues}
    genai_ids = {p.id for p in data_snapshot.get_snapshot().providers}
    for prefix, provider in _PROVIDER_PREFIXES.items():
        assert provider in well_known or _PROVIDER_IDS.get(provider, provider) in genai_ids, prefix


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
