"""The client pipeline: HiveRecords → mapping → redaction → OTLP bytes → durable outbox.

One ``ClientPipeline`` is driven by one thread (the backfill loop, the watch loop, or the live
export worker); none of it runs on Hive's runtime thread. Records are mapped as they come and
encoded in batches; a batch is in the outbox (on disk) when ``emit()`` returns, which is the
moment a file source may commit its checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from hive_otel.attributes import PRIVATE_CONTENT_KEYS
from hive_otel.encoding import encode_logs, encode_metrics, encode_spans
from hive_otel.mapping.context import ResourceFactory
from hive_otel.mapping.mapper import EventMapper
from hive_otel.mapping.telemetry import Telemetry
from hive_otel.outbox import Outbox
from hive_otel.redaction import RedactionProcessor
from hive_otel.semconv import GenAiConventions, apply_genai_conventions
from hive_otel.settings import ClientSettings
from hive_otel.sources.records import HiveRecord, SessionContext

logger = logging.getLogger(__name__)

DEFAULT_BATCH_ITEMS = 2048


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
    ) -> None:
        self._outbox = outbox
        self._redaction = redaction
        self._clock = clock
        self._batch_items = batch_items
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
        self.counters = {"spans": 0, "logs": 0, "requests": 0, "dropped_requests": 0}

    def consume(self, records: Iterable[HiveRecord]) -> None:
        """Map records; full batches go to the outbox as they fill."""
        now = self._clock()
        for record in records:
            self._pending.extend(self.mapper.map(record, now))
            if len(self._pending.spans) + len(self._pending.logs) >= self._batch_items:
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
        """Redact, encode and enqueue what is pending (durable in the outbox when this returns)."""
        if not self._pending:
            return
        apply_genai_conventions(self._pending.spans, self._conventions)
        batch = self._redaction.process(self._pending)
        self._pending = Telemetry()
        requests: list[tuple[str, bytes, int]] = []
        if batch.spans:
            requests.append(("traces", encode_spans(batch.spans), len(batch.spans)))
            metrics = encode_metrics(batch.spans, self._clock())
            if metrics is not None:
                requests.append(("metrics", metrics, 1))
        if batch.logs:
            requests.append(("logs", encode_logs(batch.logs), len(batch.logs)))
        accepted = self._outbox.enqueue_many(requests)  # type: ignore[arg-type]
        self.counters["spans"] += len(batch.spans)
        self.counters["logs"] += len(batch.logs)
        self.counters["requests"] += accepted
        if accepted < len(requests):
            self.counters["dropped_requests"] += len(requests) - accepted
            logger.warning("outbox refused %d of %d requests (shut down)", len(requests) - accepted, len(requests))
