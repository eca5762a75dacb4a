"""Response shapes of the API; FastAPI turns them into the OpenAPI document at ``/openapi.json``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from hive_otel.collector.api.quotas import Budget, BudgetStatus, QuotaPolicy

__all__ = [
    "Budget",
    "BudgetDecision",
    "BudgetStatus",
    "ColonyUsage",
    "ColonyWorkers",
    "Crossing",
    "EntryPoint",
    "ErrorMessage",
    "EventBusStats",
    "EventsHistory",
    "HealthRollup",
    "HiveEvent",
    "PhaseChange",
    "QuotaDecisions",
    "QuotaPolicy",
    "QuotaStatus",
    "SessionDetail",
    "SessionHealthView",
    "SessionStats",
    "SessionStatus",
    "SessionTree",
    "SessionUsage",
    "Task",
    "Trigger",
    "UsageReport",
    "UsageTotals",
]

Health = Literal["working", "idle", "stalled", "done", "failed"]
Decision = Literal["allow", "alert", "degrade", "throttle", "block"]


class ErrorMessage(BaseModel):
    detail: str


class UsageTotals(BaseModel):
    llm_calls: int
    input_tokens: int = Field(description="includes cached tokens")
    output_tokens: int
    cached_tokens: int
    cache_creation_tokens: int
    cost_usd: float = Field(description="priced by the runtime")
    cost_estimated_usd: float = Field(description="estimated by the collector for calls the runtime did not price")
    unpriced_calls: int
    tool_calls: int
    tool_errors: int


class UsageReport(BaseModel):
    """The shape of ``hive-otel usage --format json`` (the same query layer)."""

    group_by: list[str]
    since: str | None
    until: str | None
    rows: list[dict[str, Any]] = Field(description="the group keys, then the UsageTotals measures")
    totals: UsageTotals


class SessionStatus(BaseModel):
    """One row of the ``session_health`` view: identity, lifecycle, S1/S3/S4/S7 and usage totals."""

    tenant: str
    session: str
    root_session: str
    parent_session: str
    queen: str
    colony: str
    worker: str
    agent_role: str
    user: str
    lifecycle: Literal["active", "done", "failed"]
    phase: str = Field(description="the queen's current phase (S1)")
    health: Health = Field(description="idle is by design (awaiting the user), stalled is by bug (S4)")
    stall_score: float = Field(ge=0, le=1)
    stall_signals: list[str] = Field(description="stall events with no progress or deliberate park since")
    waiting: bool = Field(description="parked awaiting the user, or between executions")
    stream_state: str = Field(description="idle | thinking | typing | tool_calling (S3)")
    loop_activity: str
    park_reason: str
    interrupt_cause: str
    started_at: str | None
    ended_at: str | None
    last_seen_at: str | None = Field(description="latest record of any kind, heartbeats included (S7)")
    last_seen_s: float = Field(ge=0, description="seconds since last_seen_at")
    last_heartbeat_at: str | None
    last_progress_at: str | None
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    cost_estimated_usd: float
    tool_calls: int
    tool_errors: int


class HealthRollup(BaseModel):
    total: int
    by_health: dict[str, int]
    in_flight: int = Field(description="sessions not yet ended")
    max_stall_score: float


class PhaseChange(BaseModel):
    phase: str
    at: str | None


class Task(BaseModel):
    task_id: str
    status: str
    blocks: list[str]
    blocked_by: list[str]
    created_at: str | None
    updated_at: str | None


class Trigger(BaseModel):
    trigger_id: str
    trigger_type: str
    state: Literal["active", "inactive", "available", "removed", "unknown"]
    next_fire_at: str | None = Field(description="the next wake Hive announced (S8)")
    last_fired_at: str | None
    fires_seen: int
    updated_at: str | None


class EntryPoint(BaseModel):
    """One of Hive's ``entry_points`` (a session's triggers); names and task texts never leave the client."""

    id: str
    trigger_type: str
    next_fire_at: int | None = Field(description="epoch milliseconds of the next wake Hive announced")
    fire_count: int
    last_fired_at: int | None = Field(description="epoch milliseconds of the last fire seen")


class SessionDetail(BaseModel):
    """``GET /api/sessions/{id}``: Hive's own fields (``framework/server/routes_sessions.py``), then the right rail."""

    session_id: str
    colony_id: str | None = Field(description="the colony the session loaded (worker_colony_loaded), else its own")
    has_worker: bool = Field(description="a colony is loaded (colony_id is set)")
    loaded_at: float | None = Field(description="epoch seconds of the session's first record")
    uptime_seconds: float | None = Field(description="until now, or until the session ended")
    queen_phase: str | None = Field(description="the latest phase Hive sent (queen_phase_changed), as sent")
    queen_id: str | None = Field(description="queen_identity_selected, else the queen the session belongs to")
    queen_name: str | None = Field(description="the queen's display name (queen_identity_selected)")
    queen_model: str | None = Field(description="the model of the queen's latest LLM call")
    colony_spawned: bool
    spawned_colony_id: str | None = Field(description="the colony this session created (colony_created)")
    entry_points: list[EntryPoint]
    status: SessionStatus
    uptime_s: float | None
    phase_history: list[PhaseChange]
    tasks: list[Task]
    open_task_count: int
    triggers: list[Trigger]
    next_wake_at: str | None
    in_flight_workers: int


class EventBusStats(BaseModel):
    total_events: int = Field(description="durable events stored for the session (never deltas)")
    events_by_type: dict[str, int]


class SessionStats(BaseModel):
    """``GET /api/sessions/{id}/stats``: Hive's colony statistics, from the store, plus usage."""

    session_id: str
    running: bool = Field(description="the session has not ended")
    colony_id: str | None
    active_workers: int = Field(description="sessions it spawned that have not ended")
    total_workers: int
    triggers: int = Field(description="triggers not removed")
    event_bus: EventBusStats
    usage: UsageTotals


class HiveEvent(BaseModel):
    """One durable event in Hive's ``AgentEvent.to_dict`` shape; ``data`` holds what the policy let out."""

    type: str
    stream_id: str | None
    node_id: str | None
    execution_id: str | None
    data: dict[str, str]
    timestamp: str | None
    seq: int = Field(description="1-based position among the session's events, as Hive's history rewrites it")
    event_seq: int | None = Field(description="Hive's own sequence number of the event, when it had one")


class EventsHistory(BaseModel):
    """``GET /api/sessions/{id}/events/history``: Hive's paged shape, newest page first."""

    events: list[HiveEvent]
    session_id: str
    total: int
    returned: int
    truncated: bool
    limit: int
    start_index: int
    start_offset: int = Field(description="pass as before_offset for the next older page; 0: none left")
    has_more_older: bool


class SessionHealthView(BaseModel):
    """``GET /api/sessions/{id}/health``."""

    session: str
    health: Health
    lifecycle: str
    stall_score: float
    stall_signals: list[str]
    waiting: bool
    loop_activity: str
    park_reason: str
    stream_state: str
    last_event_at: str | None
    last_seen_s: float
    last_heartbeat_at: str | None
    last_progress_at: str | None
    in_flight: HealthRollup = Field(description="the sessions this one spawned (its workers)")


class ColonyNode(BaseModel):
    colony: str
    health: HealthRollup
    workers: list[SessionStatus]


class SessionTree(BaseModel):
    """``GET /api/sessions/{id}/tree``: queen → colonies → workers (S5)."""

    root_session: str
    queen: SessionStatus | None = Field(description="None when the root session has not reported itself")
    colonies: list[ColonyNode]


class ColonyWorkers(BaseModel):
    """``GET /api/colonies/{id}/workers`` (S6)."""

    colony: str
    health: HealthRollup
    workers: list[SessionStatus]


class Latency(BaseModel):
    llm_calls_timed: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None


class SessionUsage(BaseModel):
    session: str
    scope: Literal["session", "tree"] = Field(description="tree: the session and every session under it")
    usage: UsageTotals
    latency: Latency
    wall_clock_s: float | None


class ColonyUsage(BaseModel):
    colony: str
    report: UsageReport


class Crossing(BaseModel):
    tenant: str
    budget_id: str
    at: str | None
    period_start: str
    scope: str
    value: str | None
    metric: str
    period: str
    previous: Decision
    decision: Decision
    spend: float
    limit: float


class QuotaStatus(BaseModel):
    """``GET /api/quotas/{tenant}``: the policy, each budget's spend and decision, recent crossings."""

    tenant: str
    policy: QuotaPolicy
    budgets: list[BudgetStatus] = Field(description="this tenant's budgets and the global ones")
    decision: Decision = Field(description="most restrictive of the tenant-wide budgets (global, tenant)")
    crossings: list[Crossing]


class BudgetDecision(BaseModel):
    id: str
    tenant: str
    scope: str
    value: str | None
    metric: str
    period: str
    decision: Decision
    degrade_to: str | None
    spend: float
    limit: float


class QuotaDecisions(BaseModel):
    """``GET /api/quotas/{tenant}/decisions``: what ``hive_otel.client.quota`` caches on the client."""

    tenant: str
    evaluated_at: str
    refresh_s: float
    budgets: list[BudgetDecision]
