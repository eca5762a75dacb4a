"""Usage from spans other OpenTelemetry GenAI instrumentations send, not only Hive's.

The spans are made by the OpenTelemetry SDK, with the attributes the GenAI semantic conventions give
each operation (as opentelemetry-instrumentation-openai-v2 and the google-genai instrumentation set
them), encoded by the SDK's own OTLP encoder and posted to the collector over loopback. The expected
totals are counted as the calls are made, never read back from the store.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from hive_otel.collector.api.live_events import items_from_traces
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, traces_request


@dataclass(frozen=True)
class ModelCall:
    operation: str
    model: str
    system: str  # gen_ai.system, the provider's name before semantic conventions 1.37
    input_tokens: int
    output_tokens: int = 0


CALLS = [
    ModelCall("chat", "gpt-4o-mini", "openai", 120, 30),
    ModelCall("text_completion", "gpt-3.5-turbo-instruct", "openai", 50, 7),
    ModelCall("generate_content", "gemini-2.0-flash", "gcp.gemini", 80, 11),
    ModelCall("embeddings", "text-embedding-3-small", "openai", 64),
    ModelCall("embeddings", "text-embedding-3-small", "openai", 16),
]


def _spans() -> list[ReadableSpan]:
    """The calls, a tool call, and the agent span around them that sums their tokens again."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "other-app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.1b0")
    agent_tokens = {
        "gen_ai.usage.input_tokens": sum(c.input_tokens for c in CALLS),
        "gen_ai.usage.output_tokens": sum(c.output_tokens for c in CALLS),
    }
    agent = tracer.start_span(
        "invoke_agent planner", start_time=BASE_NS, attributes={"gen_ai.operation.name": "invoke_agent", **agent_tokens}
    )
    with trace.use_span(agent):
        for n, call in enumerate(CALLS):
            attributes: dict[str, str | int] = {
                "gen_ai.operation.name": call.operation,
                "gen_ai.system": call.system,
                "gen_ai.request.model": call.model,
                "gen_ai.response.model": call.model,
                "gen_ai.usage.input_tokens": call.input_tokens,
            }
            if call.operation != "embeddings":
                attributes["gen_ai.usage.output_tokens"] = call.output_tokens
            start = BASE_NS + n * 1_000_000_000
            name = f"{call.operation} {call.model}"
            span = tracer.start_span(name, kind=SpanKind.CLIENT, start_time=start, attributes=attributes)
            span.end(end_time=start + 300_000_000)
        tool_attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
        tool = tracer.start_span("execute_tool search", start_time=BASE_NS, attributes=tool_attributes)
        tool.end(end_time=BASE_NS + 1)
        agent.end(end_time=BASE_NS + 10_000_000_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


@pytest.fixture
def collector(store: Store) -> Iterator[Collector]:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as server:
        yield server


def _send(collector: Collector, tenant: str, body: bytes) -> None:
    host, port = collector.http_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(
            "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant}
        )
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"")
    finally:
        connection.close()


def _expected_by_model() -> dict[str, dict[str, int]]:
    expected: dict[str, dict[str, int]] = {}
    for call in CALLS:
        row = expected.setdefault(call.model, {"llm_calls": 0, "input_tokens": 0, "output_tokens": 0})
        row["llm_calls"] += 1
        row["input_tokens"] += call.input_tokens
        row["output_tokens"] += call.output_tokens
    return expected


def test_every_model_operation_counts_once_and_agent_spans_do_not(collector: Collector, store: Store, tenant: str) -> None:
    """chat, text_completion, generate_content and embeddings are LLM calls (only chat was before);
    the agent span's tokens, the sum of its calls', are not counted again; a replay changes nothing."""
    body = encode_spans(_spans()).SerializeToString()
    for _ in range(2):  # the export, then a replay of the same bytes
        _send(collector, tenant, body)
        report = usage(store, ["model"], tenant=tenant)
        measured = ("llm_calls", "input_tokens", "output_tokens")
        by_model = {row["model"]: {k: row[k] for k in measured} for row in report.rows if row["model"]}
        assert by_model == _expected_by_model()
        assert report.totals["tool_calls"] == 1
        assert report.totals["cost_estimated_usd"] > 0  # no runtime cost on these spans: estimated


def test_the_provider_falls_back_to_gen_ai_system_and_prices_the_embeddings(
    collector: Collector, store: Store, tenant: str
) -> None:
    """``gen_ai.system`` was dropped as a key outside the policy, so these calls had no provider, and
    genai-prices, which prices embeddings only knowing the provider, left them unpriced."""
    _send(collector, tenant, encode_spans(_spans()).SerializeToString())
    report = usage(store, ["provider"], tenant=tenant)
    expected: dict[str, int] = {}
    for call in CALLS:
        expected[call.system] = expected.get(call.system, 0) + 1
    assert {row["provider"]: row["llm_calls"] for row in report.rows if row["llm_calls"]} == expected
    assert report.totals["unpriced_calls"] == 0


def test_the_live_stream_calls_every_model_operation_an_llm_call() -> None:
    """The rollups count these operations since migration 0026; the live stream counted only chat."""
    session = Session("s-embed", "s-embed")
    spans = []
    for operation in ("embeddings", "generate_content", "invoke_agent"):
        span = LlmCall(f"k-{operation}").span()
        for attribute in span.attributes:
            if attribute.key == "gen_ai.operation.name":
                attribute.value.string_value = operation
        spans.append(span)
    items = items_from_traces(traces_request([SessionBatch(session, spans)]))
    assert [(category, data["type"]) for category, data in items] == [("llm_stream", "llm_call")] * 2
