"""The client pipeline: HiveRecords → mapping → redaction → OTLP bytes → durable outbox.

One ``ClientPipeline`` is driven by one thread, through :meth:`hive_otel.client.client.Client.step`
(the backfill, the watch loop, or the live export worker); none of it runs on Hive's runtime thread.
Records are mapped as they come and encoded in batches; a batch is in the outbox (on disk) when
``emit()`` returns, which is the moment a file source may commit its checkpoint.

Request size: however much is pending (a backfill releases a whole history at once), no request
is larger than ``settings.max_request_bytes`` (``HIVE_OTEL_MAX_REQUEST_BYTES``) of uncompressed
protobuf. Items are encoded ``batch_items`` at a time and a request over the limit is encoded
again as two halves. One item over the limit on its own is stored as a dead letter (counted as
``oversized_items`` and logged), so it is visible and can be re-queued, and nothing else goes with it.

An outbox that fails to take a batch (a full disk, a lock held past its timeout) loses nothing: the
requests it did not store are kept in memory, up to ``MAX_UNSENT_BYTES``, and go first into the next
``emit()``; the error is raised meanwhile (counted as ``outbox_errors``), so no checkpoint is committed
past them and the live export's worker logs it and tries again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TypeVar

from hive_otel.attributes import PRIVATE_CONTENT_KEYS
from hive_otel.client.encoding import encode_logs, encode_metrics, encode_spans
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.semconv import GenAiConventions, apply_genai_conventions
from hive_otel.client.mapping.telemetry import Telemetry
from hive_otel.client.outbox import Outbox, Signal
from hive_otel.client.redaction import RedactionProcessor
from hive_otel.client.sources.records import HiveRecord, SessionContext
from hive_otel.environment_variables import HIVE_OTEL_MAX_REQUEST_BYTES
from hive_otel.settings import ClientSettings

logger = logging.getLogger(__name__)

DEFAULT_BATCH_ITEMS = 2048
MAX_UNSENT_BYTES = 64 * 1024 * 1024
"""Encoded requests kept while the outbox fails; past this, the oldest are dropped (``dropped_requests``)."""

T = TypeVar("T")
Request = tuple[Signal, bytes, int]  # (signal, uncompressed body, item count), as the outbox stores it


class ClientPipeline:
    def __init__(
        self,
        settings: ClientSettings,
        outbox: Outbox,
        redaction: RedactionProcessor,
        *,
        join_window_ns: int | None,
        batch_items: int = DEFAULT_BATCH_ITEMS,
        clock: Callable[[], int] = time.time_ns,
        make_room: Callable[[int], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._make_room = make_room
        self._redaction = redaction
        self._clock = clock
        self._batch_items = batch_items
        self._max_request_bytes = settings.max_request_bytes
        resources = ResourceFactory(
            service_name=settings.service_name,
            extra=settings.resource_attributes,
            user_id=settings.user_id,
            tenant_id=settings.tenant_id,
        )
        # Content (prompts, tool arguments, error text) is not even built unless the policy lets it out.
        include_content = bool(redaction.policy.exported_keys & PRIVATE_CONTENT_KEYS)
        self.mapper = EventMapper(resources, join_window_ns, include_content=include_content)
        self._conventions = GenAiConventions.from_opt_in(settings.semconv_opt_in)
        self._pending = Telemetry()
        self._unsent: list[Request] = []  # what the outbox failed to take, in order: stored first next time
        self.counters = dict.fromkeys(
            ("spans", "logs", "requests", "dropped_requests", "oversized_items", "unencodable_items",
             "unmappable_records", "outbox_errors"),
            0,
        )  # fmt: skip

    def consume(self, records: Iterable[HiveRecord]) -> None:
        """Map records; full batches go to the outbox as they fill."""
        now = self._clock()
        mapping_counters = self.mapper.counters
        for record in records:
            unusable = mapping_counters["unusable_records"]
            try:
                self.mapper.map_into(record, now, self._pending)
            except Exception:  # a record the mapping did not foresee must not stop the export of the others
                self.counters["unmappable_records"] += 1
                logger.exception("hive-otel: a %s record of session %s skipped", record.kind.name, record.context.session_id)
            if mapping_counters["unusable_records"] != unusable:
                logger.warning(
                    "hive-otel: a %s record of session %s skipped: it lacks what identifies it (an event's type, "
                    "a step's node and index, a tool call's id)", record.kind.name, record.context.session_id
                )  # fmt: skip
            if len(self._pending.spans) + len(self._pending.logs) >= self._batch_items:
                # On an outbox failure the requests are kept, and the caller's last emit raises if it still
                # fails; the records after these must be mapped meanwhile (live ones cannot be read again).
                with contextlib.suppress(Exception):
                    self.emit()
                now = self._clock()

    def heartbeat(self, instrumented: SessionContext) -> None:
        """Queue a ``hive.heartbeat`` for the instrumented session and its running workers."""
        self._pending.extend(self.mapper.heartbeats(self._clock(), instrumented))

    def tick(self) -> None:
        """Release calls whose partner did not arrive within the join window."""
        self._pending.extend(self.mapper.release(self._clock()))

    def checkpoint(self) -> None:
        """Release every waiting call and emit, so that all records consumed so far are in the outbox."""
        self._pending.extend(self.mapper.release_all())
        self.emit()

    def finish(self) -> None:
        """End of input: release everything, add session spans, emit."""
        self._pending.extend(self.mapper.flush())
        self.emit()

    def emit(self) -> None:
        """Redact, encode and enqueue what is pending (durable in the outbox when this returns; if the
        outbox fails, the error is raised and the requests it did not take are kept for the next call)."""
        requests: list[Request] = []
        if self._pending:
            apply_genai_conventions(self._pending.spans, self._conventions)
            batch = self._redaction.process(self._pending)
            self._pending = Telemetry()
            for spans in _chunks(batch.spans, self._batch_items):
                requests += self._bounded("traces", spans, encode_spans)
                # A metrics request counts as one item: its points aggregate the spans it was made from.
                metrics = partial(encode_metrics, now_ns=self._clock())
                requests += self._bounded("metrics", spans, metrics, per_item=False)
            for logs in _chunks(batch.logs, self._batch_items):
                requests += self._bounded("logs", logs, encode_logs)
            self.counters["spans"] += len(batch.spans)
            self.counters["logs"] += len(batch.logs)
        requests, self._unsent = self._unsent + requests, []
        if not requests:
            return
        accepted = self._enqueue(requests)
        self.counters["requests"] += accepted
        if accepted < len(requests):
            self.counters["dropped_requests"] += len(requests) - accepted
            logger.warning(
                "outbox refused %d of %d requests (shut down, full, or each larger than its whole cap)",
                len(requests) - accepted,
                len(requests),
            )

    def _enqueue(self, requests: list[Request]) -> int:
        """Into the outbox; with ``make_room(bytes)`` (a backfill, which may release a whole history at
        once), in parts of at most a quarter of its cap, each once ``make_room`` returns, and over the cap
        the outbox refuses the newest rather than drop what it holds (an earlier run's history, under
        checkpoints already committed). If the outbox fails, what it did not take is kept
        (:meth:`_keep_unsent`) and the error raised."""
        parts = [requests] if self._make_room is None else _parts(requests, self._outbox.max_bytes // 4)
        accepted = 0
        for index, part in enumerate(parts):
            try:
                if self._make_room is not None:
                    self._make_room(sum(len(body) for _, body, _ in part))
                accepted += self._outbox.enqueue_many(part, keep_queued=self._make_room is not None)
            except Exception as error:
                self._keep_unsent([request for rest in parts[index:] for request in rest], error)
                raise
        return accepted

    def _keep_unsent(self, requests: list[Request], error: Exception) -> None:
        self.counters["outbox_errors"] += 1
        logger.warning("hive-otel: the outbox failed (%s); %d requests kept in memory for the next try",
                       error, len(requests))  # fmt: skip
        size, dropped = sum(len(body) for _, body, _ in requests), 0
        while size > MAX_UNSENT_BYTES:
            size -= len(requests[dropped][1])
            dropped += 1
        if dropped:
            self.counters["dropped_requests"] += dropped
            logger.error("hive-otel: the outbox keeps failing; %d oldest requests dropped (over %d bytes held)",
                         dropped, MAX_UNSENT_BYTES)  # fmt: skip
        self._unsent = requests[dropped:]

    def _bounded(
        self, signal: Signal, items: Sequence[T], encode: Callable[[Sequence[T]], bytes | None], per_item: bool = True
    ) -> list[Request]:
        """``items`` encoded as requests of at most ``max_request_bytes`` each, in order (halving as
        needed); an item too large on its own goes to the dead letters instead, and an item protobuf
        cannot carry (an int beyond int64 from a corrupt line) is dropped alone, counted and logged."""
        try:
            body = encode(items)
        except ValueError as error:
            if len(items) == 1:
                self.counters["unencodable_items"] += 1
                logger.error("hive-otel: one %s item dropped, it cannot be encoded: %s", signal, error)
                return []
        else:
            if body is None:
                return []
            if len(body) <= self._max_request_bytes:
                return [(signal, body, len(items) if per_item else 1)]
            if len(items) == 1:
                self._dead_letter_oversized(signal, body)
                return []
        middle = len(items) // 2
        halves = (items[:middle], items[middle:])
        return [request for half in halves for request in self._bounded(signal, half, encode, per_item)]

    def _dead_letter_oversized(self, signal: Signal, body: bytes) -> None:
        reason = (
            f"one {signal} item encodes to {len(body)} bytes, over "
            f"{HIVE_OTEL_MAX_REQUEST_BYTES}={self._max_request_bytes}: not sent"
        )
        self._outbox.add_dead_letter(signal, body, 1, reason)
        self.counters["oversized_items"] += 1
        logger.error("hive-otel: %s (kept as a dead letter; see `hive-otel outbox`)", reason)


def _parts(requests: list[Request], limit: int) -> list[list[Request]]:
    """``requests`` in order, in parts of at most ``limit`` bytes (a larger request is a part alone)."""
    parts: list[list[Request]] = []
    size = 0
    for request in requests:
        if not parts or size + len(request[1]) > limit:
            parts.append([])
            size = 0
        parts[-1].append(request)
        size += len(request[1])
    return parts


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
