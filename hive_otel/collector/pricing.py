"""Cost estimates for LLM calls the runtime did not price, from Pydantic's ``genai-prices``.

The estimate is offline (the price list ships inside the package), cache-token aware, and uses the
prices in force at the call's own timestamp. It is stored apart from the runtime's cost
(``cost_estimated_usd``, ``cost_source = estimated:genai-prices-<version>``) so billing never mixes
the two silently. A model genai-prices does not know stays ``unpriced`` and is counted as such.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

import genai_prices
from genai_prices import Usage, data_snapshot

__all__ = ["ESTIMATED_SOURCE", "CostEstimator"]

ESTIMATED_SOURCE = f"estimated:genai-prices-{genai_prices.__version__}"
_QUANTUM = Decimal("1e-10")  # the scale of the cost columns (Decimal(18, 10))

# gen_ai.provider.name values (semantic conventions) whose genai-prices provider id differs.
_PROVIDER_IDS = {
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


class CostEstimator:
    """Prices calls; model look-ups are cached per (model, provider), misses included."""

    source = ESTIMATED_SOURCE

    def __init__(self) -> None:
        self._snapshot = data_snapshot.get_snapshot()
        self._models: dict[tuple[str, str], tuple[object, object] | None] = {}

    def _lookup(self, model: str, provider: str) -> tuple[object, object] | None:
        key = (model, provider)
        if key in self._models:
            return self._models[key]
        found = None
        provider_id = _PROVIDER_IDS.get(provider.lower(), provider.lower()) or None
        # Try the provider as given, then let genai-prices infer it, then drop a "vendor/" prefix.
        candidates = [(model, provider_id), (model, None)]
        if "/" in model:
            candidates.append((model.split("/", 1)[1], None))
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
        provider_info, model_info = found
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cached_tokens or None,
            cache_write_tokens=cache_creation_tokens or None,
        )
        try:
            price = model_info.calc_price(usage, provider_info, genai_request_timestamp=at)  # type: ignore[attr-defined]
        except (ValueError, LookupError) as exc:
            logger.debug("genai-prices could not price %s: %s", model, exc)
            return None
        return Decimal(price.total_price).quantize(_QUANTUM)
