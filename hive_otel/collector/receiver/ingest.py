"""The transport-independent half of the receiver: authenticate, upgrade old schema versions, hand
the decoded request to the store, count, log.

Both receivers (gRPC and HTTP) call :meth:`Ingestor.export` and reply only after it returns, so an
acknowledgement always means the store's ingest finished. A bounded number of ingests run at once;
a request that cannot get a slot within a short wait is turned away as "busy" so the client backs
off, instead of piling up threads and memory in the collector.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message

from hive_otel.collector.auth.principal import Principal, TenantAuth, Unauthenticated
from hive_otel.collector.config import ReceiverConfig
from hive_otel.collector.receiver.otlp import RequestRejected, Signal
from hive_otel.collector.receiver.schema_versions import UnsupportedSchemaVersion, upgrade_request
from hive_otel.collector.store.transport import StoreInputError, clickhouse_reason

logger = logging.getLogger("hive_otel.collector.receiver.receiver")


class IngestResult(Protocol):
    """What the store reports back: how many items it refused, and why."""

    rejected: int
    message: str


class IngestStore(Protocol):
    """The part of the store the receiver uses (implemented by ``hive_otel.collector.store.store``)."""

    def ingest_traces(self, request: Any, tenant: str | None, wire: bytes | None = None) -> IngestResult: ...

    def ingest_logs(self, request: Any, tenant: str | None, wire: bytes | None = None) -> IngestResult: ...

    def ingest_metrics(self, request: Any, tenant: str | None, wire: bytes | None = None) -> IngestResult: ...

    def query(self, sql: str, readonly: bool = True) -> tuple[list[str], list[Any]]: ...

    def set_owner_url(self, owner_url: str | None) -> None:
        """Advertise (or withdraw) where readers of an embedded store can ask this collector."""


class StoreBusy(Exception):
    """Every ingest slot stayed taken for the whole wait; the client should retry later."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(Exception):
    """The store failed to ingest; nothing was acknowledged and the client should retry later."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ExportOutcome:
    accepted: int
    rejected: int
    message: str


class ReceiverCounters:
    """Thread-safe counters, read with :meth:`snapshot` (served on ``/healthz``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._accepted: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._bad_requests: Counter[str] = Counter()
        self._busy: Counter[str] = Counter()
        self._unavailable: Counter[str] = Counter()
        self._unauthenticated: Counter[str] = Counter()
        self._schema_versions: Counter[str] = Counter()
        self._server_errors: Counter[str] = Counter()

    def request(self, transport: str, signal: str) -> None:
        with self._lock:
            self._requests[f"{transport}.{signal}"] += 1

    def items(self, signal: str, accepted: int, rejected: int) -> None:
        with self._lock:
            self._accepted[signal] += accepted
            self._rejected[signal] += rejected

    def bad_request(self, reason: str) -> None:
        with self._lock:
            self._bad_requests[reason] += 1

    def busy(self, signal: str) -> None:
        with self._lock:
            self._busy[signal] += 1

    def unavailable(self, signal: str) -> None:
        with self._lock:
            self._unavailable[signal] += 1

    def unauthenticated(self, reason: str) -> None:
        with self._lock:
            self._unauthenticated[reason] += 1

    def schema_version(self, outcome: str, count: int = 1) -> None:
        """``upgraded`` resources, or requests ``refused_future`` / ``refused_retired`` / ``refused_malformed``."""
        with self._lock:
            self._schema_versions[outcome] += count

    def server_error(self, route: str) -> None:
        """A request that failed inside the collector (a 500: a bug, never the caller's input)."""
        with self._lock:
            self._server_errors[route] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "items_accepted": dict(self._accepted),
                "items_rejected": dict(self._rejected),
                "bad_requests": dict(self._bad_requests),
                "store_busy": dict(self._busy),
                "store_unavailable": dict(self._unavailable),
                "unauthenticated": dict(self._unauthenticated),
                "schema_versions": dict(self._schema_versions),
                "server_errors": dict(self._server_errors),
            }


class Ingestor:
    """Runs store ingests under a concurrency bound and keeps the counters."""

    def __init__(self, store: IngestStore, config: ReceiverConfig) -> None:
        self._store = store
        self._config = config
        self._slots = threading.BoundedSemaphore(config.max_inflight_ingests)
        self.auth = TenantAuth(config.tokens)
        self.counters = ReceiverCounters()
        self.listeners: list[Callable[[str, Message, str], None]] = []
        """Called as ``listener(signal name, request, tenant)`` after each acknowledged ingest (the live
        API streams and the quota evaluator); a listener's failure is logged, never the client's."""

    def authenticate(
        self, transport: str, what: str, peer: str, authorization: str | None, tenant_header: str | None
    ) -> Principal:
        """The principal of a request; raises (after counting and logging) :class:`Unauthenticated`.
        The log names the peer and the reason, never the token."""
        try:
            return self.auth.principal(authorization, tenant_header)
        except Unauthenticated as exc:
            self.counters.unauthenticated(exc.reason)
            logger.warning("refused unauthenticated %s %s request from %s (%s)", transport, what, peer, exc.reason)
            raise

    def request_timed_out(self, peer: str) -> None:
        """Count and log an HTTP connection closed for not sending a whole request in time."""
        self.counters.bad_request("request_timeout")
        logger.warning(
            "closed http connection from %s: no whole request within %.0fs", peer, self._config.request_timeout_s
        )

    def reject(self, signal: str, transport: str, peer: str, error: RequestRejected) -> None:
        """Count and log a request turned away for its content (the client's fault, not retryable)."""
        self.counters.bad_request(error.reason)
        logger.warning("rejected %s %s request from %s (%s): %s", transport, signal, peer, error.reason, error)

    def export(
        self, signal: Signal, request: Message, tenant: str | None, peer: str, wire: bytes | None = None
    ) -> ExportOutcome:
        """Store ``request`` as ``tenant`` and return what was accepted; raises :class:`StoreBusy` or
        :class:`StoreUnavailable` when nothing was stored and the client should retry, and
        :class:`UnsupportedSchemaVersion` (a :class:`RequestRejected`) for a version it cannot read.
        ``wire``: the protobuf bytes ``request`` was parsed from, if it came as protobuf."""
        try:
            upgraded = upgrade_request(signal, request)
        except UnsupportedSchemaVersion as exc:
            self.counters.schema_version(f"refused_{exc.kind}")
            raise
        if upgraded:
            self.counters.schema_version("upgraded", upgraded)
            wire = None  # no longer the request's bytes
        total = signal.count_items(request)
        retry_after = self._config.retry_after_s
        if not self._slots.acquire(timeout=self._config.busy_wait_s):
            self.counters.busy(signal.name)
            logger.warning(
                "store busy: %s request from %s (%d items) turned away after %.1fs",
                signal.name,
                peer,
                total,
                self._config.busy_wait_s,
            )
            raise StoreBusy(
                f"the store is busy; retry in {retry_after}s ({signal.name}, {total} items not stored)",
                retry_after,
            )
        try:
            result = getattr(self._store, signal.store_method)(request, tenant, wire=wire)
        except StoreInputError as exc:
            # ClickHouse refused every item as data: resending cannot help, so the client must drop it
            # (400 / INVALID_ARGUMENT), not retry it forever ahead of the rest of its queue. The client
            # is told why in a word; ClickHouse's whole text (table UUIDs, the rows) stays in this log.
            logger.warning("store refused %s request from %s (%d items): %s", signal.name, peer, total, exc)
            reason = clickhouse_reason(str(exc)) or str(exc)  # else the store's own words
            raise RequestRejected("store_refused_input", f"the store cannot accept this request: {reason}") from exc
        except Exception as exc:
            # Anything the store raises means "not durably stored": answer retryable so the
            # client keeps the data (a non-retryable 500 would make it drop the batch).
            self.counters.unavailable(signal.name)
            logger.exception("store failed to ingest %s request from %s (%d items)", signal.name, peer, total)
            reason = clickhouse_reason(str(exc)) or type(exc).__name__
            raise StoreUnavailable(
                f"the store could not ingest the request ({reason}); retry in {retry_after}s", retry_after
            ) from exc
        finally:
            self._slots.release()
        rejected = min(max(int(result.rejected), 0), total)
        message = str(result.message or "")
        self.counters.items(signal.name, total - rejected, rejected)
        for listener in self.listeners:
            try:
                listener(signal.name, request, tenant or "")
            except Exception:
                logger.exception("ingest listener %r failed on a %s request", listener, signal.name)
        if rejected:
            logger.warning("store rejected %d of %d %s items from %s: %s", rejected, total, signal.name, peer, message)
        return ExportOutcome(accepted=total - rejected, rejected=rejected, message=message)
