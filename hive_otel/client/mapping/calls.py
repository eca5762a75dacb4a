"""LLM and tool calls: the two halves Hive records of each, how they merge, and the span they become.

One call can reach us as a bus event (``llm_turn_complete``, ``tool_call_*``: model, cost, cached
tokens, wall-clock times) and as an L3 step line (Hive's own trace and span ids, latency, verdict),
in either order or only one of them. Each half is a ``LlmCall``/``ToolCall`` with the fields its
channel knows; :func:`merge_llm` / :func:`merge_tool` keep the richer value of each field, and the
stable ``call_key`` travels on the span so the store can merge halves that were sent apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache

from hive_otel import attributes as A
from hive_otel.client.mapping.ids import derive_span_id, session_trace_id
from hive_otel.client.mapping.telemetry import Attributes, Resource, SpanKind, SpanRecord, StatusCode

SOURCE_EVENT = "event"
SOURCE_LOG = "log"
SOURCE_BOTH = "event+log"

# litellm-style "provider/model" prefixes → OpenTelemetry gen_ai.provider.name values.
_PROVIDER_PREFIXES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
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


_LACKING = (None, "", False)  # an event-half field with one of these values is filled from the log half
_ABSENT = (None, "")  # ... unless the log half's value is one of these
_field_names: dict[type, tuple[str, ...]] = {}


def _merge(event_half: LlmCall | ToolCall, log_half: LlmCall | ToolCall) -> None:
    """Fill every field the event half lacks from the log half (event values win when both exist)."""
    names = _field_names.get(type(event_half))
    if names is None:  # looked up once per class: dataclasses.fields() is slow on every merge
        names = _field_names[type(event_half)] = tuple(f.name for f in fields(event_half))
    for name in names:
        if getattr(event_half, name) in _LACKING:
            value = getattr(log_half, name)
            if value not in _ABSENT:
                setattr(event_half, name, value)


def merge_llm(event_half: LlmCall, log_half: LlmCall) -> LlmCall:
    _merge(event_half, log_half)
    # Hive's own ids and its measured latency come from the L3 line; they must win.
    event_half.trace_id, event_half.span_id = log_half.trace_id, log_half.span_id
    event_half.parent_span_id = log_half.parent_span_id
    event_half.source = SOURCE_BOTH
    return event_half


def merge_tool(event_half: ToolCall, log_half: ToolCall) -> ToolCall:
    _merge(event_half, log_half)
    event_half.trace_id, event_half.step_span_id = log_half.trace_id, log_half.step_span_id
    event_half.source = SOURCE_BOTH
    return event_half


def llm_call_span(call: LlmCall) -> SpanRecord:
    model = call.model or ""
    end_ns = call.end_ns or call.fallback_time_ns or 0
    if call.latency_ms is not None:
        start_ns = end_ns - call.latency_ms * 1_000_000
    else:
        start_ns = call.start_ns if call.start_ns is not None and call.start_ns <= end_ns else end_ns
    latency_ms = call.latency_ms if call.latency_ms is not None else (end_ns - start_ns) // 1_000_000

    if call.trace_id is not None and call.span_id is not None:
        trace_id, span_id = call.trace_id, call.span_id
        parent = call.parent_span_id or b""
    else:
        trace_id = session_trace_id(call.session_id)
        span_id = derive_span_id(call.call_key)
        parent = call.event_parent_span_id or b""

    attrs: Attributes = {
        A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
        A.HIVE_CALL_KEY: call.call_key,
        A.HIVE_CALL_SOURCE: call.source,
        A.HIVE_NODE_ID: call.node_id,
        A.HIVE_ITERATION: call.iteration,
        A.GEN_AI_USAGE_INPUT_TOKENS: call.input_tokens,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: call.output_tokens,
        A.HIVE_LATENCY_MS: int(latency_ms),
    }
    if model:
        attrs[A.GEN_AI_REQUEST_MODEL] = model
        attrs[A.GEN_AI_RESPONSE_MODEL] = model
        provider = provider_for_model(model)
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
    status, message = StatusCode.UNSET, ""
    if call.error or call.is_partial:
        status = StatusCode.ERROR
        attrs[A.ERROR_TYPE] = "partial" if call.is_partial and not call.error else "step_error"
        if call.error:
            attrs[A.HIVE_ERROR_MESSAGE] = call.error
            message = call.error
    return SpanRecord(
        resource=call.resource,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=f"{A.OP_CHAT} {model}" if model else A.OP_CHAT,
        kind=SpanKind.CLIENT,
        start_ns=start_ns,
        end_ns=end_ns,
        attributes=attrs,
        status_code=status,
        status_message=message,
    )


def tool_call_span(call: ToolCall) -> SpanRecord:
    end_ns = call.end_ns or call.start_ns or 0
    start_ns = call.start_ns if call.start_ns is not None else end_ns
    if call.latency_ms is not None and call.end_ns is None:
        end_ns = start_ns + call.latency_ms * 1_000_000
    latency_ms = call.latency_ms if call.latency_ms is not None else max(0, end_ns - start_ns) // 1_000_000

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
        A.HIVE_LATENCY_MS: int(latency_ms),
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
