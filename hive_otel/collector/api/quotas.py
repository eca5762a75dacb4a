"""U8 quotas: budget policies, spend from the rollups, decisions, and the crossings they make.

A tenant's policy is a list of budgets. Each counts cost (runtime + estimated USD) or tokens
(input + output) over the current UTC day or month, for one scope: ``global`` (every tenant; only
in the policy of tenant ``*``), ``tenant``, or one ``user``, ``agent_role`` (queen|worker),
``colony`` or ``model``. Below ``alert_at`` times the limit it allows, from there it alerts, and from
``hard_at`` times the limit it takes its ``action``: ``degrade`` (switch to ``degrade_to``), ``throttle`` or
``block``. A call matched by several budgets gets the most restrictive decision of them all
(allow < alert < degrade < throttle < block).

Spend is read from ``usage_daily`` (exact under replays), so a decision follows the bill.
:class:`QuotaEvaluator` re-evaluates a tenant shortly after each ingest of its spans (and
periodically, for day and month boundaries) and records every change of a budget's decision in
``quota_crossings``, publishing it on the live streams. The statements are in ``sql/quota_*.sql`` beside this module; the
spend columns are built per budget from the policy (``_spend_expression``) and filled into ``quota_spend``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hive_otel.collector.api.broadcast import ALL_TENANTS, Broadcaster
from hive_otel.collector.queries.status import iso_time
from hive_otel.collector.sql_files import template
from hive_otel.collector.store.transport import sql_string

__all__ = [
    "DECISIONS",
    "Budget",
    "BudgetStatus",
    "QuotaBook",
    "QuotaEvaluator",
    "QuotaPolicy",
    "most_restrictive",
]

logger = logging.getLogger(__name__)

DECISIONS = ("allow", "alert", "degrade", "throttle", "block")
"""Decisions from least to most restrictive."""
_RANK = {d: i for i, d in enumerate(DECISIONS)}

Scope = Literal["global", "tenant", "user", "agent_role", "colony", "model"]
_SCOPES_WITH_VALUE = ("user", "agent_role", "colony", "model")
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def most_restrictive(decisions: list[str]) -> str:
    return max(decisions, key=_RANK.__getitem__, default="allow")


class Budget(BaseModel):
    """One budget of a policy."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID_PATTERN, description="unique within the policy")
    scope: Scope = Field(description="what the budget counts and applies to")
    value: str | None = Field(
        default=None, min_length=1, max_length=256,
        description="the user, agent role (queen|worker), colony or model; absent for global and tenant",
    )  # fmt: skip
    metric: Literal["cost_usd", "tokens"] = Field(description="cost_usd: runtime + estimated USD; tokens: input + output")
    period: Literal["daily", "monthly"] = Field(description="the current UTC day or month")
    limit: float = Field(gt=0, le=1e15, description="spend that is 100% of the budget")
    alert_at: float = Field(default=0.8, gt=0, le=10, description="fraction of the limit from which it alerts")
    hard_at: float = Field(default=1.0, gt=0, le=10, description="fraction of the limit from which it takes its action")
    action: Literal["degrade", "throttle", "block"] = Field(default="block", description="what happens past hard_at")
    degrade_to: str | None = Field(
        default=None, min_length=1, max_length=256, description="the cheaper model to switch to (action degrade)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Budget:
        if (self.scope in _SCOPES_WITH_VALUE) != (self.value is not None):
            raise ValueError(f"scope {self.scope!r} {'needs' if self.scope in _SCOPES_WITH_VALUE else 'takes no'} value")
        if self.scope == "agent_role" and self.value not in ("queen", "worker"):
            raise ValueError("an agent_role budget's value is queen or worker")
        if self.alert_at > self.hard_at:
            raise ValueError("alert_at must not be above hard_at")
        if (self.action == "degrade") != (self.degrade_to is not None):
            raise ValueError("degrade_to is required with action degrade, and only then")
        return self


class QuotaPolicy(BaseModel):
    """Every budget of one tenant (``*``: the global budgets); a POST replaces the whole policy."""

    model_config = ConfigDict(extra="forbid")

    budgets: list[Budget] = Field(max_length=200)

    @model_validator(mode="after")
    def _unique(self) -> QuotaPolicy:
        ids = [b.id for b in self.budgets]
        if len(ids) != len(set(ids)):
            raise ValueError("budget ids must be unique")
        return self


class BudgetStatus(Budget):
    """A budget with its current spend and decision."""

    tenant: str = Field(description="the policy it belongs to (* for a global budget)")
    spend: float
    ratio: float = Field(description="spend / limit")
    decision: Literal["allow", "alert", "degrade", "throttle", "block"]
    period_start: str = Field(description="first day of the current period (UTC)")


def decision_for(budget: Budget, spend: float) -> str:
    ratio = spend / budget.limit
    if ratio >= budget.hard_at:
        return budget.action
    return "alert" if ratio >= budget.alert_at else "allow"


def period_start(period: str, today: date) -> date:
    return today if period == "daily" else today.replace(day=1)


def _spend_expression(budget: Budget, today: date) -> str:
    measure = "cost_usd + cost_estimated_usd" if budget.metric == "cost_usd" else "input_tokens + output_tokens"
    conditions = [f"day >= toDate({sql_string(period_start(budget.period, today).isoformat())})"]
    if budget.scope in _SCOPES_WITH_VALUE:
        conditions.append(f"{budget.scope} = {sql_string(str(budget.value))}")
    return f"toFloat64(sumIf({measure}, {' AND '.join(conditions)}))"


class QuotaBook:
    """Policies and crossings in the store, and spend from its rollups."""

    def __init__(self, store: Any, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock

    # -- policies ----------------------------------------------------------------------------------
    def policies(self) -> dict[str, QuotaPolicy]:
        """The current policy of every tenant that has one (deleted ones excluded)."""
        _, rows = self._store.query(template(__package__, "quota_policies"))
        return {str(t): QuotaPolicy.model_validate_json(p) for t, p, deleted in rows if not int(deleted)}

    def write(self, tenant: str, policy: QuotaPolicy | None) -> None:
        """Store ``policy`` as ``tenant``'s current one (None deletes it)."""
        document = policy.model_dump_json(exclude_none=True) if policy is not None else json.dumps({"budgets": []})
        sql = template(__package__, "quota_policy_insert").format(
            tenant=sql_string(tenant), version=time.time_ns(), deleted=int(policy is None), policy=sql_string(document)
        )
        self._store.execute(sql)

    # -- spend and decisions --------------------------------------------------------------------------
    def evaluate(self, tenant: str, policies: dict[str, QuotaPolicy]) -> list[BudgetStatus]:
        """Spend and decision of every budget that applies to ``tenant`` (its own and the global ones).
        For ``tenant == "*"`` only the global budgets."""
        owned = [(tenant, b) for b in policies.get(tenant, QuotaPolicy(budgets=[])).budgets]
        if tenant != ALL_TENANTS:
            owned += [(ALL_TENANTS, b) for b in policies.get(ALL_TENANTS, QuotaPolicy(budgets=[])).budgets]
        if not owned:
            return []
        today = self._clock().date()
        first = min(period_start(b.period, today) for _, b in owned)
        statuses: list[BudgetStatus] = []
        for owner in {o for o, _ in owned}:
            budgets = [b for o, b in owned if o == owner]
            where = f"day >= toDate({sql_string(first.isoformat())})"
            if owner != ALL_TENANTS:
                where += f" AND tenant = {sql_string(owner)}"
            columns = ", ".join(_spend_expression(b, today) for b in budgets)
            _, rows = self._store.query(template(__package__, "quota_spend").format(columns=columns, where=where))
            spends = rows[0] if rows else [0.0] * len(budgets)
            for budget, spend in zip(budgets, spends, strict=True):
                value = round(float(spend or 0.0), 10)
                start = period_start(budget.period, today).isoformat()
                ratio = round(value / budget.limit, 6)
                decision = decision_for(budget, value)
                status = BudgetStatus(
                    **budget.model_dump(), tenant=owner, spend=value, ratio=ratio, decision=decision, period_start=start
                )
                statuses.append(status)
        return statuses

    # -- crossings ----------------------------------------------------------------------------------
    def record(self, crossings: list[dict[str, Any]]) -> None:
        rows = ", ".join(
            f"({sql_string(c['tenant'])}, {sql_string(c['budget_id'])}, now64(3, 'UTC'), "
            f"toDate({sql_string(c['period_start'])}), "
            f"{sql_string(c['scope'])}, {sql_string(c['value'] or '')}, {sql_string(c['metric'])}, "
            f"{sql_string(c['period'])}, {sql_string(c['previous'])}, {sql_string(c['decision'])}, "
            f"{float(c['spend'])}, {float(c['limit'])})"
            for c in crossings
        )
        self._store.execute(template(__package__, "quota_crossing_insert").format(rows=rows))

    def last_decisions(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(tenant, budget id) → (decision, period start) of each budget's latest crossing."""
        _, rows = self._store.query(template(__package__, "quota_last_decisions"))
        return {(str(t), str(b)): (str(d), str(p)) for t, b, d, p in rows}

    def crossings(self, tenant: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """Latest crossings first: of ``tenant`` and of the global budgets (every tenant's for None)."""
        where = "" if tenant is None else f" WHERE tenant IN ({sql_string(tenant)}, {sql_string(ALL_TENANTS)})"
        sql = template(__package__, "quota_crossings").format(where=where, limit=int(limit))
        columns, rows = self._store.query(sql)
        out = []
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            record["at"] = iso_time(record["at"])
            record["value"] = record["value"] or None
            record["spend"], record["limit"] = float(record["spend"]), float(record["limit"])
            out.append(record)
        return out


class QuotaEvaluator:
    """Re-evaluates budgets as data arrives and records (and streams) each decision change.

    :meth:`notify` is cheap and may be called from any ingest thread: with no policy anywhere it
    does nothing; otherwise it marks the tenant and wakes the worker thread, which evaluates each
    marked tenant at most every ``min_interval_s`` and every tenant with budgets every
    ``interval_s`` (a new day or month resets spend without any ingest).
    """

    def __init__(
        self,
        book: QuotaBook,
        broadcaster: Broadcaster | None,
        *,
        interval_s: float = 30.0,
        min_interval_s: float = 0.2,
    ) -> None:
        self.book = book
        self._broadcaster = broadcaster
        self._interval_s = interval_s
        self._min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._evaluating = threading.Lock()  # one evaluation at a time: each crossing recorded once
        self._policies: dict[str, QuotaPolicy] | None = None  # None until loaded
        self._decisions: dict[tuple[str, str], tuple[str, str]] | None = None
        self._dirty: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters = {"evaluations": 0, "crossings": 0, "errors": 0}

    # -- policies -----------------------------------------------------------------------------------
    def policies(self) -> dict[str, QuotaPolicy]:
        with self._lock:
            if self._policies is None:
                self._policies = self.book.policies()
            return dict(self._policies)

    def set_policy(self, tenant: str, policy: QuotaPolicy | None) -> None:
        self.book.write(tenant, policy)
        with self._lock:
            if self._policies is not None:
                if policy is None or not policy.budgets:
                    self._policies.pop(tenant, None)
                else:
                    self._policies[tenant] = policy
        self.notify(tenant)

    # -- triggering ----------------------------------------------------------------------------------
    def notify(self, tenant: str) -> None:
        policies = self._policies
        if policies is not None and not policies:
            return  # no budget anywhere: ingest pays nothing
        with self._lock:
            self._dirty.add(tenant)
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hive-otel-quotas", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        next_sweep = time.monotonic() + self._interval_s
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_sweep - time.monotonic()))
            if self._stop.is_set():
                return
            self._wake.clear()
            with self._lock:
                tenants, self._dirty = self._dirty, set()
            if time.monotonic() >= next_sweep:
                tenants |= set(self._policies or ())
                next_sweep = time.monotonic() + self._interval_s
            try:
                self.evaluate_now(tenants)
            except Exception:  # a store hiccup must not end quota evaluation
                self.counters["errors"] += 1
                logger.exception("quota evaluation failed")
            self._stop.wait(self._min_interval_s)

    def evaluate_now(self, tenants: set[str]) -> list[dict[str, Any]]:
        """Evaluate ``tenants`` (and the global budgets), record and publish the crossings. Callable
        from any thread: evaluations run one at a time, so two callers never record the same crossing."""
        with self._evaluating:
            return self._evaluate(tenants)

    def _evaluate(self, tenants: set[str]) -> list[dict[str, Any]]:
        policies = self.policies()
        if not policies:
            return []
        if self._decisions is None:
            self._decisions = self.book.last_decisions()
        statuses: dict[tuple[str, str], BudgetStatus] = {}
        for tenant in tenants | ({ALL_TENANTS} if ALL_TENANTS in policies else set()):
            for status in self.book.evaluate(tenant, policies):
                statuses[(status.tenant, status.id)] = status
        self.counters["evaluations"] += 1
        crossings, decided = [], {}
        for key, status in statuses.items():
            previous, previous_period = self._decisions.get(key, ("allow", status.period_start))
            if previous_period != status.period_start:
                previous = "allow"  # a new day or month starts from nothing spent
            if status.decision == previous and previous_period == status.period_start:
                continue
            decided[key] = (status.decision, status.period_start)
            if status.decision == previous:
                continue
            crossings.append(
                {"tenant": status.tenant, "budget_id": status.id, "period_start": status.period_start,
                 "scope": status.scope, "value": status.value, "metric": status.metric, "period": status.period,
                 "previous": previous, "decision": status.decision, "spend": status.spend, "limit": status.limit}
            )  # fmt: skip
        if crossings:
            self.book.record(crossings)  # if this fails, the decisions stay as they were: the next evaluation records them
        self._decisions.update(decided)
        if crossings:
            self.counters["crossings"] += len(crossings)
            if self._broadcaster is not None:
                now = iso_time(datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
                for crossing in crossings:
                    item = {"type": "quota_crossed", "at": now, **crossing}
                    self._broadcaster.publish(crossing["tenant"], [("quota", item)])
        return crossings
