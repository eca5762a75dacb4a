"""A realistic Hive home written by the real aden-hive runtime pieces, with its ground truth.

No LLM is called: scripted agent-loop turns drive the real ``framework`` EventBus (per-session
``events.jsonl``, per-worker logs as with ``HIVE_SPLIT_WORKER_EVENTS=1``) and the real
RuntimeLogger (L1-L3 under ``sessions/<sid>/logs``), in the order the agent loop emits them.
:class:`WorkloadTruth` is tallied while emitting, never read back from the files, so tests can
compare what came out of the pipeline with what went in.

Deterministic for a given seed (ids, models, tokens, costs, text), except what Hive itself makes
at write time: RuntimeLogger span ids, event and L1 timestamps, tool start timestamps.

``python -m hive_otel.workload DIR`` writes one for manual use and prints its totals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from framework.host.event_bus import AgentEvent, EventBus, EventType
from framework.observability import set_trace_context
from framework.tracker.runtime_log_store import RuntimeLogStore
from framework.tracker.runtime_logger import RuntimeLogger

__all__ = [
    "CANARIES",
    "CANARY_ERROR",
    "CANARY_EVENT_DATA",
    "CANARY_FILE_PATH",
    "CANARY_LLM_TEXT",
    "CANARY_TOOL_INPUT",
    "CANARY_TOOL_RESULT",
    "GROUP_KEYS",
    "MODELS",
    "LlmCallTruth",
    "ModelSpec",
    "SessionTruth",
    "ToolCallTruth",
    "UsageTotals",
    "WorkloadTruth",
    "write_workload",
]

# Secrets that must never leave the machine under the default policy. Each sits where Hive puts
# private content: tool arguments and results, LLM text, error messages, file paths, event payloads.
CANARY_TOOL_INPUT = "CANARY-tool-input-4b1d9e70"
CANARY_TOOL_RESULT = "CANARY-tool-result-77c0aa31"
CANARY_LLM_TEXT = "CANARY-llm-text-e3f812c5"
CANARY_ERROR = "CANARY-error-message-09bd51f4"
CANARY_FILE_PATH = "CANARY-file-path-5a6c3f08"
CANARY_EVENT_DATA = "CANARY-event-data-c2e4716b"
CANARIES: tuple[str, ...] = (
    CANARY_TOOL_INPUT,
    CANARY_TOOL_RESULT,
    CANARY_LLM_TEXT,
    CANARY_ERROR,
    CANARY_FILE_PATH,
    CANARY_EVENT_DATA,
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model as the runtime reports it. Rates (USD per million tokens) only simulate the runtime's
    own ``cost_usd``; ``reports_cost`` False means the runtime leaves it at 0.0 ("not reported")."""

    name: str
    provider: str | None  # gen_ai.provider.name the model string implies; None when nobody can tell
    input_rate: float
    output_rate: float
    cache_read_rate: float
    cache_write_rate: float
    reports_cost: bool = True


CLAUDE = ModelSpec("claude-sonnet-4-5", "anthropic", 3.0, 15.0, 0.30, 3.75)
GPT = ModelSpec("gpt-4o", "openai", 2.5, 10.0, 1.25, 0.0)
GEMINI = ModelSpec("gemini-2.5-flash", "gcp.gemini", 0.30, 2.50, 0.075, 0.0)
UNPRICED = ModelSpec("acme-internal-7b", None, 0.0, 0.0, 0.0, 0.0, reports_cost=False)
MODELS: tuple[ModelSpec, ...] = (CLAUDE, GPT, GEMINI, UNPRICED)

_QUEEN_IDS = ("queen_technology", "queen_growth", "queen_market_research", "queen_finance_fundraising")
_COLONY_NAMES = ("market_scan", "lead_enrichment", "content_pipeline")
_TOOLS = ("web_search", "read_file", "write_file", "run_python", "http_get")
# Every worker model in turn, so even the default three workers cover priced, partly priced
# (gemini reports cost only on even iterations) and unpriced calls.
_WORKER_MODELS = (GPT, GEMINI, UNPRICED, CLAUDE)
_TOOL_ERROR_EVERY = 5  # every 5th tool call of the workload fails
_BASE_TIME = datetime(2026, 1, 15, 9, 0, 0)  # session ids embed a time; fixed so ids are reproducible


# --- ground truth ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionTruth:
    session_id: str
    agent_role: str  # queen | worker
    queen_id: str
    colony_id: str | None
    worker_id: str | None
    parent_session_id: str | None  # for a worker: the colony queen session that spawned it
    root_session_id: str
    events_path: Path | None  # None for a worker whose events all sit in the queen's file
    logs_dir: Path  # sessions/<sid>/logs
    stream_id: str
    node_id: str
    execution_id: str  # the bus execution id
    trace_id: str  # from the trace context, as L1-L3 carry it
    trace_execution_id: str  # the trace context's execution id (not the bus one)
    succeeded: bool


@dataclass(frozen=True, slots=True)
class LlmCallTruth:
    session_id: str
    root_session_id: str
    colony_id: str | None
    queen_id: str
    worker_id: str | None
    agent_role: str
    node_id: str
    execution_id: str
    iteration: int
    model: str
    provider: str | None
    input_tokens: int  # includes cached and cache-creation tokens
    output_tokens: int
    cached_tokens: int
    cache_creation_tokens: int
    cost_usd: float  # as the runtime reported it; 0.0 = not reported
    stop_reason: str

    @property
    def priced(self) -> bool:
        return self.cost_usd > 0.0


@dataclass(frozen=True, slots=True)
class ToolCallTruth:
    session_id: str
    root_session_id: str
    colony_id: str | None
    queen_id: str
    worker_id: str | None
    agent_role: str
    node_id: str
    execution_id: str
    iteration: int
    tool_use_id: str
    tool_name: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """The figures ``hive-otel usage`` reports, computed from what was emitted."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    tool_calls: int = 0
    tool_errors: int = 0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


# usage group-by key → the truth attribute it reads (tool calls have no model or provider)
GROUP_KEYS = {
    "model": "model",
    "provider": "provider",
    "colony": "colony_id",
    "session": "session_id",
    "root_session": "root_session_id",
    "agent_role": "agent_role",
    "queen": "queen_id",
}


def _totals(llm: Iterable[LlmCallTruth], tools: Iterable[ToolCallTruth]) -> UsageTotals:
    llm = list(llm)
    tools = list(tools)
    return UsageTotals(
        llm_calls=len(llm),
        input_tokens=sum(c.input_tokens for c in llm),
        output_tokens=sum(c.output_tokens for c in llm),
        cached_tokens=sum(c.cached_tokens for c in llm),
        cache_creation_tokens=sum(c.cache_creation_tokens for c in llm),
        cost_usd=round(math.fsum(c.cost_usd for c in llm), 9),
        unpriced_calls=sum(1 for c in llm if not c.priced),
        tool_calls=len(tools),
        tool_errors=sum(1 for t in tools if t.is_error),
    )


@dataclass
class WorkloadTruth:
    """What the workload emitted, tallied at emit time."""

    hive_home: Path
    sessions: dict[str, SessionTruth] = field(default_factory=dict)
    llm_calls: list[LlmCallTruth] = field(default_factory=list)
    tool_calls: list[ToolCallTruth] = field(default_factory=list)
    events_published: Counter[str] = field(default_factory=Counter)  # every bus publish, by type
    canaries: tuple[str, ...] = ()  # the canaries placed, empty when canaries=False

    def totals(self) -> UsageTotals:
        return _totals(self.llm_calls, self.tool_calls)

    def totals_by(self, key: str) -> dict[str | None, UsageTotals]:
        """Totals per value of a usage group-by key (see ``GROUP_KEYS``)."""
        attr = GROUP_KEYS[key]
        llm: dict[str | None, list[LlmCallTruth]] = {}
        tools: dict[str | None, list[ToolCallTruth]] = {}
        for call in self.llm_calls:
            llm.setdefault(getattr(call, attr), []).append(call)
        for tool in self.tool_calls:
            tools.setdefault(getattr(tool, attr, None), []).append(tool)
        return {k: _totals(llm.get(k, ()), tools.get(k, ())) for k in llm.keys() | tools.keys()}

    def by_model(self) -> dict[str | None, UsageTotals]:
        return self.totals_by("model")

    def by_colony(self) -> dict[str | None, UsageTotals]:
        return self.totals_by("colony")

    def by_session(self) -> dict[str | None, UsageTotals]:
        return self.totals_by("session")

    def by_root_session(self) -> dict[str | None, UsageTotals]:
        return self.totals_by("root_session")


# --- emitting -------------------------------------------------------------------------------


@dataclass
class _Agent:
    """One agent loop (a queen or a worker) writing to a bus and a RuntimeLogger."""

    bus: EventBus
    runtime_logger: RuntimeLogger
    session: SessionTruth
    models: tuple[ModelSpec, ...]  # cycled per iteration
    system_prefix_sha: str
    input_tokens: int = 0
    output_tokens: int = 0
    iterations: int = 0


class _Writer:
    def __init__(self, hive_home: Path, *, split_worker_events: bool, canaries: bool, seed: int) -> None:
        self.hive_home = hive_home
        self.split = split_worker_events
        self.canaries = canaries
        self.rng = random.Random(seed)
        self.log_store = RuntimeLogStore(hive_home)
        self.truth = WorkloadTruth(hive_home=hive_home, canaries=CANARIES if canaries else ())
        self._sessions_made = 0
        self._tool_calls_made = 0

    # -- small deterministic helpers --

    def hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def session_id(self) -> str:
        """``session_YYYYMMDD_HHMMSS_xxxxxxxx`` as Hive's session store makes them."""
        when = _BASE_TIME + timedelta(seconds=97 * self._sessions_made)
        self._sessions_made += 1
        return f"session_{when:%Y%m%d_%H%M%S}_{self.hex(8)}"

    def secret(self, canary: str, plain: str) -> str:
        return f"{plain} {canary}" if self.canaries else plain

    def new_bus(self, events_path: Path) -> EventBus:
        """A session's EventBus logging to ``events_path``; every publish is tallied by type.

        Tallied by wrapping ``publish`` rather than subscribing: a subscriber costs the bus a task
        per event, which would slow large workloads several-fold.
        """
        bus = EventBus()
        bus.set_session_log(events_path)
        publish = bus.publish
        tally = self.truth.events_published

        async def publish_and_tally(event: Any) -> None:
            tally[str(event.type)] += 1
            await publish(event)

        bus.publish = publish_and_tally
        return bus

    async def publish(self, agent: _Agent, event_type: EventType, data: dict[str, Any], **where: Any) -> None:
        where.setdefault("stream_id", agent.session.stream_id)
        await agent.bus.publish(AgentEvent(type=event_type, data=data, **where))

    def new_agent(
        self,
        bus: EventBus,
        *,
        session_id: str,
        agent_role: str,
        queen_id: str,
        colony_id: str | None,
        worker_id: str | None,
        parent_session_id: str | None,
        events_path: Path | None,
        stream_id: str,
        node_id: str,
        execution_id: str,
        models: tuple[ModelSpec, ...],
        agent_name: str,
    ) -> _Agent:
        """Set the trace context (as StreamRuntime.start_run does) and start the run's logs."""
        trace_id, trace_execution_id = self.hex(32), self.hex(32)
        set_trace_context(trace_id=trace_id, execution_id=trace_execution_id, stream_id=stream_id)
        runtime_logger = RuntimeLogger(store=self.log_store, agent_id=agent_name)
        runtime_logger.start_run(goal_id=f"{agent_name}-goal", session_id=session_id)
        session = SessionTruth(
            session_id=session_id,
            agent_role=agent_role,
            queen_id=queen_id,
            colony_id=colony_id,
            worker_id=worker_id,
            parent_session_id=parent_session_id,
            root_session_id=parent_session_id or session_id,
            events_path=events_path,
            logs_dir=self.hive_home / "sessions" / session_id / "logs",
            stream_id=stream_id,
            node_id=node_id,
            execution_id=execution_id,
            trace_id=trace_id,
            trace_execution_id=trace_execution_id,
            succeeded=True,
        )
        self.truth.sessions[session_id] = session
        return _Agent(bus, runtime_logger, session, models, system_prefix_sha=self.hex(12))

    # -- one agent-loop iteration, in the order AgentLoop emits it --

    async def turn(self, agent: _Agent, iteration: int, *, tool_error: bool = False) -> None:
        s = agent.session
        bus = agent.bus
        await bus.emit_node_loop_iteration(s.stream_id, s.node_id, iteration, execution_id=s.execution_id)
        message_count = 2 + 2 * iteration
        await self.publish(
            agent,
            EventType.CONTEXT_USAGE_UPDATED,
            {
                "usage_ratio": round(min(0.95, 0.02 + 0.01 * (iteration % 60)), 4),
                "usage_pct": round(min(95.0, 2 + iteration % 60)),
                "message_count": message_count,
                "estimated_tokens": 2000 + 350 * (iteration % 60),
                "max_context_tokens": 200_000,
                "trigger": "iteration_start",
            },
            node_id=s.node_id,
        )

        reasoning = ""
        for part in ("Looking at the task, ", "the next step is clear."):
            reasoning += part
            await bus.emit_llm_reasoning_delta(
                s.stream_id,
                s.node_id,
                part,
                execution_id=s.execution_id,
                iteration=iteration,
                snapshot=reasoning,
            )
        text = ""
        for part in ("Working on it: ", self.secret(CANARY_LLM_TEXT, "gathering sources"), " — done."):
            text += part
            await bus.emit_llm_text_delta(s.stream_id, s.node_id, part, text, execution_id=s.execution_id)

        tool_logs = []
        for _ in range(self.rng.choice((0, 1, 1, 2)) if not tool_error else 1):
            tool_logs.append(await self.tool_call(agent, iteration, force_error=tool_error))

        model = agent.models[iteration % len(agent.models)]
        input_tokens, output_tokens, cached, cache_creation = self.tokens(model, iteration)
        cost = self.cost(model, iteration, input_tokens, output_tokens, cached, cache_creation)
        stop_reason = "tool_calls" if tool_logs else "stop"
        await bus.emit_llm_turn_complete(
            s.stream_id,
            s.node_id,
            stop_reason=stop_reason,
            model=model.name,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached,
            cache_creation_tokens=cache_creation,
            cost_usd=cost,
            credits=round(cost * 100, 4) if model is CLAUDE else None,
            execution_id=s.execution_id,
            iteration=iteration,
            system_prefix_sha=agent.system_prefix_sha,
            history_anchor_idx=max(-1, message_count - 3),
            message_count=message_count,
        )
        agent.runtime_logger.log_step(
            node_id=s.node_id,
            node_type="event_loop",
            step_index=iteration,
            llm_text=text,
            tool_calls=tool_logs,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=self.rng.randint(800, 9000),
            verdict="CONTINUE",
        )
        agent.input_tokens += input_tokens
        agent.output_tokens += output_tokens
        agent.iterations += 1
        self.truth.llm_calls.append(
            LlmCallTruth(
                session_id=s.session_id,
                root_session_id=s.root_session_id,
                colony_id=s.colony_id,
                queen_id=s.queen_id,
                worker_id=s.worker_id,
                agent_role=s.agent_role,
                node_id=s.node_id,
                execution_id=s.execution_id,
                iteration=iteration,
                model=model.name,
                provider=model.provider,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=cached,
                cache_creation_tokens=cache_creation,
                cost_usd=cost,
                stop_reason=stop_reason,
            )
        )

    async def tool_call(self, agent: _Agent, iteration: int, *, force_error: bool) -> dict[str, Any]:
        s = agent.session
        self._tool_calls_made += 1
        is_error = force_error or self._tool_calls_made % _TOOL_ERROR_EVERY == 0
        tool_name = self.rng.choice(_TOOLS)
        tool_use_id = f"toolu_{self.hex(24)}"
        tool_input = {
            "query": self.secret(CANARY_TOOL_INPUT, "quarterly revenue by region"),
            "path": f"/home/analyst/projects/{CANARY_FILE_PATH if self.canaries else 'acme'}/notes.md",
        }
        if is_error:
            content = self.secret(CANARY_ERROR, "Error: upstream returned 503 Service Unavailable")
        else:
            content = self.secret(CANARY_TOOL_RESULT, "3 matching documents found")
        await agent.bus.emit_tool_call_started(
            s.stream_id, s.node_id, tool_use_id, tool_name, tool_input, execution_id=s.execution_id
        )
        await agent.bus.emit_tool_call_completed(
            s.stream_id, s.node_id, tool_use_id, tool_name, content, is_error, execution_id=s.execution_id
        )
        self.truth.tool_calls.append(
            ToolCallTruth(
                session_id=s.session_id,
                root_session_id=s.root_session_id,
                colony_id=s.colony_id,
                queen_id=s.queen_id,
                worker_id=s.worker_id,
                agent_role=s.agent_role,
                node_id=s.node_id,
                execution_id=s.execution_id,
                iteration=iteration,
                tool_use_id=tool_use_id,
                tool_name=tool_name,
                is_error=is_error,
            )
        )
        return {  # the shape AgentLoop hands to RuntimeLogger.log_step
            "tool_use_id": tool_use_id,
            "tool_name": tool_name,
            "tool_input": tool_input,
            "content": content,
            "is_error": is_error,
            "start_timestamp": datetime.now(UTC).isoformat(),
            "duration_s": round(self.rng.uniform(0.05, 3.0), 3),
        }

    def tokens(self, model: ModelSpec, iteration: int) -> tuple[int, int, int, int]:
        """(input, output, cached, cache_creation); the last two are subsets of input."""
        input_tokens = 1200 + 350 * (iteration % 40) + self.rng.randint(0, 400)
        output_tokens = self.rng.randint(40, 900)
        cached = cache_creation = 0
        if model is CLAUDE:
            if iteration == 0:
                cache_creation = int(input_tokens * 0.6)
            else:
                cached = int(input_tokens * self.rng.uniform(0.7, 0.9))
                cache_creation = min(self.rng.randint(0, 300), input_tokens - cached)
        elif model is GPT and iteration > 0:
            cached = (input_tokens // 128) * 128 // 2
        elif model is GEMINI and iteration % 3 == 2:
            cached = input_tokens // 4
        return input_tokens, output_tokens, cached, cache_creation

    @staticmethod
    def cost(model: ModelSpec, iteration: int, inp: int, out: int, cached: int, cache_creation: int) -> float:
        """The runtime's reported cost: 0.0 when it did not report one (not free)."""
        if not model.reports_cost or (model is GEMINI and iteration % 2 == 1):
            return 0.0
        uncached = inp - cached - cache_creation
        usd = (
            uncached * model.input_rate
            + cached * model.cache_read_rate
            + cache_creation * model.cache_write_rate
            + out * model.output_rate
        ) / 1e6
        return max(round(usd, 6), 1e-6)

    async def finish(self, agent: _Agent, *, error: str | None = None) -> None:
        """L2 for the node, then L1 for the run (end_run reads L2 back, as in the runtime)."""
        s = agent.session
        await agent.bus.emit_node_loop_completed(s.stream_id, s.node_id, agent.iterations, execution_id=s.execution_id)
        agent.runtime_logger.log_node_complete(
            node_id=s.node_id,
            node_name=s.node_id,
            node_type="event_loop",
            success=error is None,
            error=error,
            total_steps=agent.iterations,
            tokens_used=agent.input_tokens + agent.output_tokens,
            input_tokens=agent.input_tokens,
            output_tokens=agent.output_tokens,
            latency_ms=agent.iterations * 4200,
            exit_status="success" if error is None else "failure",
            accept_count=1 if error is None else 0,
            continue_count=max(0, agent.iterations - 1),
        )
        await agent.runtime_logger.end_run(
            status="success" if error is None else "failure",
            duration_ms=agent.iterations * 4200,
            node_path=[s.node_id],
            execution_quality="clean" if error is None else "failed",
        )
        if error is not None:
            self.truth.sessions[s.session_id] = replace(s, succeeded=False)

    # -- sessions --

    async def queen_dm_session(self, queen_id: str, turns: int, *, with_extras: bool) -> None:
        """A queen's DM session: ``queens/<q>/sessions/<sid>``, phase ``independent``."""
        sid = self.session_id()
        events_path = self.hive_home / "queens" / queen_id / "sessions" / sid / "events.jsonl"
        bus = self.new_bus(events_path)
        agent = self.new_agent(
            bus,
            session_id=sid,
            agent_role="queen",
            queen_id=queen_id,
            colony_id=None,
            worker_id=None,
            parent_session_id=None,
            events_path=events_path,
            stream_id="queen",
            node_id="queen",
            execution_id=self.hex(32),
            models=(CLAUDE, CLAUDE, CLAUDE, GPT),
            agent_name=queen_id,
        )
        s = agent.session
        await bus.emit_execution_started(s.stream_id, s.execution_id, {"message": "Plan the week"})
        await self.publish(agent, EventType.QUEEN_PHASE_CHANGED, {"phase": "independent"})
        await bus.emit_node_loop_started(s.stream_id, s.node_id, execution_id=s.execution_id, max_iterations=0)
        if with_extras:
            await self.trigger_events(agent)
            await self.publish(
                agent,
                EventType.CUSTOM,
                {"kind": "workload.note", "note": self.secret(CANARY_EVENT_DATA, "custom payload")},
                node_id=s.node_id,
            )
        for iteration in range(turns):
            await self.turn(agent, iteration)
        await self.finish(agent)
        await bus.emit_execution_completed(s.stream_id, s.execution_id, {"summary": "done"})
        bus.close_session_log()

    async def trigger_events(self, agent: _Agent) -> None:
        # Hive adds the next wake (epoch ms) to the config of an active timer, and to each firing.
        next_fire_at = int((_BASE_TIME + timedelta(days=1)).timestamp() * 1000)
        trigger = {
            "trigger_id": "daily-digest",
            "trigger_type": "timer",
            "trigger_config": {"cron": "0 9 * * *"},
            "name": "Daily digest",
        }
        await self.publish(agent, EventType.TRIGGER_AVAILABLE, dict(trigger))
        activated = {**trigger, "trigger_config": {"cron": "0 9 * * *", "next_fire_at": next_fire_at}}
        await self.publish(agent, EventType.TRIGGER_ACTIVATED, activated)
        await self.publish(
            agent,
            EventType.TRIGGER_FIRED,
            {
                "trigger_id": "daily-digest",
                "trigger_type": "timer",
                "name": "Daily digest",
                "task": self.secret(CANARY_EVENT_DATA, "Summarise yesterday"),
                "last_fired_at": 1768467600.0,
                "fire_count": 3,
                "next_fire_at": next_fire_at + 86_400_000,
            },
        )

    async def colony_session(self, colony: str, queen_id: str, turns: int, workers: int) -> None:
        """A colony's overseer queen session plus the workers it spawns on the same bus."""
        sid = self.session_id()
        colony_dir = self.hive_home / "colonies" / colony
        events_path = colony_dir / "queens" / queen_id / "sessions" / sid / "events.jsonl"
        bus = self.new_bus(events_path)
        if self.split:
            bus.set_worker_log_resolver(_worker_log_resolver(colony_dir / "workers"))
        queen = self.new_agent(
            bus,
            session_id=sid,
            agent_role="queen",
            queen_id=queen_id,
            colony_id=colony,
            worker_id=None,
            parent_session_id=None,
            events_path=events_path,
            stream_id="queen",
            node_id="queen",
            execution_id=self.hex(32),
            models=(CLAUDE,),
            agent_name=queen_id,
        )
        s = queen.session
        await bus.emit_execution_started(s.stream_id, s.execution_id, {"message": f"Run {colony}"})
        await self.publish(queen, EventType.QUEEN_PHASE_CHANGED, {"phase": "independent"})
        await bus.emit_node_loop_started(s.stream_id, s.node_id, execution_id=s.execution_id, max_iterations=0)
        first_half = (turns + 1) // 2
        for iteration in range(first_half):
            await self.turn(queen, iteration)
        await self.task_created(queen, "t-1", "Fan out the research")
        await self.publish(queen, EventType.QUEEN_PHASE_CHANGED, {"phase": "colony"})

        # Workers run in their own tasks so each gets its own trace context, as in the runtime.
        for index in range(workers):
            fails = workers >= 2 and index == workers - 1
            await asyncio.create_task(
                self.worker(bus, colony, colony_dir, queen_id, sid, index, workers, turns, fails=fails)
            )

        for iteration in range(first_half, turns):
            await self.turn(queen, iteration)
        await self.task_updated(queen, "t-1", "completed")
        await self.finish(queen)
        await bus.emit_execution_completed(s.stream_id, s.execution_id, {"summary": "colony done"})
        bus.close_session_log()

    async def worker(
        self,
        bus: EventBus,
        colony: str,
        colony_dir: Path,
        queen_id: str,
        queen_session_id: str,
        index: int,
        batch_size: int,
        turns: int,
        *,
        fails: bool,
    ) -> None:
        wid = self.session_id()
        worker_dir = colony_dir / "workers" / wid
        worker_dir.mkdir(parents=True, exist_ok=True)
        task = self.secret(CANARY_EVENT_DATA, f"Research segment {index + 1}")
        _write_worker_meta(worker_dir, wid, queen_session_id, queen_id, colony, task, index, batch_size)
        agent = self.new_agent(
            bus,
            session_id=wid,
            agent_role="worker",
            queen_id=queen_id,
            colony_id=colony,
            worker_id=wid,
            parent_session_id=queen_session_id,
            events_path=worker_dir / "events.jsonl" if self.split else None,
            stream_id=f"worker:{wid}",
            node_id=wid,  # a spawned worker's agent id, node and execution id are its session id
            execution_id=wid,
            models=(_WORKER_MODELS[index % len(_WORKER_MODELS)],),
            agent_name=f"{colony}_worker",
        )
        s = agent.session
        await bus.emit_node_loop_started(s.stream_id, s.node_id, execution_id=s.execution_id, max_iterations=0)
        await self.task_created(agent, "t-1", task)
        for iteration in range(turns):
            last = iteration == turns - 1
            await self.turn(agent, iteration, tool_error=fails and last)
            if index == 0 and iteration == min(1, turns - 1):
                await bus.emit_node_stalled(s.stream_id, s.node_id, "Consecutive similar responses detected", s.execution_id)
                await bus.emit_stream_inactive(s.stream_id, s.node_id, 95.0, 90.0, s.execution_id)
                await bus.emit_tool_doom_loop(
                    s.stream_id, s.node_id, "web_search called 4x with identical arguments", s.execution_id
                )
        await self.task_updated(agent, "t-1", "failed" if fails else "completed")

        error = self.secret(CANARY_ERROR, "Tool budget exhausted after repeated 503s") if fails else None
        await self.finish(agent, error=error)
        if fails:
            await bus.emit_worker_failed(s.stream_id, s.node_id, wid, error or "", s.execution_id)
        else:
            await bus.emit_worker_completed(s.stream_id, s.node_id, wid, True, {"rows": 12}, execution_id=s.execution_id)
        await self.publish(  # Worker._emit_terminal_events: lifecycle event, then the report
            agent,
            EventType.EXECUTION_FAILED if fails else EventType.EXECUTION_COMPLETED,
            {
                "worker_id": wid,
                "colony_id": colony,
                "task": task,
                "success": not fails,
                "error": error,
                "output_keys": [] if fails else ["rows"],
            },
            node_id=wid,
            execution_id=wid,
        )
        await self.publish(
            agent,
            EventType.SUBAGENT_REPORT,
            {
                "worker_id": wid,
                "colony_id": colony,
                "task": task,
                "status": "failed" if fails else "success",
                "summary": self.secret(CANARY_EVENT_DATA, "Segment researched"),
                "data": {} if fails else {"rows": 12},
                "error": error,
                "duration_seconds": round(turns * 4.2, 1),
                "tokens_used": agent.input_tokens + agent.output_tokens,
                "batch_id": f"batch_{queen_session_id[-8:]}",
                "batch_index": index,
                "batch_size": batch_size,
            },
            node_id=wid,
            execution_id=wid,
        )

    async def task_created(self, agent: _Agent, task_id: str, subject: str) -> None:
        await self.publish(
            agent,
            EventType.TASK_CREATED,
            {"session_id": agent.session.session_id, "task": _task_record(task_id, subject, "in_progress")},
        )

    async def task_updated(self, agent: _Agent, task_id: str, status: str) -> None:
        await self.publish(
            agent,
            EventType.TASK_UPDATED,
            {
                "session_id": agent.session.session_id,
                "task_id": task_id,
                "after": _task_record(task_id, "", status),
                "fields": ["status"],
            },
        )


def _task_record(task_id: str, subject: str, status: str) -> dict[str, Any]:
    """The shape framework.tasks.events serialises a TaskRecord into."""
    return {
        "id": task_id,
        "subject": subject,
        "description": "",
        "active_form": "",
        "owner": None,
        "status": status,
        "blocks": [],
        "blocked_by": [],
        "metadata": {},
        "created_at": 1768467600.0,
        "updated_at": 1768467600.0,
    }


def _worker_log_resolver(workers_dir: Path) -> Callable[[str], Path | None]:
    """The resolver ColonyRuntime._install_worker_log_resolver installs under HIVE_SPLIT_WORKER_EVENTS=1."""

    def resolve(stream_id: str) -> Path | None:
        if not stream_id.startswith("worker:"):
            return None
        worker_id = stream_id.split(":", 1)[1].strip()
        if not worker_id:
            return None
        return workers_dir / worker_id / "events.jsonl"

    return resolve


def _write_worker_meta(
    worker_dir: Path,
    worker_id: str,
    queen_session_id: str,
    queen_id: str,
    colony: str,
    task: str,
    index: int,
    batch_size: int,
) -> None:
    """The lineage breadcrumb ColonyRuntime writes at spawn (colony_runtime.py, ~line 1774)."""
    meta = {
        "worker_id": worker_id,
        "queen_session_id": queen_session_id,
        "queen_name": queen_id,
        "colony_id": colony,
        "spawned_at": _BASE_TIME.timestamp(),
        "task": task[:500],
        "profile_name": None,
        "batch_id": f"batch_{queen_session_id[-8:]}",
        "batch_index": index,
        "batch_size": batch_size,
        "worker_seq": index,
        "goal": None,
    }
    (worker_dir / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


async def _write(
    hive_home: Path,
    *,
    queens: int,
    colonies: int,
    workers_per_colony: int,
    turns_per_session: int,
    split_worker_events: bool,
    canaries: bool,
    seed: int,
) -> WorkloadTruth:
    writer = _Writer(hive_home, split_worker_events=split_worker_events, canaries=canaries, seed=seed)
    queen_ids = [_numbered(_QUEEN_IDS, i) for i in range(queens)]
    for i, queen_id in enumerate(queen_ids):
        await asyncio.create_task(writer.queen_dm_session(queen_id, turns_per_session, with_extras=i == 0))
    for c in range(colonies):
        await asyncio.create_task(
            writer.colony_session(_numbered(_COLONY_NAMES, c), queen_ids[c % queens], turns_per_session, workers_per_colony)
        )
    return writer.truth


def _numbered(names: tuple[str, ...], i: int) -> str:
    name = names[i % len(names)]
    return name if i < len(names) else f"{name}_{i // len(names) + 1}"


def write_workload(
    hive_home: Path,
    *,
    queens: int = 2,
    colonies: int = 1,
    workers_per_colony: int = 3,
    turns_per_session: int = 6,
    split_worker_events: bool = True,
    canaries: bool = False,
    seed: int = 0,
) -> WorkloadTruth:
    """Write a workload into ``hive_home`` (created if missing) and return its ground truth.

    ``queens`` DM sessions (one per queen), ``colonies`` colony sessions each overseen by a queen and
    spawning ``workers_per_colony`` workers (the last one fails when there are two or more), every
    agent running ``turns_per_session`` LLM turns. Must not be called from a running event loop.
    """
    if queens < 1 or colonies < 0 or workers_per_colony < 0 or turns_per_session < 1:
        raise ValueError("need queens >= 1, colonies >= 0, workers_per_colony >= 0, turns_per_session >= 1")
    hive_home = Path(hive_home)
    hive_home.mkdir(parents=True, exist_ok=True)
    return asyncio.run(
        _write(
            hive_home,
            queens=queens,
            colonies=colonies,
            workers_per_colony=workers_per_colony,
            turns_per_session=turns_per_session,
            split_worker_events=split_worker_events,
            canaries=canaries,
            seed=seed,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hive_otel.workload", description="Write a scripted Hive workload into DIR."
    )
    parser.add_argument("dir", type=Path, help="the HIVE_HOME to write into")
    parser.add_argument("--queens", type=int, default=2)
    parser.add_argument("--colonies", type=int, default=1)
    parser.add_argument("--workers", type=int, default=3, help="workers per colony")
    parser.add_argument("--turns", type=int, default=6, help="LLM turns per session")
    parser.add_argument("--no-split", action="store_true", help="worker events in the queen's file only")
    parser.add_argument("--canaries", action="store_true", help="plant secret canaries in private fields")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    truth = write_workload(
        args.dir,
        queens=args.queens,
        colonies=args.colonies,
        workers_per_colony=args.workers,
        turns_per_session=args.turns,
        split_worker_events=not args.no_split,
        canaries=args.canaries,
        seed=args.seed,
    )
    summary = {
        "hive_home": str(args.dir),
        "sessions": len(truth.sessions),
        "events_published": sum(truth.events_published.values()),
        "totals": truth.totals().as_dict(),
        "by_model": {str(k): v.as_dict() for k, v in sorted(truth.by_model().items(), key=lambda kv: str(kv[0]))},
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
