"""Quota decisions for the runtime, from a local cache: no network call on the LLM path.

The collector holds each tenant's budgets and evaluates them against the rollups
(``/api/quotas/{tenant}``). A background thread here fetches the current decisions
(``GET {HIVE_OTEL_QUOTA_URL}/api/quotas/@me/decisions``: those of the tenant the collector
stores this client's exports as) every ``HIVE_OTEL_QUOTA_REFRESH_S``;
:func:`check` only reads that cache. With no budget it returns :data:`ALLOW` after one attribute
read. When the cloud cannot be reached the last decisions stay in force for ``STALE_AFTER_REFRESHES``
refreshes; after that :func:`check` fails open (allows), counts it in ``counters["fail_open"]``, says
why in ``Decision.reason``, and logs it once per outage.

Enforcement is the runtime's choice. A hook in Hive would look like::

    from hive_otel.client import quota

    quota.start()                                  # once, at startup (needs HIVE_OTEL_ENDPOINT)

    def before_llm_call(session_id: str, model: str) -> str:
        decision = quota.check(session=session_id, model=model)
        if decision.action == "block":
            raise BudgetExceeded(decision.reason)   # stop the turn; tell the user
        if decision.action == "degrade" and decision.degrade_to:
            return decision.degrade_to             # switch to the cheaper model
        if decision.action == "throttle":
            time.sleep(1.0)                        # slow down; the runtime picks the policy
        return model                               # allow or alert: carry on
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from hive_otel.settings import ClientSettings, opted_in

__all__ = [
    "ALLOW",
    "STALE_AFTER_REFRESHES",
    "Decision",
    "QuotaCache",
    "check",
    "register_session",
    "start",
    "stop",
]

logger = logging.getLogger(__name__)

CALLERS_TENANT = "@me"
"""In the decisions' path instead of a tenant: the caller's own (the collector's ``/api/quotas/@me/decisions``)."""

STALE_AFTER_REFRESHES = 10
"""After this many refresh intervals without reaching the cloud, :func:`check` fails open."""

_RANK = {"allow": 0, "alert": 1, "degrade": 2, "throttle": 3, "block": 4}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the budgets say about one call: ``action`` is allow, alert, degrade, throttle or block."""

    action: str
    budgets: tuple[str, ...] = ()  # the budgets that decided it
    degrade_to: str | None = None  # with degrade: the cheaper model to use instead
    reason: str = ""


ALLOW = Decision("allow")


@dataclass(frozen=True, slots=True)
class _Table:
    """Decisions by scope, built once per refresh; only budgets that are not "allow" are kept."""

    wide: Decision | None  # global and tenant budgets: apply to every call
    user: dict[str, Decision]
    agent_role: dict[str, Decision]
    colony: dict[str, Decision]
    model: dict[str, Decision]


def _worst(a: Decision | None, b: Decision | None) -> Decision | None:
    if a is None:
        return b
    if b is None:
        return a
    if _RANK[a.action] == _RANK[b.action]:
        return Decision(a.action, a.budgets + b.budgets, a.degrade_to or b.degrade_to, a.reason)
    return a if _RANK[a.action] > _RANK[b.action] else b


def build_table(budgets: list[dict[str, Any]]) -> _Table | None:
    """The lookup table of a ``/decisions`` answer; None when every budget allows."""
    wide: Decision | None = None
    scoped: dict[str, dict[str, Decision]] = {"user": {}, "agent_role": {}, "colony": {}, "model": {}}
    for budget in budgets:
        action = budget["decision"]
        if action == "allow":
            continue
        decision = Decision(
            action,
            (str(budget["id"]),),
            budget.get("degrade_to"),
            f"budget {budget['id']} ({budget['scope']}, {budget['period']} {budget['metric']}): "
            f"{budget['spend']:g} of {budget['limit']:g}",
        )
        if budget["scope"] in ("global", "tenant"):
            wide = _worst(wide, decision)
        elif budget["scope"] in scoped:
            table = scoped[budget["scope"]]
            table[budget["value"]] = _worst(table.get(budget["value"]), decision) or decision
    if wide is None and not any(scoped.values()):
        return None
    return _Table(wide, scoped["user"], scoped["agent_role"], scoped["colony"], scoped["model"])


@dataclass(frozen=True, slots=True)
class _Session:
    user: str | None
    agent_role: str | None
    colony: str | None


class QuotaCache:
    """The cached decisions of one tenant and the thread that refreshes them."""

    def __init__(self, settings: ClientSettings, *, tenant: str | None = None) -> None:
        base = settings.quota_url or settings.endpoint
        if not base:
            raise ValueError("quota decisions need HIVE_OTEL_QUOTA_URL or HIVE_OTEL_ENDPOINT")
        # Without ``tenant``: the tenant the collector stores this client's exports as, which it tells from
        # the same headers (the token's tenant; without tokens x-hive-tenant-id, else 'local'), never
        # HIVE_OTEL_TENANT_ID, a resource attribute the collector overrides. Known after a refresh.
        self.tenant = tenant
        path = urllib.parse.quote(tenant, safe="") if tenant else CALLERS_TENANT
        self.url = f"{base}/api/quotas/{path}/decisions"
        self.refresh_s = settings.quota_refresh_s
        self._user = settings.user_id
        self._headers = dict(settings.headers)  # the exporter's: the collector sees the same caller
        # The exporter's TLS files too: the API is served by the same collector (HIVE_OTEL_QUOTA_URL defaults
        # to the endpoint), behind the same private CA or mutual TLS. None: urllib's default (the system's roots).
        https = urllib.parse.urlparse(base).scheme == "https"
        self._ssl_context = settings.tls.ssl_context() if settings.tls and https else None
        self._timeout_s = max(0.5, settings.timeout_ms / 1000)
        self._table: _Table | None = None
        self._fresh_until = 0.0  # monotonic time after which the cache is too old to trust
        self._sessions: dict[str, _Session] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage_logged = False
        self.last_error: str | None = None
        self.counters = {"refreshes": 0, "refresh_failures": 0, "fail_open": 0}

    # -- the call path --------------------------------------------------------------------------------
    def check(
        self,
        session: str | None = None,
        model: str | None = None,
        *,
        user: str | None = None,
        agent_role: str | None = None,
        colony: str | None = None,
    ) -> Decision:
        table = self._table
        if table is None:
            return ALLOW
        if time.monotonic() > self._fresh_until:
            self.counters["fail_open"] += 1
            return Decision("allow", reason=f"quota cache stale, failing open: {self.last_error or 'no refresh'}")
        known = self._sessions.get(session) if session is not None else None
        if known is not None:
            user = user or known.user
            agent_role = agent_role or known.agent_role
            colony = colony or known.colony
        decision = table.wide
        if table.user:
            decision = _worst(decision, table.user.get(user or self._user or ""))
        if table.agent_role and agent_role:
            decision = _worst(decision, table.agent_role.get(agent_role))
        if table.colony and colony:
            decision = _worst(decision, table.colony.get(colony))
        if table.model and model:
            decision = _worst(decision, table.model.get(model))
        return decision or ALLOW

    def register_session(
        self, session: str, *, user: str | None = None, agent_role: str | None = None, colony: str | None = None
    ) -> None:
        """Remember a session's user, role and colony, so ``check(session=...)`` matches their budgets."""
        self._sessions[session] = _Session(user, agent_role, colony)

    # -- refreshing ----------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Fetch the decisions once; False (and the old cache kept) when the cloud did not answer."""
        request = urllib.request.Request(self.url, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s, context=self._ssl_context) as response:
                document = json.loads(response.read())
            table = build_table(document["budgets"])
            tenant = str(document["tenant"])
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
            self.counters["refresh_failures"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if not self._outage_logged:
                self._outage_logged = True
                if isinstance(exc, urllib.error.HTTPError) and exc.code in (401, 403):
                    # Not an outage that passes: budgets stay unenforced until the credentials are fixed.
                    logger.error("hive-otel quota: %s refused this client's credentials (HTTP %d): budgets are not "
                                 "enforced (checks allow) until HIVE_OTEL_TOKEN is a token it lists for this tenant",
                                 self.url, exc.code)  # fmt: skip
                else:
                    logger.warning("hive-otel quota: cannot refresh from %s (%s); decisions fail open when stale",
                                   self.url, self.last_error)  # fmt: skip
            return False
        self._table = table
        self.tenant = tenant
        self._fresh_until = time.monotonic() + self.refresh_s * STALE_AFTER_REFRESHES
        self.counters["refreshes"] += 1
        self.last_error = None
        self._outage_logged = False
        return True

    def start(self) -> None:
        if self._thread is None:
            self.refresh()
            self._thread = threading.Thread(target=self._run, name="hive-otel-quota", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


_cache: QuotaCache | None = None


def start(settings: ClientSettings | None = None, *, tenant: str | None = None) -> QuotaCache | None:
    """Start the process-wide cache (idempotent). Without an endpoint nothing starts and every
    :func:`check` allows."""
    global _cache
    if _cache is None:
        if settings is None and not opted_in(quota=True):
            return None
        settings = settings or ClientSettings.from_env()
        if not (settings.quota_url or settings.endpoint) or settings.disabled:
            return None
        _cache = QuotaCache(settings, tenant=tenant)
        _cache.start()
    return _cache


def stop() -> None:
    global _cache
    if _cache is not None:
        _cache.stop()
        _cache = None


def check(
    session: str | None = None,
    model: str | None = None,
    *,
    user: str | None = None,
    agent_role: str | None = None,
    colony: str | None = None,
) -> Decision:
    """The decision for one LLM call, from the local cache: allow, alert, degrade, throttle or block."""
    cache = _cache
    if cache is None:
        return ALLOW
    return cache.check(session, model, user=user, agent_role=agent_role, colony=colony)


def register_session(
    session: str, *, user: str | None = None, agent_role: str | None = None, colony: str | None = None
) -> None:
    """Tell the cache who a session is (its user, role and colony) before calling :func:`check` with it."""
    if _cache is not None:
        _cache.register_session(session, user=user, agent_role=agent_role, colony=colony)
