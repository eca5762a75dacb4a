"""The one place that retries: a worker thread moving requests from the outbox to an exporter."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable

from hive_otel.client.export._result import Exporter, ExportResult, ExportStatus
from hive_otel.client.outbox import MAX_RETRY_DELAY_S, Outbox, OutboxItem, Signal
from hive_otel.settings import DEFAULT_MAX_REQUEST_BYTES

_log = logging.getLogger(__name__)

# The shortest wait a receiver can ask for: "Retry-After: 0" must not turn into a busy loop.
MIN_RETRY_AFTER_S = 1.0
# Queued requests of one signal travel as one request of at most ``max_request_bytes`` (the
# client's HIVE_OTEL_MAX_REQUEST_BYTES, 4 MiB by default: an OpenTelemetry Collector's default gRPC
# limit) and this many items. Each request a collector stores costs it a fixed ~0.1-0.2 s of
# ClickHouse work whatever its size (bench/results/ingest_split.json: insert_sizes), so a client
# that fell behind catches up by sending fewer, larger requests.
MAX_MERGED_ITEMS = 16_384


class OutboxSender:
    """Delivers what the outbox holds, oldest first, on its own daemon thread (started here).

    Each round takes up to ``batch_size`` due requests. Requests of one signal among them travel
    together, as one request (an OTLP export request's bytes concatenated with another's are the two
    requests merged), within ``max_request_bytes`` and :data:`MAX_MERGED_ITEMS`; groups go out in
    the order of their oldest request, so order is kept within a signal. A merged request that is
    accepted acks all its parts; one refused as retryable or unauthorized waits as its oldest part
    (the outbox keeps the others behind it); one refused as too large or for good is sent again part
    by part, so each outcome below applies to the request that caused it:

    * success → ack (the request is gone), written at once, before the next request goes out, so a
      crash or ``kill -9`` sends again at most the request that was in flight;
    * retryable → ``retry_later`` by the receiver's ``Retry-After`` / ``RetryInfo`` when it gave a
      finite, non-negative one, kept within [``MIN_RETRY_AFTER_S``, ``MAX_RETRY_DELAY_S``] (1 s to
      5 min), else by exponential backoff with full jitter (uniform in
      ``[0, min(max_backoff_s, initial_backoff_s * 2**attempts)]``). The round stops there: the
      outbox keeps later requests behind a waiting one, so delivery stays in order;
    * too large (HTTP 413, gRPC "larger than max") → the request is replaced in the outbox by its two
      halves, at its place, and the next round sends them; a request of one item that is still too
      large becomes a dead letter (counted as ``oversized_items``): nothing else goes with it;
    * unauthorized (HTTP 401/403, gRPC UNAUTHENTICATED/PERMISSION_DENIED) → kept and retried with
      the backoff, never dead-lettered; :attr:`auth_failure` holds the reason until a request gets
      through, so ``backfill`` and ``watch`` can stop and say the token is wrong;
    * permanent → dead letter, with the receiver's reason; the round goes on.

    When there is work it loops without sleeping; when there is none it sleeps until the oldest
    request's retry time, a :meth:`notify` or ``poll_interval_s`` (which picks up requests that
    another process wrote into the same file), whichever comes first.

    Lifecycle as the OpenTelemetry SDK's processors: :meth:`force_flush` takes a timeout in
    milliseconds and returns a bool; :meth:`shutdown` is idempotent and shuts the exporter down.
    The outbox belongs to the caller and stays open.
    """

    def __init__(
        self,
        outbox: Outbox,
        exporter: Exporter,
        *,
        max_backoff_s: float = 60.0,
        initial_backoff_s: float = 1.0,
        batch_size: int = 64,
        poll_interval_s: float = 1.0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if initial_backoff_s <= 0 or max_backoff_s < initial_backoff_s:
            raise ValueError(
                f"need 0 < initial_backoff_s <= max_backoff_s, got {initial_backoff_s} and {max_backoff_s}"
            )
        if batch_size <= 0 or poll_interval_s <= 0:
            raise ValueError(f"batch_size and poll_interval_s must be positive, got {batch_size}, {poll_interval_s}")
        self._outbox = outbox
        self._exporter = exporter
        self._max_backoff_s = max_backoff_s
        self._initial_backoff_s = initial_backoff_s
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._max_request_bytes = max_request_bytes
        self._rng = rng or random.Random()
        self._clock = clock  # wall clock, as the outbox's retry times (Unix seconds); tests step it
        # One condition for both directions: notify() wakes the worker; the worker wakes
        # force_flush() waiters after every round.
        self._condition = threading.Condition()
        self._wake_requested = False
        self._stopping = False
        self._counts = {
            "exported_requests": 0,
            "exported_items": 0,
            "rejected_items": 0,
            "retryable_failures": 0,
            "permanent_failures": 0,
            "split_requests": 0,
            "oversized_items": 0,
            "unauthorized_failures": 0,
        }
        self.last_error: str | None = None
        self.auth_failure: str | None = None
        self._thread = threading.Thread(target=self._run, name="hive-otel-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public API

    def notify(self) -> None:
        """Something was enqueued: deliver it now rather than at the next poll."""
        with self._condition:
            self._wake_requested = True
            self._condition.notify_all()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until nothing deliverable is left in the outbox; False if that did not happen within
        the timeout, or at once when the receiver refuses our credentials (nothing is deliverable
        until the token is fixed). Retry times the receiver asked for are respected, not cut short."""
        deadline = time.monotonic() + timeout_millis / 1000
        self.notify()
        with self._condition:
            while True:
                if self._outbox.depth()[0] == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping or self.auth_failure:
                    return False
                self._condition.wait(min(remaining, self._poll_interval_s))

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Stop after the request in flight (waiting at most ``timeout_millis``), then shut the
        exporter down. Undelivered requests stay in the outbox for the next run. Idempotent."""
        with self._condition:
            if self._stopping:
                return
            self._stopping = True
            self._condition.notify_all()
        self._thread.join(timeout_millis / 1000)
        if self._thread.is_alive():
            _log.warning("sender still busy after %d ms; closing the exporter under it", timeout_millis)
        self._exporter.shutdown()

    def counters(self) -> dict[str, int]:
        """Requests and items delivered, and failed attempts by kind, since this sender started."""
        with self._condition:
            return dict(self._counts)

    # ------------------------------------------------------------------ worker thread

    def _run(self) -> None:
        while not self._stopping:
            try:
                idle_wait_s = 0.0 if self._deliver_round() else self._idle_wait_s()
            except Exception:  # a broken outbox (disk full, locked) must not kill the thread
                _log.exception("sender round failed; trying again in %.1f s", self._poll_interval_s)
                idle_wait_s = self._poll_interval_s
            with self._condition:
                self._condition.notify_all()  # let force_flush() re-check the depth
                # A notify() that arrived since the round started means new work: do not sleep.
                if idle_wait_s > 0 and not self._wake_requested and not self._stopping:
                    self._condition.wait(idle_wait_s)
                self._wake_requested = False

    def _deliver_round(self) -> bool:
        """Export one batch of due requests; True when at least one was due."""
        items = self._outbox.due(self._batch_size, self._clock())
        for group in merge_groups(items, self._max_request_bytes):
            if self._stopping or not self._deliver_group(group):
                break
        return bool(items)

    def _deliver_group(self, group: list[OutboxItem]) -> bool:
        """Export ``group`` as one request; False when the round must stop (the queue's head waits)."""
        if len(group) == 1:
            return self._deliver(group[0])
        head = group[0]
        result = self._export(head.signal, b"".join(item.body for item in group), f"{len(group)} merged requests")
        if result.status is ExportStatus.SUCCESS:
            self._delivered(group, result)
            return True
        if result.status in (ExportStatus.RETRYABLE, ExportStatus.UNAUTHORIZED):
            self.last_error = result.reason
            self._retry(head, result)
            return False
        # Too large, or refused for good: find out which part, by sending them one by one.
        return all(self._deliver(item) for item in group)

    def _deliver(self, item: OutboxItem) -> bool:
        """Export one request; False when the round must stop (the queue's head changed or waits)."""
        result = self._export(item.signal, item.body, f"request {item.id}")
        if result.status is ExportStatus.SUCCESS:
            self._delivered([item], result)
            return True
        self.last_error = result.reason
        if result.status is ExportStatus.PERMANENT:
            self._outbox.dead_letter(item.id, result.reason)
            self._count(permanent_failures=1)
            _log.error("OTLP %s request %d refused for good: %s", item.signal, item.id, result.reason)
            return True
        if result.status is ExportStatus.TOO_LARGE:
            self._split(item, result.reason)
        else:
            self._retry(item, result)
        return False

    def _delivered(self, items: list[OutboxItem], result: ExportResult) -> None:
        """Acknowledged: forgotten at once, in one transaction (all parts of a merged request), before
        anything else is sent. The items a partial success refused are counted apart (logged by the exporter)."""
        self._outbox.ack([item.id for item in items])
        self.auth_failure = None
        sent = sum(item.item_count for item in items)
        rejected = min(result.rejected_items, sent)
        self._count(exported_requests=len(items), exported_items=sent - rejected, rejected_items=rejected)

    def _retry(self, item: OutboxItem, result: ExportResult) -> None:
        delay = self._retry_delay(item, result)
        self._outbox.retry_later(item.id, delay, result.reason)
        if result.status is ExportStatus.UNAUTHORIZED:
            self.auth_failure = result.reason
            self._count(unauthorized_failures=1)
            _log.error(
                "OTLP %s request %d: the receiver refused the credentials (%s); kept, retrying in %.1f s",
                item.signal, item.id, result.reason, delay,
            )  # fmt: skip
            return
        self._count(retryable_failures=1)
        _log.warning(
            "OTLP %s request %d not delivered (%s); retrying in %.1f s", item.signal, item.id, result.reason, delay
        )

    def _split(self, item: OutboxItem, reason: str) -> None:
        """Replace a request the receiver found too large by its halves; dead-letter a single item."""
        from hive_otel.client.export._split import split_request  # protobuf, loaded only for this rare case

        halves = split_request(item.signal, item.body)
        if halves is None:
            why = f"{reason} (a single {item.signal} item of {len(item.body)} bytes; it cannot be split)"
            self._outbox.dead_letter(item.id, why)
            self._count(oversized_items=1, permanent_failures=1)
            _log.error("OTLP %s request %d refused for good: %s", item.signal, item.id, why)
            return
        self._outbox.split(item.id, halves, reason)
        self._count(split_requests=1)
        _log.warning(
            "OTLP %s request %d (%d bytes) too large for the receiver (%s): sending it in two halves",
            item.signal, item.id, len(item.body), reason,
        )  # fmt: skip

    def _export(self, signal: Signal, body: bytes, what: str) -> ExportResult:
        try:
            return self._exporter.export(signal, body)
        except Exception as error:  # exporters must not raise; if one does, keep the request
            _log.exception("exporter raised on OTLP %s %s", signal, what)
            return ExportResult.retryable(f"exporter raised {type(error).__name__}: {error}")

    def _retry_delay(self, item: OutboxItem, result: ExportResult) -> float:
        asked = result.retry_after_s
        if asked is not None and math.isfinite(asked) and asked >= 0:
            return min(max(asked, MIN_RETRY_AFTER_S), MAX_RETRY_DELAY_S)
        ceiling = min(self._max_backoff_s, self._initial_backoff_s * 2 ** min(item.attempts, 32))
        return self._rng.uniform(0, ceiling)

    def _idle_wait_s(self) -> float:
        next_attempt_at = self._outbox.next_attempt_at()
        if next_attempt_at is None:
            return self._poll_interval_s
        return min(self._poll_interval_s, max(0.0, next_attempt_at - self._clock()))

    def _count(self, **deltas: int) -> None:
        with self._condition:
            for name, delta in deltas.items():
                self._counts[name] += delta


def merge_groups(items: list[OutboxItem], max_bytes: int) -> list[list[OutboxItem]]:
    """``items`` (in outbox order) grouped by signal, each group of at most ``max_bytes`` and
    :data:`MAX_MERGED_ITEMS` (a request larger alone stays alone), groups in the order of their
    oldest request."""
    groups: list[list[OutboxItem]] = []
    open_group: dict[Signal, tuple[list[OutboxItem], list[int]]] = {}  # signal → (group, [bytes, items])
    for item in items:
        current = open_group.get(item.signal)
        if current is not None:
            group, size = current
            if size[0] + len(item.body) <= max_bytes and size[1] + item.item_count <= MAX_MERGED_ITEMS:
                group.append(item)
                size[0] += len(item.body)
                size[1] += item.item_count
                continue
        group = [item]
        groups.append(group)
        open_group[item.signal] = (group, [len(item.body), item.item_count])
    return groups
