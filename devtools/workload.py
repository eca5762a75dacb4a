"""A Hive home written by aden-hive 1.0.12's own code, with its ground truth.

No LLM is called: scripted agent-loop turns drive the real ``framework`` EventBus and, where the
runtime keeps them, the real RuntimeLogger. Every path and every copy comes from Hive itself:

- paths from ``framework.config`` (``queen_session_dir``, ``colony_queen_session_dir``,
  ``colony_workers_dir``, ``colony_dir``), pointed at the workload's HIVE_HOME while it is written;
- forks by ``framework.server.session_fork.fork_session_dir`` (whole, or cut before a user message);
- create-colony as ``fork_session_into_colony`` does it: ``shutil.copytree`` of the DM session into
  ``colonies/<c>/queens/<q>/sessions/<new>/`` and the same ``meta.json`` update (``forked_from`` as a
  string, ``colony_fork``), the colony's ``metadata.json``, the spawn lock on the source (Hive's own
  ``persist_colony_spawn_lock``), the ``colony_fork_marker`` line and ``colony_created`` on the source bus;
- a queen session's phase persisted into its ``meta.json`` by Hive's own ``QueenPhaseState`` (as
  ``create_queen`` does at start), and its ``queen_phase_changed`` published by the same object;
- a session opened cold (a fork, a colony session) logs with the ``iteration_offset`` SessionManager
  scans from its copied ``events.jsonl``;
- workers publish through a bus that stamps ``colony_id`` with the colony queen's session id (as
  ``StreamEventBus`` does), with ``meta.json`` as ``ColonyRuntime.spawn`` writes it, and their own
  ``events.jsonl`` with ``HIVE_SPLIT_WORKER_EVENTS=1``;
- L1-L3 run logs only where 1.0.12 writes them: graph agents loaded by ``AgentLoader`` (storage
  ``HIVE_HOME/agents/<agent>/``, ``RuntimeLogStore(<storage>/runtime_logs)``), so under
  ``agents/<agent>/sessions/<sid>/logs/``, a secondary graph's ``agents/<agent>/graphs/<g>/sessions/<sid>/logs/``
  and a legacy run's ``agents/<agent>/runtime_logs/runs/<run_id>/``. Queens and colony workers write
  none (their runtimes get no RuntimeLogStore).

:class:`WorkloadTruth` is tallied while emitting, never read back from the files: a call copied into
a fork or a colony is counted once, at its origin. Tests compare what came out of the pipeline with it.

Deterministic for a given seed (ids, models, tokens, costs, text), except what Hive itself makes at
write time: graph runs' session ids and legacy run ids (clock and uuid4), RuntimeLogger span ids,
event, meta and L1 timestamps.

``python -m devtools.workload DIR`` writes one for manual use and prints its totals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import framework.config as hive_config
from framework.host.event_bus import AgentEvent, EventBus, EventType
from framework.observability import set_trace_context
from framework.server.session_fork import fork_session_dir
from framework.storage.session_store import SessionStore
from framework.tracker.runtime_log_store import RuntimeLogStore
from framework.tracker.runtime_logger import RuntimeLogger

from hive_otel.attributes import ROLE_AGENT, ROLE_QUEEN, ROLE_WORKER

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
_AGENT_NAMES = ("deep_research_agent", "inbox_triage_agent")
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
    kind: str  # dm | fork | colony | worker | graph (a graph agent run: L1-L3 only)
    agent_role: str  # queen | worker | agent
    queen_id: str | None
    colony_id: str | None
    worker_id: str | None
    parent_session_id: str | None  # the session forked, the DM a colony came from, a worker's colony queen
    root_session_id: str  # the DM session at the top of the chain (a graph run is its own root)
    session_dir: Path  # the directory Hive made for it (a graph run: its logs directory)
    events_path: Path | None  # None for a graph run, and a worker whose events sit in the queen's file
    logs_dir: Path | None  # L1-L3 directory; None where 1.0.12 writes none (queens, colony workers)
    stream_id: str
    node_id: str
    execution_id: str  # the bus execution id (a queen's is its session id, a worker's its worker id)
    trace_id: str  # from the trace context, as L1-L3 carry it
    trace_execution_id: str  # the trace context's execution id (not the bus one)
    health: str  # what Hive's lifecycle says at the end: done | failed | idle | stalled
    phase: str | None = None  # the queen phase Hive persisted in meta.json (queens only)
    spawned_colony_id: str | None = None  # the colony persist_colony_spawn_lock recorded on this session

    @property
    def succeeded(self) -> bool:
        return self.health != "failed"


@dataclass(frozen=True, slots=True)
class LlmCallTruth:
    session_id: str
    root_session_id: str
    colony_id: str | None
    queen_id: str | None
    worker_id: str | None
    agent_role: str
    node_id: str
    execution_id: str
    iteration: int  # as the event carries it (iteration_offset included)
    model: str | None  # None for a call only L3 knows (graph agents): L3 carries no model or cost
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
    queen_id: str | None
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


# --- Hive's layout ---------------------------------------------------------------------------


@contextlib.contextmanager
def hive_home_paths(hive_home: Path) -> Iterator[None]:
    """Point ``framework.config``'s path helpers at ``hive_home`` for as long as the block runs.

    The helpers read the module globals resolved from HIVE_HOME at import; the workload writes
    into a directory of its own, so it swaps those globals rather than re-implementing the paths.
    """
    names = ("HIVE_HOME", "QUEENS_DIR", "COLONIES_DIR", "MEMORIES_DIR")
    saved = {name: getattr(hive_config, name) for name in names}
    hive_config.HIVE_HOME = hive_home
    hive_config.QUEENS_DIR = hive_home / "queens"
    hive_config.COLONIES_DIR = hive_home / "colonies"
    hive_config.MEMORIES_DIR = hive_home / "memories"
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(hive_config, name, value)


def agent_storage(hive_home: Path, agent: str) -> Path:
    """``AgentLoader``'s default storage for an agent: ``~/.hive/agents/<agent>`` (= HIVE_HOME/agents)."""
    return hive_home / "agents" / agent


def scan_iteration_offset(events_path: Path) -> int:
    """The offset SessionManager._start_queen logs a cold-resumed session with: max iteration + 1.

    A copy of that inner function (it cannot be imported): every event of a session opened again
    has its ``iteration`` raised by this, so a fork's own turns never reuse its copied ones.
    """
    max_iter = -1
    if events_path.exists():
        for line in events_path.read_text(encoding="utf-8").splitlines():
            try:
                it = json.loads(line).get("data", {}).get("iteration")
            except (ValueError, AttributeError):
                continue
            if isinstance(it, int) and it > max_iter:
                max_iter = it
    return max_iter + 1 if max_iter >= 0 else 0


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _copy_into_colony(source_dir: Path, dest_dir: Path, source_id: str, colony: str, queen: str) -> None:
    """Step 3 of ``fork_session_into_colony``: copy the DM session whole and update its meta.json."""
    shutil.copytree(source_dir, dest_dir, dirs_exist_ok=True)
    meta = _read_json(dest_dir / "meta.json")
    meta["agent_path"] = str(hive_config.colony_dir(colony))
    meta["agent_name"] = colony.replace("_", " ").title()
    meta["queen_id"] = queen
    meta["forked_from"] = source_id
    meta["colony_fork"] = True
    for key in ("colony_spawned", "spawned_colony_id", "spawned_colony_at"):
        meta.pop(key, None)
    _write_json(dest_dir / "meta.json", meta)
    # _compact_inherited_conversation keeps a short transcript verbatim and appends the boundary marker.
    now = datetime.now(UTC).isoformat()
    marker = {
        "type": "colony_fork_marker",
        "stream_id": "queen",
        "data": {"parent_session_id": source_id, "fork_time": now, "summary_preview": "", "inherited_message_count": 0},
        "timestamp": now,
    }
    with open(dest_dir / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(marker) + "\n")


def _colony_bookkeeping(colony: str, queen: str, colony_session: str, source_dir: Path, source_id: str) -> None:
    """Steps 4-5 of ``fork_session_into_colony`` and ``persist_colony_spawn_lock`` on the source."""
    colony_dir = hive_config.colony_dir(colony)
    metadata = _read_json(colony_dir / "metadata.json")
    now = datetime.now(UTC).isoformat()
    metadata.update(colony_id=colony, queen_name=queen, queen_session_id=colony_session, source_session_id=source_id)
    metadata.setdefault("created_at", now)
    metadata["updated_at"] = now
    metadata.setdefault("workers", {})["worker"] = {"task": "", "spawned_at": now}
    (colony_dir / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    source_meta = _read_json(source_dir / "meta.json")
    source_meta.update(agent_path=str(colony_dir), agent_name=colony.replace("_", " ").title())
    _write_json(source_dir / "meta.json", source_meta)
    from framework.server.routes_execution import persist_colony_spawn_lock  # aiohttp: only when needed

    persist_colony_spawn_lock(SimpleNamespace(queen_dir=source_dir), colony)


def _queen_phase_state(phase: str, bus: Any, meta_path: Path) -> Any:
    """Hive's own ``QueenPhaseState`` for a queen session, as ``create_queen`` makes it. Imported here:
    its module pulls in the LLM stack (LiteLLM, told to use its bundled price map: no network)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from framework.tools.queen_lifecycle_tools import QueenPhaseState

    return QueenPhaseState(phase=phase, event_bus=bus, meta_path=meta_path)


class _ScopedBus:
    """What ``ColonyRuntime`` hands its workers: ``StreamEventBus``, which stamps every event's
    ``colony_id`` with the broadcast scope (the colony queen's session id) and publishes on the
    session bus. Mirrored here because importing colony_runtime pulls in the whole LLM stack."""

    def __init__(self, bus: EventBus, scope: str) -> None:
        self._real_bus = bus
        self._scope = scope

    async def publish(self, event: AgentEvent) -> None:
        event.colony_id = self._scope
        await self._real_bus.publish(event)

    def __getattr__(self, name: str) -> Any:
        # EventBus's emit_* helpers build an AgentEvent and call self.publish: bind them to this proxy.
        attr = getattr(EventBus, name)
        return attr.__get__(self, _ScopedBus) if callable(attr) else getattr(self._real_bus, name)


# --- emitting -------------------------------------------------------------------------------


@dataclass
class _Agent:
    """One agent loop (a queen, a worker or a graph node) writing to a bus and/or a RuntimeLogger."""

    bus: Any  # an EventBus, a worker's _ScopedBus, None for a graph agent (no session log)
    runtime_logger: RuntimeLogger | None  # graph agents only: 1.0.12 gives queens and workers none
    session: SessionTruth
    models: tuple[ModelSpec | None, ...]  # cycled per iteration; None: a call whose model only the LLM knew
    system_prefix_sha: str
    iteration_offset: int = 0  # what the bus adds to each event's iteration (a session opened cold)
    input_tokens: int = 0
    output_tokens: int = 0
    iterations: int = 0
    last_message_at: str = ""  # timestamp of the last user message (where a fork can cut)
    started: float = field(default_factory=time.monotonic)  # for the run's real duration in L1/L2



def _where(agent: _Agent, iteration: int) -> dict[str, Any]:
    """Where a call happened, as the truth records it (the same fields for an LLM and a tool call)."""
    s = agent.session
    return {
        "session_id": s.session_id,
        "root_session_id": s.root_session_id,
        "colony_id": s.colony_id,
        "queen_id": s.queen_id,
        "worker_id": s.worker_id,
        "agent_role": s.agent_role,
        "node_id": s.node_id,
        "execution_id": s.execution_id,
        "iteration": iteration + agent.iteration_offset,
    }

class _Writer:
    def __init__(self, hive_home: Path, *, split_worker_events: bool, canaries: bool, seed: int) -> None:
        self.hive_home = hive_home
        self.split = split_worker_events
        self.canaries = canaries
        self.rng = random.Random(seed)
        self.truth = WorkloadTruth(hive_home=hive_home, canaries=CANARIES if canaries else ())
        self._sessions_made = 0
        self._tool_calls_made = 0

    # -- small deterministic helpers --

    def hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def session_id(self) -> str:
        """``session_YYYYMMDD_HHMMSS_xxxxxxxx`` as Hive's _generate_session_id makes them (but reproducible)."""
        when = _BASE_TIME + timedelta(seconds=97 * self._sessions_made)
        self._sessions_made += 1
        return f"session_{when:%Y%m%d_%H%M%S}_{self.hex(8)}"

    def secret(self, canary: str, plain: str) -> str:
        return f"{plain} {canary}" if self.canaries else plain

    def new_bus(self, events_path: Path, iteration_offset: int = 0) -> EventBus:
        """A session's EventBus logging to ``events_path``; every publish is tallied by type.

        Tallied by wrapping ``publish`` rather than subscribing: a subscriber costs the bus a task
        per event, which would slow large workloads several-fold.
        """
        bus = EventBus()
        bus.set_session_log(events_path, iteration_offset=iteration_offset)
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
        bus: Any,
        session: SessionTruth,
        models: tuple[ModelSpec | None, ...],
        *,
        runtime_logger: RuntimeLogger | None = None,
        iteration_offset: int = 0,
    ) -> _Agent:
        """Set the trace context (as StreamRuntime.start_run does) and register the session."""
        set_trace_context(trace_id=session.trace_id, execution_id=session.trace_execution_id, stream_id=session.stream_id)
        self.truth.sessions[session.session_id] = session
        return _Agent(bus, runtime_logger, session, models, self.hex(12), iteration_offset=iteration_offset)

    def session_truth(self, sid: str, kind: str, session_dir: Path, **fields: Any) -> SessionTruth:
        """A session's truth; a queen's execution id is its session id (queen_orchestrator)."""
        role = {"worker": ROLE_WORKER, "graph": ROLE_AGENT}.get(kind, ROLE_QUEEN)
        defaults: dict[str, Any] = {
            "agent_role": role,
            "queen_id": None,
            "colony_id": None,
            "worker_id": None,
            "parent_session_id": None,
            "root_session_id": sid,
            "events_path": session_dir / "events.jsonl",
            "logs_dir": None,
            "stream_id": "queen",
            "node_id": "queen",
            "execution_id": sid,
            "trace_id": self.hex(32),
            "trace_execution_id": self.hex(32),
            "health": "idle",
        }
        return SessionTruth(session_id=sid, kind=kind, session_dir=session_dir, **(defaults | fields))

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

        text = await self.stream_reply(agent, iteration)
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
        if agent.runtime_logger is not None:
            self.log_step(agent, iteration, text, tool_logs, input_tokens, output_tokens)
        agent.input_tokens += input_tokens
        agent.output_tokens += output_tokens
        agent.iterations += 1
        self.count_llm_call(
            agent, iteration, model, (input_tokens, output_tokens, cached, cache_creation), cost, stop_reason
        )

    async def stream_reply(self, agent: _Agent, iteration: int) -> str:
        """The reasoning and text deltas of one turn, as Hive streams them; the reply's text."""
        s = agent.session
        reasoning = ""
        for part in ("Looking at the task, ", "the next step is clear."):
            reasoning += part
            await agent.bus.emit_llm_reasoning_delta(
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
            await agent.bus.emit_llm_text_delta(s.stream_id, s.node_id, part, text, execution_id=s.execution_id)
        return text

    async def graph_step(self, agent: _Agent, iteration: int) -> None:
        """One step of a graph node with no session log: Hive keeps it in L3 only (tokens, no model)."""
        tool_logs = [await self.tool_call(agent, iteration, force_error=False) for _ in range(self.rng.choice((0, 1)))]
        input_tokens, output_tokens, _, _ = self.tokens(None, iteration)
        self.log_step(agent, iteration, self.secret(CANARY_LLM_TEXT, "Step done."), tool_logs, input_tokens, output_tokens)
        agent.input_tokens += input_tokens
        agent.output_tokens += output_tokens
        agent.iterations += 1
        self.count_llm_call(
            agent, iteration, None, (input_tokens, output_tokens, 0, 0), 0.0, "tool_calls" if tool_logs else "stop"
        )

    def log_step(
        self, agent: _Agent, iteration: int, text: str, tool_logs: list[dict[str, Any]], inp: int, out: int
    ) -> None:
        assert agent.runtime_logger is not None
        agent.runtime_logger.log_step(
            node_id=agent.session.node_id,
            node_type="event_loop",
            step_index=iteration,
            llm_text=text,
            tool_calls=tool_logs,
            input_tokens=inp,
            output_tokens=out,
            # Short, so a run's calls end before the time it really took: L1's end stays its last time.
            latency_ms=self.rng.randint(1, 20),
            verdict="CONTINUE",
        )

    def count_llm_call(
        self,
        agent: _Agent,
        iteration: int,
        model: ModelSpec | None,
        tokens: tuple[int, int, int, int],
        cost: float,
        stop_reason: str,
    ) -> None:
        self.truth.llm_calls.append(
            LlmCallTruth(
                **_where(agent, iteration),
                model=model.name if model else None,
                provider=model.provider if model else None,
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                cached_tokens=tokens[2],
                cache_creation_tokens=tokens[3],
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
        if agent.bus is not None:
            await agent.bus.emit_tool_call_started(
                s.stream_id, s.node_id, tool_use_id, tool_name, tool_input, execution_id=s.execution_id
            )
            await agent.bus.emit_tool_call_completed(
                s.stream_id, s.node_id, tool_use_id, tool_name, content, is_error, execution_id=s.execution_id
            )
        self.truth.tool_calls.append(
            ToolCallTruth(
                **_where(agent, iteration),
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
            "duration_s": round(self.rng.uniform(0.001, 0.02), 3),
        }

    def tokens(self, model: ModelSpec | None, iteration: int) -> tuple[int, int, int, int]:
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

    async def finish_node(self, agent: _Agent, *, error: str | None = None) -> None:
        """The node loop ends; a graph agent's RuntimeLogger writes L2, then L1 (end_run reads L2 back)."""
        s = agent.session
        if agent.bus is not None:
            await agent.bus.emit_node_loop_completed(s.stream_id, s.node_id, agent.iterations, execution_id=s.execution_id)
        if agent.runtime_logger is None:
            return
        # Real elapsed time: L1's end (started_at + duration) is the last time Hive wrote for the run.
        elapsed_ms = int((time.monotonic() - agent.started) * 1000)
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
            latency_ms=elapsed_ms,
            exit_status="success" if error is None else "failure",
            accept_count=1 if error is None else 0,
            continue_count=max(0, agent.iterations - 1),
        )
        await agent.runtime_logger.end_run(
            status="success" if error is None else "failure",
            duration_ms=elapsed_ms,
            node_path=[s.node_id],
            execution_quality="clean" if error is None else "failed",
        )

    # -- the queen's side of a conversation --

    async def user_message(self, agent: _Agent, text: str) -> str:
        """A user message as handle_chat and the loop's drain write it: ``client_input_received``, the
        conversation part, ``client_input_committed`` with its seq. Returns the received event's
        timestamp, which is what a fork's ``before_input_at`` names."""
        s = agent.session
        seq = len(list((s.session_dir / "conversations" / "parts").glob("*.json")))
        part = s.session_dir / "conversations" / "parts" / f"{seq:010d}.json"
        _write_json(part, {"seq": seq, "role": "user", "content": text})
        correlation = self.hex(32)
        received = AgentEvent(
            type=EventType.CLIENT_INPUT_RECEIVED,
            stream_id=s.stream_id,
            node_id=s.node_id,
            execution_id=s.execution_id,
            correlation_id=correlation,
            data={"content": self.secret(CANARY_EVENT_DATA, text)},
        )
        await agent.bus.publish(received)
        await agent.bus.emit_client_input_committed(
            s.stream_id, s.node_id, s.execution_id, seq=seq, correlation_id=correlation
        )
        agent.last_message_at = received.timestamp.isoformat()
        return agent.last_message_at

    async def park(self, agent: _Agent) -> None:
        """How a queen's turn ends in 1.0.12: parked waiting for the user (idle), or stalled by a bug."""
        s = agent.session
        await self.finish_node(agent)
        if s.health == "stalled":
            await agent.bus.emit_node_stalled(
                s.stream_id, s.node_id, "Consecutive similar responses detected", s.execution_id
            )
            await agent.bus.emit_stream_inactive(s.stream_id, s.node_id, 95.0, 90.0, s.execution_id)
            return
        await agent.bus.emit_client_input_requested(
            s.stream_id, s.node_id, execution_id=s.execution_id, park_reason="turn_done"
        )
        await self.publish(
            agent,
            EventType.LOOP_STATE_CHANGED,
            {"activity": "awaiting_user", "park_reason": "turn_done", "interrupt_cause": None, "questions": None},
            node_id=s.node_id,
            execution_id=s.execution_id,
        )

    async def open_queen(self, agent: _Agent, phase: str, message: str) -> None:
        """The queen starts: ``create_queen`` stamps her phase into meta.json with QueenPhaseState, and
        the workload has it announce the phase on the bus too (as a switch does), so both are read."""
        s = agent.session
        phase_state = _queen_phase_state(phase, agent.bus, s.session_dir / "meta.json")
        phase_state.persist_phase()
        self.truth.sessions[s.session_id] = dataclasses.replace(self.truth.sessions[s.session_id], phase=phase)
        await self.user_message(agent, message)
        await agent.bus.emit_execution_started(s.stream_id, s.execution_id, {"message": "queen"})
        await phase_state._emit_phase_event()
        await agent.bus.emit_node_loop_started(s.stream_id, s.node_id, execution_id=s.execution_id, max_iterations=0)

    # -- sessions --

    async def dm_session(self, queen_id: str, turns: int, *, with_extras: bool, health: str) -> _Agent:
        """A queen's DM session, ``queen_session_dir(q, sid)``; it stays open (its bus too) so a colony
        can be created from it. Close it with :meth:`close_queen`."""
        sid = self.session_id()
        session_dir = hive_config.queen_session_dir(queen_id, sid)
        _write_json(session_dir / "meta.json", {"queen_id": queen_id, "created_at": _BASE_TIME.timestamp()})
        session = self.session_truth(sid, "dm", session_dir, queen_id=queen_id, health=health)
        agent = self.new_agent(self.new_bus(session_dir / "events.jsonl"), session, (CLAUDE, CLAUDE, CLAUDE, GPT))
        await self.open_queen(agent, "independent", "Plan the week")
        if with_extras:
            await self.trigger_events(agent)
            await self.publish(
                agent,
                EventType.CUSTOM,
                {"kind": "workload.note", "note": self.secret(CANARY_EVENT_DATA, "custom payload")},
                node_id=session.node_id,
            )
        for iteration in range(turns):
            await self.turn(agent, iteration)
        return agent

    async def close_queen(self, agent: _Agent) -> None:
        await self.park(agent)
        agent.bus.close_session_log()

    async def fork(self, origin: SessionTruth, turns: int, *, before_input_at: str | None, health: str) -> _Agent:
        """``fork_session_dir`` of a DM session, then the fork opened cold and run: a user message,
        half the turns, a second message, the rest. Left open like a DM session."""
        sid = self.session_id()
        session_dir = fork_session_dir(origin.session_dir, sid, before_input_at=before_input_at)
        events_path = session_dir / "events.jsonl"
        offset = scan_iteration_offset(events_path)
        session = self.session_truth(
            sid,
            "fork",
            session_dir,
            queen_id=origin.queen_id,
            parent_session_id=origin.session_id,
            root_session_id=origin.root_session_id,
            health=health,
        )
        agent = self.new_agent(self.new_bus(events_path, offset), session, (GPT, CLAUDE), iteration_offset=offset)
        await self.open_queen(agent, "independent", "Try it another way")
        half = (turns + 1) // 2
        for iteration in range(half):
            await self.turn(agent, iteration)
        await self.user_message(agent, "And the numbers for March?")
        for iteration in range(half, turns):
            await self.turn(agent, iteration)
        return agent

    async def create_colony(self, source: _Agent, colony: str, turns: int, workers: int) -> None:
        """Create-colony from a live DM (or forked) session, then run the colony session and its workers."""
        src = source.session
        queen = src.session_dir.parent.parent.name
        sid = self.session_id()
        session_dir = hive_config.colony_queen_session_dir(colony, queen, sid)
        _copy_into_colony(src.session_dir, session_dir, src.session_id, colony, queen)
        _colony_bookkeeping(colony, queen, sid, src.session_dir, src.session_id)
        spawned = dataclasses.replace(self.truth.sessions[src.session_id], spawned_colony_id=colony)
        self.truth.sessions[src.session_id] = spawned
        await self.publish(
            source,
            EventType.COLONY_CREATED,
            {
                "colony_id": colony,
                "colony_path": str(hive_config.colony_dir(colony)),
                "queen_session_id": sid,
                "is_new": True,
                "compaction_status": "in_progress",
            },
        )
        events_path = session_dir / "events.jsonl"
        offset = scan_iteration_offset(events_path)
        session = self.session_truth(
            sid,
            "colony",
            session_dir,
            queen_id=queen,
            colony_id=colony,
            parent_session_id=src.session_id,
            root_session_id=src.root_session_id,
            health="idle",
        )
        bus = self.new_bus(events_path, offset)
        if self.split:
            bus.set_worker_log_resolver(_worker_log_resolver(hive_config.colony_workers_dir(colony)))
        agent = self.new_agent(bus, session, (CLAUDE,), iteration_offset=offset)
        await self.colony_run(agent, turns, workers)
        await self.close_queen(agent)

    async def colony_run(self, queen: _Agent, turns: int, workers: int) -> None:
        """The colony queen's turns around the workers she spawns on the same bus."""
        await self.open_queen(queen, "colony", "Run the research")
        first_half = (turns + 1) // 2
        for iteration in range(first_half):
            await self.turn(queen, iteration)
        await self.task_created(queen, "t-1", "Fan out the research")
        # Workers run in their own tasks so each gets its own trace context, as in the runtime.
        for index in range(workers):
            fails = workers >= 2 and index == workers - 1
            await asyncio.create_task(self.worker(queen, index, workers, turns, fails=fails))
        for iteration in range(first_half, turns):
            await self.turn(queen, iteration)
        await self.task_updated(queen, "t-1", "completed")

    async def graph_agent(self, name: str, turns: int) -> None:
        """A graph agent loaded by AgentLoader: its runs log L1-L3 under its storage and nothing else.

        Three runs: a session-backed one (Orchestrator passes the execution id when its storage is
        ``<storage>/sessions/<id>``), one of a secondary graph (AgentHost gives it
        ``<storage>/graphs/<g>/runtime_logs``), and a legacy one (no session id: ``runs/<run_id>/``).
        """
        storage = agent_storage(self.hive_home, name)
        stores = (
            (RuntimeLogStore(storage / "runtime_logs"), True),
            (RuntimeLogStore(storage / "graphs" / f"{name}_digest" / "runtime_logs"), True),
            (RuntimeLogStore(storage / "runtime_logs"), False),
        )
        for store, session_backed in stores:
            await asyncio.create_task(self.graph_run(name, store, session_backed, turns))

    async def graph_run(self, name: str, store: RuntimeLogStore, session_backed: bool, turns: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the store warns on every legacy runs/ write
            await self._graph_run(name, store, session_backed, turns)

    async def _graph_run(self, name: str, store: RuntimeLogStore, session_backed: bool, turns: int) -> None:
        runtime_logger = RuntimeLogger(store=store, agent_id=name)
        trace_id, trace_execution_id = self.hex(32), self.hex(32)
        set_trace_context(trace_id=trace_id, execution_id=trace_execution_id, stream_id="default")
        # ExecutionManager names a run's session with its SessionStore (the clock and uuid4, as Hive does).
        session_id = SessionStore(store._base_path.parent).generate_session_id() if session_backed else ""
        run_id = runtime_logger.start_run(goal_id=f"{name}-goal", session_id=session_id)
        logs_dir = store._session_logs_dir(run_id) if session_backed else store._legacy_run_dir(run_id)
        session = self.session_truth(
            run_id,
            "graph",
            logs_dir,
            events_path=None,
            logs_dir=logs_dir,
            stream_id="default",
            node_id="research",
            execution_id=run_id,
            trace_id=trace_id,
            trace_execution_id=trace_execution_id,
            health="done",
        )
        agent = self.new_agent(None, session, (None,), runtime_logger=runtime_logger)
        for iteration in range(turns):
            await self.graph_step(agent, iteration)
        await self.finish_node(agent)

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

    def spawn_worker(self, queen: _Agent, index: int, batch_size: int, *, fails: bool) -> tuple[_Agent, str]:
        """The worker's directory, meta.json and session, on the colony's scoped bus; the agent and its task."""
        q = queen.session
        colony = q.colony_id or ""
        queen_session_id = q.session_id
        wid = self.session_id()
        worker_dir = hive_config.colony_worker_session_dir(colony, wid)
        worker_dir.mkdir(parents=True, exist_ok=True)
        task = self.secret(CANARY_EVENT_DATA, f"Research segment {index + 1}")
        _write_worker_meta(worker_dir, wid, queen_session_id, q.queen_id or "", colony, task, index, batch_size)
        session = self.session_truth(
            wid,
            "worker",
            worker_dir,
            queen_id=q.queen_id,
            colony_id=colony,
            worker_id=wid,
            parent_session_id=queen_session_id,
            root_session_id=q.root_session_id,
            events_path=worker_dir / "events.jsonl" if self.split else None,
            stream_id=f"worker:{wid}",
            node_id=wid,  # a spawned worker's agent id, node and execution id are its session id
            execution_id=wid,
            health="failed" if fails else "done",
        )
        bus = _ScopedBus(queen.bus, queen_session_id)
        # The session bus raises every event's iteration, workers' too, by its iteration_offset.
        models = (_WORKER_MODELS[index % len(_WORKER_MODELS)],)
        return self.new_agent(bus, session, models, iteration_offset=queen.iteration_offset), task

    async def worker(self, queen: _Agent, index: int, batch_size: int, turns: int, *, fails: bool) -> None:
        """A worker ColonyRuntime spawns: ``colony_workers_dir(c)/<wid>`` with its meta.json, events
        published through the colony's scoped bus."""
        agent, task = self.spawn_worker(queen, index, batch_size, fails=fails)
        s, bus = agent.session, agent.bus
        colony, queen_session_id, wid = s.colony_id or "", s.parent_session_id or "", s.session_id
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
        await self.finish_node(agent, error=error)
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


async def _write(hive_home: Path, shape: _Shape, *, split_worker_events: bool, canaries: bool, seed: int) -> WorkloadTruth:
    """Graph agents, DM sessions (the last of two or more ends stalled), forks of the first (a whole
    copy, then a fork of the fork cut before its second message), colonies created from the first fork
    (or a DM session), each running its workers."""
    writer = _Writer(hive_home, split_worker_events=split_worker_events, canaries=canaries, seed=seed)
    turns = shape.turns
    for g in range(shape.graph_agents):  # first: the newest session of a home is a queen's or a worker's
        await asyncio.create_task(writer.graph_agent(_numbered(_AGENT_NAMES, g), turns))
    queen_ids = [_numbered(_QUEEN_IDS, i) for i in range(shape.queens)]
    dms = []
    for i, queen_id in enumerate(queen_ids):
        stalled = shape.queens >= 2 and i == shape.queens - 1
        dm = await asyncio.create_task(
            writer.dm_session(queen_id, turns, with_extras=i == 0, health="stalled" if stalled else "idle")
        )
        dms.append(dm)
    sources = list(dms)
    # Forks copy a closed session's log; a DM that is the source of a colony stays open until then.
    colony_sources = [dms[c % len(dms)] for c in range(shape.colonies)]
    fork_origin = dms[0]
    if shape.forks:
        await writer.close_queen(fork_origin)
        fork_origin = await asyncio.create_task(writer.fork(fork_origin.session, turns, before_input_at=None, health="idle"))
        sources.append(fork_origin)
        if colony_sources:
            colony_sources[0] = fork_origin
    for c, source in enumerate(colony_sources):
        colony = _numbered(_COLONY_NAMES, c)
        await asyncio.create_task(writer.create_colony(source, colony, turns, shape.workers_per_colony))
    for agent in sources:
        if agent.bus is not None and agent.bus._queen_log is not None:
            await writer.close_queen(agent)
    previous = fork_origin
    for _ in range(1, shape.forks):
        cut = previous.last_message_at
        previous = await asyncio.create_task(writer.fork(previous.session, turns, before_input_at=cut, health="idle"))
        await writer.close_queen(previous)
    return writer.truth


@dataclass(frozen=True, slots=True)
class _Shape:
    queens: int
    colonies: int
    workers_per_colony: int
    turns: int
    forks: int
    graph_agents: int


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
    forks: int = 2,
    graph_agents: int = 1,
) -> WorkloadTruth:
    """Write a workload into ``hive_home`` (created if missing) and return its ground truth.

    ``queens`` DM sessions (one per queen; with two or more the last ends stalled, the others idle);
    ``forks`` forks in a chain from the first DM session (the first a whole copy, each next one cut
    before its origin's second user message); ``colonies`` colonies created from the first fork (from
    the DM sessions when there is none), each spawning ``workers_per_colony`` workers (the last one
    fails when there are two or more); ``graph_agents`` graph agents with three runs each (L1-L3
    only). Every agent runs ``turns_per_session`` LLM turns. Must not be called from a running event loop.
    """
    if min(queens - 1, colonies, workers_per_colony, turns_per_session - 1, forks, graph_agents) < 0:
        raise ValueError(
            "need queens >= 1, turns_per_session >= 1 and colonies, workers_per_colony, forks, graph_agents >= 0"
        )
    hive_home = Path(hive_home)
    hive_home.mkdir(parents=True, exist_ok=True)
    shape = _Shape(queens, colonies, workers_per_colony, turns_per_session, forks, graph_agents)
    with hive_home_paths(hive_home):
        return asyncio.run(_write(hive_home, shape, split_worker_events=split_worker_events, canaries=canaries, seed=seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.workload", description="Write a scripted Hive workload into DIR."
    )
    parser.add_argument("dir", type=Path, help="the HIVE_HOME to write into")
    parser.add_argument("--queens", type=int, default=2)
    parser.add_argument("--colonies", type=int, default=1)
    parser.add_argument("--workers", type=int, default=3, help="workers per colony")
    parser.add_argument("--turns", type=int, default=6, help="LLM turns per session")
    parser.add_argument("--forks", type=int, default=2, help="forks in a chain from the first DM session")
    parser.add_argument("--graph-agents", type=int, default=1, help="graph agents (L1-L3 run logs only)")
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
        forks=args.forks,
        graph_agents=args.graph_agents,
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
