"""LLM and tool calls: the two halves Hive records of each, how they merge, and the span they become.

One call can reach us as a bus event (``llm_turn_complete``, ``tool_call_*``: model, cost, cached
tokens, wall-clock times) and as an L3 step line (Hive's own trace and span ids, latency, verdict),
in either order or only one of them. Each half is a ``LlmCall``/``ToolCall`` with the fields its
channel knows; :func:`merge_llm` / :func:`merge_tool` join them by :mod:`hive_otel.call_merge`'s rules,
the ones the store applies to halves sent apart (by the stable ``call_key`` the span carries), so a
call joined here and one joined in the store are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from operator import attrgetter

from hive_otel import attributes as A
from hive_otel.call_merge import RULES, Winner, join_sources, larger_attributes, pick_together
from hive_otel.call_merge import SOURCE_BOTH as SOURCE_BOTH  # the call sources, re-exported for the mapping
from hive_otel.call_merge import SOURCE_EVENT as SOURCE_EVENT
from hive_otel.call_merge import SOURCE_LOG as SOURCE_LOG
from hive_otel.client.mapping.ids import derive_span_id, session_trace_id
from hive_otel.client.mapping.telemetry import Attributes, Resource, SpanKind, SpanRecord, StatusCode

# LiteLLM's "provider/model" prefixes → gen_ai.provider.name: the semantic conventions' well-known value
# where there is one, else the provider's id in genai-prices, which prices the call at that provider's
# rates (hive_otel/collector/rollups/pricing.py). A prefix with neither (ollama: local, nobody prices it)
# is left out, and the model's name says what it can (_PROVIDER_BY_MODEL_START).
_PROVIDER_PREFIXES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "watsonx": "ibm.watsonx.ai",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
    "cloudflare": "cloudflare",
    "databricks": "databricks",
    "moonshot": "moonshotai",
    "novita": "novita",
    "baseten": "baseten",
}
_PROVIDER_BY_MODEL_START = (
    ("claude", "anthropic"),
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt", "openai"),
    ("gemini", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("codestral", "mistral_ai"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
    ("command", "cohere"),
)


@lru_cache(maxsize=4096)
def provider_for_model(model: str) -> str | None:
    """Best-effort gen_ai.provider.name from a model string; None when it cannot be told."""
    if not model:
        return None
    prefix, sep, rest = model.partition("/")
    if sep and prefix.lower() in _PROVIDER_PREFIXES:
        return _PROVIDER_PREFIXES[prefix.lower()]
    name = (rest if sep else model).lower()
    for start, provider in _PROVIDER_BY_MODEL_START:
        if name.startswith(start):
            return provider
    return None


@dataclass(slots=True)
class LlmCall:
    """One LLM call (one agent-loop iteration's turn), or one half of it."""

    call_key: str
    source: str
    resource: Resource
    session_id: str
    node_id: str
    iteration: int
    input_tokens: int
    output_tokens: int
    # Known from the bus event only:
    model: str | None = None
    cached_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cost_usd: float | None = None
    credits: float | None = None
    stop_reason: str | None = None
    execution_id: str | None = None
    stream_id: str | None = None
    end_ns: int | None = None
    start_ns: int | None = None  # first streamed delta of the turn, when seen
    event_parent_span_id: bytes | None = None  # node/execution/session span in the session trace
    # Known from the L3 step only:
    trace_id: bytes | None = None
    span_id: bytes | None = None
    parent_span_id: bytes | None = None
    latency_ms: int | None = None
    verdict: str | None = None
    error: str | None = None
    is_partial: bool = False
    output_text: str | None = None  # private: dropped by the default redaction policy
    fallback_time_ns: int | None = None  # when the L3 line has no time of its own


@dataclass(slots=True)
class ToolCall:
    """One tool call, or one half of it."""

    call_key: str
    source: str
    resource: Resource
    session_id: str
    tool_use_id: str
    tool_name: str
    node_id: str | None = None
    is_error: bool | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    execution_id: str | None = None
    arguments: str | None = None  # private
    result: str | None = None  # private
    event_parent_span_id: bytes | None = None
    trace_id: bytes | None = None  # from the L3 step that carried it
    step_span_id: bytes | None = None
    latency_ms: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _join(event_half: LlmCall | ToolCall, log_half: LlmCall | ToolCall) -> None:
    """Set every field of the event half to the joined call's, by :data:`hive_otel.call_merge.RULES`.

    The event half becomes the joined call, so a field it wins is set only where it lacks a value."""
    plan = _plan(type(event_half))
    for names, get, winner in plan.together:
        event_values = get(event_half)
        values = pick_together(winner, event_values, get(log_half))
        if values is not event_values:
            for name, value in zip(names, values, strict=True):
                setattr(event_half, name, value)
    # has_value() inline, and nothing set that stays: this runs for every field of every joined call.
    for name in plan.event_wins:
        if getattr(event_half, name) in _LACKING:
            value = getattr(log_half, name)
            if value not in _LACKING:
                setattr(event_half, name, value)
    for name in plan.log_wins:
        value = getattr(log_half, name)
        if value not in _LACKING:
            setattr(event_half, name, value)
    for name in plan.larger:
        value = getattr(log_half, name)
        if value not in _LACKING:
            mine = getattr(event_half, name)
            if mine in _LACKING or value > mine:
                setattr(event_half, name, value)
    event_half.source = join_sources(event_half.source, log_half.source)
    if event_half.resource != log_half.resource:
        event_half.resource = Resource.of(larger_attributes(event_half.resource.as_dict(), log_half.resource.as_dict()))


@dataclass(frozen=True, slots=True)
class _Plan:
    """The rules for one class's fields, grouped for :func:`_join` (made once per class)."""

    together: list[tuple[tuple[str, ...], Callable[[object], tuple], Winner]]  # fields, their getter, winner
    event_wins: list[str]
    log_wins: list[str]
    larger: list[str]


_plans: dict[type, _Plan] = {}
_LACKING = (None, "", b"")  # what call_merge.has_value() calls "this half does not know it"


def _plan(cls: type) -> _Plan:
    plan = _plans.get(cls)
    if plan is None:
        names = {f.name for f in fields(cls)} - {"resource"}  # dataclasses.fields() is slow: once per class
        plan = _Plan([], [], [], [])  # "source" (Winner.BOTH) is joined by _join itself
        for rule in RULES.values():
            mine = [n for n in rule.fields if n in names]
            if rule.together and mine:
                get = attrgetter(*mine) if len(mine) > 1 else lambda call, name=mine[0]: (getattr(call, name),)
                plan.together.append((tuple(mine), get, rule.winner))
            elif rule.together or rule is RULES["key"]:  # the key's fields are equal in both halves
                continue
            elif rule.winner in (Winner.EVENT, Winner.EVENT_ONLY):
                plan.event_wins.extend(mine)
            elif rule.winner in (Winner.LOG, Winner.LOG_ONLY):
                plan.log_wins.extend(mine)
            elif rule.winner is Winner.LARGER:
                plan.larger.extend(mine)
            elif mine != ["source"]:
                raise TypeError(f"{cls.__name__}: no way to join {mine} by {rule.winner}")
        _plans[cls] = plan
    return plan


def merge_llm(event_half: LlmCall, log_half: LlmCall) -> LlmCall:
    # Each half as its span alone would have it: the event's start and latency (first delta to end).
    event_half.start_ns, _, event_half.latency_ms = llm_window(event_half)
    _join(event_half, log_half)
    return event_half


def merge_tool(event_half: ToolCall, log_half: ToolCall) -> ToolCall:
    event_half.start_ns, event_half.end_ns, event_half.latency_ms = tool_window(event_half)
    _join(event_half, log_half)
    return event_half


def llm_window(call: LlmCall) -> tuple[int, int, int]:
    """(start, end, latency ms) of an LLM call: an event half's start (first delta, else its end), a
    log-only call ``latency`` before its line's time; at least its latency long."""
    end_ns = call.end_ns or call.fallback_time_ns or 0
    if call.end_ns is not None:  # the bus event is in
        start_ns = call.start_ns if call.start_ns is not None and call.start_ns <= end_ns else end_ns
    else:
        start_ns = max(0, end_ns - (call.latency_ms or 0) * 1_000_000)  # no span before 1970 (OTLP times are unsigned)
    latency_ms = call.latency_ms if call.latency_ms is not None else (end_ns - start_ns) // 1_000_000
    return start_ns, max(end_ns, start_ns + latency_ms * 1_000_000), int(latency_ms)


def tool_window(call: ToolCall) -> tuple[int, int, int]:
    """(start, end, latency ms) of a tool call: its start (else its end), at least its latency long."""
    end_ns = call.end_ns or call.start_ns or 0
    start_ns = call.start_ns if call.start_ns is not None else end_ns
    latency_ms = call.latency_ms if call.latency_ms is not None else max(0, end_ns - start_ns) // 1_000_000
    return start_ns, max(end_ns, start_ns + latency_ms * 1_000_000), int(latency_ms)


def _llm_ids(call: LlmCall) -> tuple[bytes, bytes, bytes]:
    """(trace, span, parent): Hive's L3 ids where the call has them, else derived in the session trace."""
    if call.trace_id is not None and call.span_id is not None:
        return call.trace_id, call.span_id, call.parent_span_id or b""
    return session_trace_id(call.session_id), derive_span_id(call.call_key), call.event_parent_span_id or b""


def _llm_attributes(call: LlmCall, latency_ms: int) -> Attributes:
    attrs: Attributes = {
        A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
        A.HIVE_CALL_KEY: call.call_key,
        A.HIVE_CALL_SOURCE: call.source,
        A.HIVE_NODE_ID: call.node_id,
        A.HIVE_ITERATION: call.iteration,
        A.GEN_AI_USAGE_INPUT_TOKENS: call.input_tokens,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: call.output_tokens,
        A.HIVE_LATENCY_MS: latency_ms,
    }
    if call.model:
        attrs[A.GEN_AI_REQUEST_MODEL] = attrs[A.GEN_AI_RESPONSE_MODEL] = call.model
        provider = provider_for_model(call.model)
        if provider:
            attrs[A.GEN_AI_PROVIDER_NAME] = provider
    if call.cached_tokens is not None:
        attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = call.cached_tokens
    if call.cache_creation_tokens is not None:
        attrs[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = call.cache_creation_tokens
    if call.cost_usd is not None:
        # 0.0 from the runtime means "not priced", never "free" (aden-hive's own contract).
        attrs[A.HIVE_COST_USD] = float(call.cost_usd)
        attrs[A.HIVE_COST_SOURCE] = A.COST_SOURCE_RUNTIME if call.cost_usd > 0 else A.COST_SOURCE_UNPRICED
    if call.credits is not None:
        attrs[A.HIVE_CREDITS] = float(call.credits)
    if call.stop_reason:
        attrs[A.HIVE_STOP_REASON] = call.stop_reason
        attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = [call.stop_reason]
    if call.execution_id:
        attrs[A.HIVE_EXECUTION_ID] = call.execution_id
    if call.stream_id:
        attrs[A.HIVE_STREAM_ID] = call.stream_id
    if call.verdict:
        attrs[A.HIVE_VERDICT] = call.verdict
    if call.output_text:
        attrs[A.GEN_AI_OUTPUT_TEXT] = call.output_text
    return attrs


def _llm_status(call: LlmCall, attrs: Attributes) -> tuple[StatusCode, str]:
    """A failed or partial step is an error span; its message only when the policy kept it."""
    if not (call.error or call.is_partial):
        return StatusCode.UNSET, ""
    attrs[A.ERROR_TYPE] = "partial" if call.is_partial and not call.error else "step_error"
    if call.error:
        attrs[A.HIVE_ERROR_MESSAGE] = call.error
    return StatusCode.ERROR, call.error or ""


def llm_call_span(call: LlmCall) -> SpanRecord:
    start_ns, end_ns, latency_ms = llm_window(call)
    trace_id, span_id, parent = _llm_ids(call)
    attrs = _llm_attributes(call, latency_ms)
    status, message = _llm_status(call, attrs)
    return SpanRecord(
        resource=call.resource,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=f"{A.OP_CHAT} {call.model}" if call.model else A.OP_CHAT,
        kind=SpanKind.CLIENT,
        start_ns=start_ns,
        end_ns=end_ns,
        attributes=attrs,
        status_code=status,
        status_message=message,
    )


def tool_call_span(call: ToolCall) -> SpanRecord:
    start_ns, end_ns, latency_ms = tool_window(call)
    if call.trace_id is not None and call.step_span_id is not None:
        trace_id, parent = call.trace_id, call.step_span_id
        span_id = derive_span_id("tool", trace_id.hex(), call.tool_use_id)
    else:
        trace_id = session_trace_id(call.session_id)
        parent = call.event_parent_span_id or b""
        span_id = derive_span_id(call.call_key)
    attrs: Attributes = {
        A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: call.tool_name,
        A.GEN_AI_TOOL_CALL_ID: call.tool_use_id,
        A.HIVE_CALL_KEY: call.call_key,
        A.HIVE_CALL_SOURCE: call.source,
        A.HIVE_TOOL_IS_ERROR: bool(call.is_error),
        A.HIVE_LATENCY_MS: latency_ms,
    }
    if call.node_id:
        attrs[A.HIVE_NODE_ID] = call.node_id
    if call.execution_id:
        attrs[A.HIVE_EXECUTION_ID] = call.execution_id
    if call.arguments is not None:
        attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS] = call.arguments
    if call.result is not None:
        attrs[A.GEN_AI_TOOL_CALL_RESULT] = call.result
    status = StatusCode.UNSET
    if call.is_error:
        status = StatusCode.ERROR
        attrs[A.ERROR_TYPE] = "tool_error"
    return SpanRecord(
        resource=call.resource,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=f"{A.OP_EXECUTE_TOOL} {call.tool_name}",
        kind=SpanKind.INTERNAL,
        start_ns=start_ns,
        end_ns=end_ns,
        attributes=attrs,
        status_code=status,
    )
