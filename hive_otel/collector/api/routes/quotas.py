"""Quota routes: set, read and remove a tenant's budgets, and the decisions ``hive_otel.client.quota``
caches (``/api/quotas/@me/decisions``: the caller's own tenant's). A tenant token reads its own tenant
only and never what the other tenants spent."""

# No "from __future__ import annotations": FastAPI reads the route signatures.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response

from hive_otel.collector.api import models as M
from hive_otel.collector.api.broadcast import ALL_TENANTS
from hive_otel.collector.api.quotas import Budget, BudgetStatus, QuotaEvaluator, QuotaPolicy, most_restrictive
from hive_otel.collector.api.routes._common import ERRORS, CallerDep
from hive_otel.collector.auth.principal import Principal
from hive_otel.collector.auth.tokens import TENANT_PATTERN

router = APIRouter(tags=["quotas"])

_QUOTA_TENANT = rf"^(\*|{TENANT_PATTERN[1:-1]})$"
CALLERS_TENANT = "@me"
"""In a quota path instead of a tenant: the caller's own (a tenant name cannot start with "@")."""
QuotaTenant = Annotated[str, Path(pattern=_QUOTA_TENANT, description="a tenant, or * for the global budgets")]


def _evaluator(request: Request) -> QuotaEvaluator:
    return request.app.state.quotas


def _private(quotas: QuotaEvaluator, who: Principal, tenant: str, statuses: list[BudgetStatus]) -> list[BudgetStatus]:
    """A tenant's view of the budgets that apply to it: a global budget keeps its decision, but its
    spend and ratio are the tenant's own share, so no tenant learns what the others spent."""
    shared = [s for s in statuses if s.tenant == ALL_TENANTS]
    if who.reads_every_tenant or tenant == ALL_TENANTS or not shared:
        return statuses
    mine = QuotaPolicy(budgets=[Budget(**s.model_dump(include=set(Budget.model_fields))) for s in shared])
    own = {s.id: s.spend for s in quotas.book.evaluate(tenant, {tenant: mine})}
    shares = {s.id: {"spend": own[s.id], "ratio": round(own[s.id] / s.limit, 6)} for s in shared}
    return [s.model_copy(update=shares[s.id]) if s.tenant == ALL_TENANTS else s for s in statuses]


def _status(quotas: QuotaEvaluator, who: Principal, tenant: str) -> dict[str, Any]:
    policies = quotas.policies()
    statuses = _private(quotas, who, tenant, quotas.book.evaluate(tenant, policies))
    wide = [s.decision for s in statuses if s.scope in ("global", "tenant")]
    crossings = quotas.book.crossings(None if tenant == ALL_TENANTS else tenant)
    if not who.reads_every_tenant:  # a global budget's crossings carry everyone's spend
        crossings = [c for c in crossings if c["tenant"] != ALL_TENANTS]
    return {
        "tenant": tenant,
        "policy": policies.get(tenant, QuotaPolicy(budgets=[])),
        "budgets": statuses,
        "decision": most_restrictive(wide),
        "crossings": crossings,
    }


def _writer(who: Principal, what: str) -> None:
    if not who.reads_every_tenant:
        raise HTTPException(403, f"{what} budgets needs an admin token")


@router.post("/api/quotas/{tenant}", response_model=M.QuotaStatus, responses=ERRORS)
def set_quotas(tenant: QuotaTenant, policy: QuotaPolicy, who: CallerDep, request: Request) -> dict[str, Any]:
    """Replace the tenant's budgets (an admin token, or any local client without tokens)."""
    _writer(who, "setting")
    if tenant != ALL_TENANTS and any(b.scope == "global" for b in policy.budgets):
        raise HTTPException(400, "global budgets belong to the policy of tenant '*'")
    quotas = _evaluator(request)
    quotas.set_policy(tenant, policy)
    return _status(quotas, who, tenant)


@router.get("/api/quotas/{tenant}", response_model=M.QuotaStatus, responses=ERRORS)
def get_quotas(tenant: QuotaTenant, who: CallerDep, request: Request) -> dict[str, Any]:
    """The tenant's budgets with spend and decision, and its recent threshold crossings."""
    who.reads(tenant)
    return _status(_evaluator(request), who, tenant)


@router.delete("/api/quotas/{tenant}", status_code=204, responses=ERRORS)
def delete_quotas(tenant: QuotaTenant, who: CallerDep, request: Request) -> Response:
    """Remove every budget of the tenant (an admin token, or any local client without tokens)."""
    _writer(who, "removing")
    _evaluator(request).set_policy(tenant, None)
    return Response(status_code=204)


# Before the route below, which would take "@me" for a tenant (and refuse it: no tenant name starts with "@").
@router.get(f"/api/quotas/{CALLERS_TENANT}/decisions", response_model=M.QuotaDecisions, responses=ERRORS)
def get_own_decisions(who: CallerDep, request: Request) -> dict[str, Any]:
    """The decisions of the caller's own tenant, the one its exports are stored as (its token's, else its
    x-hive-tenant-id header or 'local'): what ``hive_otel.client.quota`` caches, with no tenant to configure."""
    return _decisions(request, who, who.tenant)


@router.get("/api/quotas/{tenant}/decisions", response_model=M.QuotaDecisions, responses=ERRORS)
def get_decisions(tenant: QuotaTenant, who: CallerDep, request: Request) -> dict[str, Any]:
    """Each budget's current decision: what ``hive_otel.client.quota`` caches to decide without a network call."""
    who.reads(tenant)
    return _decisions(request, who, tenant)


def _decisions(request: Request, who: Principal, tenant: str) -> dict[str, Any]:
    quotas = _evaluator(request)
    statuses = _private(quotas, who, tenant, quotas.book.evaluate(tenant, quotas.policies()))
    return {
        "tenant": tenant,
        "evaluated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "refresh_s": request.app.state.quota_refresh_s,
        "budgets": [s.model_dump(include=set(M.BudgetDecision.model_fields)) for s in statuses],
    }
