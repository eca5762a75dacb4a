"""The API's moving parts in one object: the live broadcaster, the quota evaluator and the app.

The collector builds one next to its receiver (one process owns an embedded store, so it serves the
API too) and registers :meth:`ApiService.on_ingest` with its ingestor; ``hive-otel api`` builds one
alone over a store it opens itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from hive_otel.collector.api.app import create_app
from hive_otel.collector.api.broadcast import Broadcaster
from hive_otel.collector.api.live_events import items_from_logs, items_from_traces
from hive_otel.collector.api.quotas import QuotaBook, QuotaEvaluator
from hive_otel.collector.auth.principal import TenantAuth

__all__ = ["ApiService"]

logger = logging.getLogger(__name__)


class ApiService:
    """``start()`` the quota evaluator, mount ``app``, feed ``on_ingest``; ``stop()`` is idempotent."""

    def __init__(
        self,
        store: Any,
        auth: TenantAuth,
        *,
        sse_heartbeat_s: float = 15.0,
        quota_interval_s: float = 30.0,
        quota_refresh_s: float = 30.0,
    ) -> None:
        self.broadcaster = Broadcaster()
        self.quotas = QuotaEvaluator(QuotaBook(store), self.broadcaster, interval_s=quota_interval_s)
        self.app: FastAPI = create_app(
            store, auth, self.broadcaster, self.quotas, sse_heartbeat_s=sse_heartbeat_s, quota_refresh_s=quota_refresh_s
        )

    def start(self) -> None:
        self.quotas.start()

    def stop(self) -> None:
        self.quotas.stop()

    def on_ingest(self, signal: str, request: Any, tenant: str) -> None:
        """After the store acknowledged ``request``: re-check budgets on new spend, stream status.

        Runs on the ingest thread: both steps are skipped at once when nobody needs them (no
        budget anywhere, nobody watching the tenant's streams)."""
        if signal == "traces":
            self.quotas.notify(tenant)
        if signal in ("logs", "traces") and self.broadcaster.wants(tenant):
            items = items_from_logs(request) if signal == "logs" else items_from_traces(request)
            if items:
                self.broadcaster.publish(tenant, items)
