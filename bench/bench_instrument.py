"""Runtime-thread cost per event of instrument() over a bare EventBus.publish, and an SDK span for scale.

    python -m bench.bench_instrument [--rounds 1000] [--block 80]

Four real aden-hive EventBuses publish the same events (one agent turn's mix: iteration, deltas,
a tool call, the turn's usage, a context update): a bare one, one hooked with
``instrument(via="subscribe")``, one with ``instrument(via="publish")`` and, to tell Hive's
subscriber dispatch from our handler, one with a subscriber that does nothing. Time is taken per
block of ``--block`` events, the buses taking turns block by block so that drift hits all alike;
the hooks' queues are drained between blocks, off the clock, so every timed event takes the
enqueue path (never the full-queue drop). A mode's cost per event is the median over its blocks;
"added" is that minus the bare bus's median.

For scale, in the same run: an OpenTelemetry SDK span started and ended on the runtime's thread
(what instrumenting Hive with the SDK directly would cost there), with an LLM call's ~20
attributes, a BatchSpanProcessor and an exporter that discards; the processor is flushed between
blocks, off the clock. Writes bench/results/instrument.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench._common import machine, write_result

GOAL_ADDED_NS = 2000
MODES = ("bare", "subscribe", "publish", "noop_subscriber")


def turn_events() -> list[Any]:
    """The events one agent-loop turn publishes, as the runtime builds them."""
    from framework.host.event_bus import AgentEvent, EventType

    def event(kind: EventType, **data: Any) -> AgentEvent:
        return AgentEvent(type=kind, stream_id="queen", node_id="queen", execution_id="exec-1", data=data)

    return [
        event(EventType.NODE_LOOP_ITERATION, iteration=3),
        event(EventType.CONTEXT_USAGE_UPDATED, usage_ratio=0.02, message_count=7, estimated_tokens=4000),
        event(EventType.LLM_REASONING_DELTA, content="hmm", iteration=3),
        event(EventType.LLM_TEXT_DELTA, content="Working on it", snapshot="Working on it"),
        event(EventType.LLM_TEXT_DELTA, content=" — done.", snapshot="Working on it — done."),
        event(EventType.TOOL_CALL_STARTED, tool_use_id="toolu_1", tool_name="web_search", tool_input={"q": "x"}),
        event(EventType.TOOL_CALL_COMPLETED, tool_use_id="toolu_1", tool_name="web_search", result="ok", is_error=False),
        event(
            EventType.LLM_TURN_COMPLETE,
            stop_reason="tool_calls",
            model="claude-sonnet-4-5",
            input_tokens=1388,
            output_tokens=390,
            cached_tokens=800,
            cache_creation_tokens=0,
            cost_usd=0.010638,
            iteration=3,
        ),
    ]


def sdk_span_starter() -> tuple[Callable[[], None], Callable[[], None]]:
    """(start and end one span, flush off the clock) with the SDK set up as an application would."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    class Discard(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "hive"}))
    processor = BatchSpanProcessor(Discard())
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    attributes = {
        "gen_ai.operation.name": "chat",
        "hive.call_key": "llm-45572995db51025e987a",
        "hive.call.source": "event",
        "hive.node.id": "queen",
        "hive.iteration": 3,
        "gen_ai.usage.input_tokens": 1388,
        "gen_ai.usage.output_tokens": 390,
        "hive.latency_ms": 3207,
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.model": "claude-sonnet-4-5",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.usage.cache_read.input_tokens": 800,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "hive.cost_usd": 0.010638,
        "hive.cost_source": "runtime",
        "hive.stop_reason": "tool_calls",
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "hive.execution.id": "exec-1",
        "hive.stream.id": "queen",
    }

    def one_span() -> None:
        tracer.start_span("chat claude-sonnet-4-5", kind=SpanKind.CLIENT, attributes=attributes).end()

    return one_span, lambda: processor.force_flush()


async def measure(rounds: int, block: int) -> dict[str, list[float]]:
    from framework.host.event_bus import EventBus, EventType

    from hive_otel.client.sources.live import instrument

    events = turn_events()
    block_events = [events[i % len(events)] for i in range(block)]
    buses = {mode: EventBus() for mode in MODES}
    hooks = {
        mode: instrument(buses[mode], session_id="session_bench", queue_size=10 * block, via=mode)  # type: ignore[arg-type]
        for mode in ("subscribe", "publish")
    }

    async def do_nothing(event: Any) -> None:
        pass

    buses["noop_subscriber"].subscribe(list(EventType), do_nothing)
    one_span, flush_spans = sdk_span_starter()
    samples: dict[str, list[float]] = {mode: [] for mode in (*MODES, "sdk_span")}
    clock = time.perf_counter_ns
    for round_number in range(rounds):
        order = MODES[round_number % len(MODES) :] + MODES[: round_number % len(MODES)]
        for mode in order:
            publish = buses[mode].publish
            started = clock()
            for event in block_events:
                await publish(event)
            samples[mode].append((clock() - started) / block)
            if mode in hooks:
                hooks[mode].drain(max_items=10 * block)  # off the clock: conversion is the export thread's work
        started = clock()
        for _ in range(block):
            one_span()
        samples["sdk_span"].append((clock() - started) / block)
        flush_spans()
    for hook in hooks.values():
        if hook.dropped:
            raise RuntimeError(f"a hook dropped {hook.dropped} events: the queue was too small for a block")
        hook.uninstrument()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_instrument", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000, help="timed blocks per mode")
    parser.add_argument("--block", type=int, default=80, help="events per timed block")
    args = parser.parse_args(argv)
    gc.collect()
    samples = asyncio.run(measure(args.rounds, args.block))
    bare = statistics.median(samples["bare"])
    result: dict[str, Any] = {
        "name": "instrument",
        "machine": machine(),
        "rounds": args.rounds,
        "block": args.block,
        "goal_added_ns": GOAL_ADDED_NS,
        "bare_publish_ns": round(bare),
    }
    for mode in MODES[1:]:
        median = statistics.median(samples[mode])
        result[mode] = {
            "publish_ns": round(median),
            "added_ns": round(median - bare),
            "added_p90_ns": round(statistics.quantiles(samples[mode], n=10)[-1] - bare),
        }
    result["sdk_span_ns"] = round(statistics.median(samples["sdk_span"]))
    result["sdk_span_vs_publish_hook"] = round(result["sdk_span_ns"] / max(1, result["publish"]["added_ns"]), 1)
    path = write_result("instrument", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
