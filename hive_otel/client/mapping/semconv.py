"""Which GenAI semantic-convention names the client sends: ``OTEL_SEMCONV_STABILITY_OPT_IN``.

hive-otel pins semantic-conventions-genai 1.42 (:data:`~hive_otel.attributes.SEMCONV_SCHEMA_URL` on
every resource and scope). During a transition OpenTelemetry instrumentations read a comma-separated
``OTEL_SEMCONV_STABILITY_OPT_IN`` and let a ``/dup`` value win over its plain form
(``opentelemetry.instrumentation._semconv``); this module does the same for the GenAI category:

====================================  ==================================================================
value                                 LLM (``chat``) spans carry
====================================  ==================================================================
unset, or no GenAI value              the 1.42 names (``gen_ai.usage.cache_write.input_tokens``, ...)
``gen_ai_latest_experimental``        those, plus the proposed ``gen_ai.usage.cost.{amount,currency,source}``
``gen_ai_latest_experimental/dup``    those, plus the names 1.42 replaced (``cache_creation.input_tokens``)
====================================  ==================================================================

Usage stays on the leaf ``chat`` spans only: nothing here touches another span. The collector reads
either spelling of a renamed count, so mixed clients give the same usage.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from hive_otel import attributes as A
from hive_otel.client.mapping.telemetry import SpanRecord

__all__ = ["GenAiConventions", "apply_genai_conventions"]

# The runtime prices a call in process (LiteLLM's cost, else its model catalogue) and does not say
# whether a provider's own figure was passed through, so the proposal's "local" is the honest source.
_COST_SOURCE = "local"
_COST_CURRENCY = "USD"


class GenAiConventions(StrEnum):
    PINNED = "default"
    LATEST = "gen_ai_latest_experimental"
    LATEST_DUP = "gen_ai_latest_experimental/dup"

    @classmethod
    def from_opt_in(cls, value: str | None) -> GenAiConventions:
        """The GenAI choice in an ``OTEL_SEMCONV_STABILITY_OPT_IN`` value; other categories are ignored."""
        chosen = {item.strip() for item in (value or "").split(",")}
        if cls.LATEST_DUP.value in chosen:
            return cls.LATEST_DUP
        return cls.LATEST if cls.LATEST.value in chosen else cls.PINNED


def apply_genai_conventions(spans: Iterable[SpanRecord], conventions: GenAiConventions) -> None:
    """Add the opted-in names to each LLM span's attributes, in place (the pinned names are the mapping's)."""
    if conventions is GenAiConventions.PINNED:
        return
    for span in spans:
        attrs = span.attributes
        if attrs.get(A.GEN_AI_OPERATION_NAME) != A.OP_CHAT:
            continue
        cost = attrs.get(A.HIVE_COST_USD)
        if isinstance(cost, float) and cost > 0:  # 0.0 is "not priced", never a cost of zero
            attrs[A.GEN_AI_USAGE_COST_AMOUNT] = cost
            attrs[A.GEN_AI_USAGE_COST_CURRENCY] = _COST_CURRENCY
            attrs[A.GEN_AI_USAGE_COST_SOURCE] = _COST_SOURCE
        written = attrs.get(A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
        if conventions is GenAiConventions.LATEST_DUP and written is not None:
            attrs[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = written
