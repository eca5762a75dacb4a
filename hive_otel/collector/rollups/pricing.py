"""Cost estimates for LLM calls the runtime did not price, from Pydantic's ``genai-prices``.

The estimate is offline (the price list ships inside the package), cache-token aware, and uses the
prices in force at the call's own timestamp. It is stored apart from the runtime's cost
(``cost_estimated_usd``, ``cost_source = estimated:genai-prices-<version>``) so billing never mixes
the two silently. A model genai-prices does not know stays ``unpriced`` and is counted as such.

Speed: genai-prices spends ~270 µs per call resolving units and validating usage. Within one UTC
day (price changes are dated) and one input-token tier, its price is an affine function of the four
token counts, so :class:`CostEstimator` asks genai-prices once for the coefficients of that function
and then prices each call with a few exact ``Decimal`` products. The coefficients are read off
genai-prices' own answers (never from its internals) and checked against it on a mixed usage before
use; prices that depend on the time of day, or that fail the check, go to genai-prices every time.
Decimal arithmetic here is exact (prices and counts have far fewer than 28 digits), so both paths
give the same number, which ``tests/collector/test_pricing.py`` checks over a table of models.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

import genai_prices
from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelPrice, TieredPrices, TimeOfDateConstraint

__all__ = ["ESTIMATED_SOURCE", "CostEstimator"]

ESTIMATED_SOURCE = f"estimated:genai-prices-{genai_prices.__version__}"
_QUANTUM = Decimal("1e-10")  # the scale of the cost columns (Decimal(18, 10))

# gen_ai.provider.name values (semantic conventions) whose genai-prices provider id differs, and
# the gen_ai.system values of before 1.37 that the provider falls back to (migration 0026).
_PROVIDER_IDS = {
    "az.ai.inference": "azure",
    "az.ai.openai": "azure",
    "gemini": "google",
    "vertex_ai": "google",
    "xai": "x-ai",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Affine:
    """``base + uncached·input + cache_read·cr + cache_write·cw + output·out`` in USD (exact)."""

    base: Decimal
    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal

    def price(self, input_tokens: int, output_tokens: int, cached_tokens: int, cache_creation_tokens: int) -> Decimal:
        uncached = input_tokens - cached_tokens - cache_creation_tokens
        return (
            self.base
            + self.input * uncached
            + self.cache_read * cached_tokens
            + self.cache_write * cache_creation_tokens
            + self.output * output_tokens
        )


@dataclass
class _DayPrices:
    """One model's prices for one UTC day: tier thresholds on input tokens, and one function per tier."""

    thresholds: tuple[int, ...]  # a call is in tier k when exactly k thresholds are below its input tokens
    tiers: dict[int, _Affine | None]  # None: this tier is priced by genai-prices itself

    def tier(self, input_tokens: int) -> int:
        return bisect_left(self.thresholds, input_tokens)


class CostEstimator:
    """Prices calls; model look-ups are cached per (model, provider), prices per (model, provider, day)."""

    source = ESTIMATED_SOURCE

    def __init__(self) -> None:
        self._snapshot = data_snapshot.get_snapshot()
        self._models: dict[tuple[str, str], tuple[object, object] | None] = {}
        self._days: dict[tuple[str, str, date], _DayPrices | None] = {}

    def _lookup(self, model: str, provider: str) -> tuple[object, object] | None:
        key = (model, provider)
        if key in self._models:
            return self._models[key]
        found = None
        provider_id = _PROVIDER_IDS.get(provider.lower(), provider.lower()) or None
        # The whole name under the provider given, then under the one genai-prices infers; then without its prefix.
        candidates = [(model, provider_id), (model, None), *_unprefixed_candidates(model, provider_id)]
        for model_ref, pid in candidates:
            try:
                found = self._snapshot.find_provider_model(model_ref, None, pid, None)
                break
            except LookupError:
                continue
        if found is None:
            logger.debug("genai-prices has no price for model=%r provider=%r", model, provider)
        self._models[key] = found
        return found

    def estimate(
        self,
        *,
        model: str,
        provider: str,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int,
        cache_creation_tokens: int,
        at: datetime,
    ) -> Decimal | None:
        """USD for one call at the prices of ``at``, or None when nobody prices the model.

        ``input_tokens`` includes cached and cache-creation tokens, as in the GenAI conventions and
        in genai-prices, which subtracts them and prices them at their own rates.
        """
        if not model:
            return None
        found = self._lookup(model, provider)
        if found is None:
            return None
        if cached_tokens + cache_creation_tokens <= input_tokens:
            day_prices = self._day_prices(model, provider, found, at)
            if day_prices is not None:
                affine = day_prices.tiers.get(day_prices.tier(input_tokens))
                if affine is not None:
                    return affine.price(input_tokens, output_tokens, cached_tokens, cache_creation_tokens).quantize(_QUANTUM)
        cost = _genai_prices(found, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, at)
        return None if cost is None else cost.quantize(_QUANTUM)

    def _day_prices(self, model: str, provider: str, found: tuple[object, object], at: datetime) -> _DayPrices | None:
        day = at.astimezone(UTC).date() if at.tzinfo is not None else at.date()
        key = (model, provider, day)
        if key not in self._days:
            self._days[key] = _derive_day_prices(found, day)
        return self._days[key]


def _unprefixed_candidates(model: str, provider_id: str | None) -> list[tuple[str, str | None]]:
    """The look-ups for ``model`` without its first "route/" prefix, after those of the whole name failed.

    LiteLLM names a call by the route it took: ``openrouter/anthropic/claude-3.5-sonnet`` is OpenRouter's
    ``anthropic/claude-3.5-sonnet``, and ``groq/llama-3.1-8b-instant`` Groq's ``llama-3.1-8b-instant``;
    genai-prices knows them only under that provider. The provider genai-prices infers is still tried
    first, so the names it priced before this look-up keep their price (``azure/claude-3-5-sonnet`` at
    Anthropic's rates, where Azure's would differ).
    """
    rest = model.partition("/")[2]
    if not rest:
        return []
    return [(rest, None), (rest, provider_id)] if provider_id else [(rest, None)]


def _genai_prices(
    found: tuple[object, object], input_tokens: int, output_tokens: int, cached: int, cache_creation: int, at: datetime
) -> Decimal | None:
    provider_info, model_info = found
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached or None,
        cache_write_tokens=cache_creation or None,
    )
    try:
        price = model_info.calc_price(usage, provider_info, genai_request_timestamp=at)  # type: ignore[attr-defined]
    except (ValueError, LookupError) as exc:
        logger.debug("genai-prices could not price %s: %s", getattr(model_info, "id", model_info), exc)
        return None
    return Decimal(price.total_price)


def _derive_day_prices(found: tuple[object, object], day: date) -> _DayPrices | None:
    """The affine price function of each input-token tier on ``day``; None when prices vary within it."""
    _, model_info = found
    conditions = model_info.prices if isinstance(model_info.prices, list) else []  # type: ignore[attr-defined]
    if any(isinstance(c.constraint, TimeOfDateConstraint) for c in conditions):
        return None  # e.g. off-peak discounts: the price depends on the hour, not just the day
    noon = datetime.combine(day, time(12), tzinfo=UTC)
    model_price: ModelPrice = model_info.get_prices(noon)  # type: ignore[attr-defined]
    starts = {
        tier.start for value in model_price.__dict__.values() if isinstance(value, TieredPrices) for tier in value.tiers
    }
    thresholds = tuple(sorted(starts))
    tiers: dict[int, _Affine | None] = {}
    bounds = [-1, *thresholds]
    for index, low in enumerate(bounds):
        # Tier `index` holds input token counts in (low, high]; `first` is its smallest member.
        high = thresholds[index] if index < len(thresholds) else None
        first = low + 1
        tiers[index] = _fit(found, first, high, noon)
    return _DayPrices(thresholds, tiers)


def _fit(found: tuple[object, object], first: int, high: int | None, at: datetime) -> _Affine | None:
    """Read the coefficients off genai-prices at a few points of one tier, then check a mixed point."""
    if high is not None and high - first < 4:
        return None  # too narrow a tier to sample; genai-prices prices it directly

    def price(inp: int, out: int = 0, cr: int = 0, cw: int = 0) -> Decimal | None:
        return _genai_prices(found, inp, out, cr, cw, at)

    points = [price(first), price(first + 1), price(first + 1, cr=1), price(first + 1, cw=1), price(first, out=1)]
    if any(p is None for p in points):
        return None
    at_first, at_next, with_read, with_write, with_output = points  # type: ignore[misc]
    per_input = at_next - at_first
    affine = _Affine(
        base=at_first - per_input * first,
        input=per_input,
        cache_read=with_read - at_next + per_input,
        cache_write=with_write - at_next + per_input,
        output=with_output - at_first,
    )
    probe = (first + 4, 3, 2, 1)  # input, output, cache read, cache write
    if affine.price(*probe) != price(probe[0], probe[1], probe[2], probe[3]):
        return None
    return affine
