"""The client side assembled: pipeline + outbox + sender in one :class:`Client`, for backfill, watch and live use.

Nothing here is built unless the user opted in (``HIVE_OTEL_ENDPOINT`` set and
``OTEL_SDK_DISABLED`` not true): no outbox file, no thread, no socket.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from hive_otel.client.export import OutboxSender, create_exporter
from hive_otel.client.outbox import Outbox
from hive_otel.client.pipeline import ClientPipeline
from hive_otel.client.redaction import RedactionPolicy, RedactionProcessor
from hive_otel.client.sources.records import HiveRecord, SessionContext
from hive_otel.settings import ClientSettings, opted_in

logger = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.db"


def load_policy(settings: ClientSettings) -> RedactionPolicy:
    """The redaction policy, with the keys the user set in OTEL_RESOURCE_ATTRIBUTES allowed.

    Those keys are the user's own configuration, not Hive content, so they pass the allowlist;
    their values are still masked by ``blocked_values`` like every other allowed value.
    """
    policy = RedactionPolicy.load(settings.policy_path)
    extra = tuple(k for k in settings.resource_attributes if k not in policy.exported_keys)
    if not extra:
        return policy
    return RedactionPolicy.model_validate({**policy.model_dump(), "allowed_keys": policy.allowed_keys + extra})


class Client:
    """One process's export machinery: the pipeline (map → redact → encode → outbox) and the sender.

    Every driver runs the same loop body, :meth:`step`: the live hook on what its bus queue holds
    (:class:`LiveExport`), ``watch`` on what each poll of Hive's files finds, ``backfill`` once on the
    whole history. Each ends with :meth:`finish`, then :meth:`shutdown`. One thread drives a client.
    ``join_window_ns=None`` keeps every call waiting for its other half until ``finish()`` (backfill);
    ``make_room(bytes)``, called before requests go into the outbox, may wait for the sender (backfill; the
    outbox then refuses the newest requests over its cap rather than drop what it holds).
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        join_window_ns: int | None,
        make_room: Callable[[int], None] | None = None,
    ) -> None:
        if not settings.exporting:
            raise ValueError("hive-otel is not exporting: set HIVE_OTEL_ENDPOINT (and leave OTEL_SDK_DISABLED unset)")
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(settings.state_dir / OUTBOX_FILE, settings.outbox_max_bytes)
        self.redaction = RedactionProcessor(load_policy(settings))
        self._pipeline = ClientPipeline(
            settings, self.outbox, self.redaction, join_window_ns=join_window_ns, make_room=make_room
        )
        self.sender: OutboxSender | None = None
        self._next_heartbeat = -math.inf  # the first one right away: "last seen" starts when export does

    def start_sending(self) -> None:
        """Start the sender thread (and only then open a connection to the endpoint)."""
        if self.sender is None:
            self.sender = OutboxSender(
                self.outbox, create_exporter(self.settings), max_request_bytes=self.settings.max_request_bytes
            )

    @property
    def auth_failure(self) -> str | None:
        """Why the receiver refused our credentials, while it does (then nothing is sent)."""
        return self.sender.auth_failure if self.sender is not None else None

    def step(self, records: Iterable[HiveRecord], *, heartbeat_for: SessionContext | None = None) -> None:
        """One turn of every driver's loop: map ``records``, queue a heartbeat for ``heartbeat_for`` (and
        its running workers) when one is due, release the calls whose partner is late, and move the
        batch into the outbox, waking the sender."""
        self._pipeline.consume(records)
        heartbeat_s = self.settings.heartbeat_s
        if heartbeat_for is not None and heartbeat_s and time.monotonic() >= self._next_heartbeat:
            self._pipeline.heartbeat(heartbeat_for)
            self._next_heartbeat = time.monotonic() + heartbeat_s
        self._pipeline.tick()
        self._pipeline.emit()
        self._wake_sender()

    def checkpoint(self) -> None:
        """Everything mapped so far into the outbox, calls still waiting for a partner sent alone, so
        that a file source may commit its checkpoint (the store merges a late partner by call key)."""
        self._pipeline.checkpoint()
        self._wake_sender()

    def finish(self, records: Iterable[HiveRecord] = ()) -> None:
        """End of input: map the last ``records``, release every waiting call, move all into the outbox."""
        self._pipeline.consume(records)
        self._pipeline.finish()
        self._wake_sender()

    def shutdown(self, timeout_millis: int = 10_000) -> bool:
        """Flush what can be delivered within the timeout; what cannot stays in the outbox for next time."""
        delivered = True
        if self.sender is not None:
            self.sender.notify()
            delivered = self.sender.force_flush(timeout_millis)
            self.sender.shutdown(timeout_millis=1000)
        self.outbox.shutdown()
        return delivered

    def counters(self) -> dict[str, Any]:
        return {
            "mapping": dict(self._pipeline.mapper.counters),
            "joins": self._pipeline.mapper.join_counters,
            "pipeline": dict(self._pipeline.counters),
            "redaction": dict(self.redaction.counters),
            "outbox": self.outbox.counters(),
            "sender": self.sender.counters() if self.sender is not None else {},
        }

    def _wake_sender(self) -> None:
        if self.sender is not None:
            self.sender.notify()


EXIT_FLUSH_MILLIS = 2000
"""How long a process that exits without :meth:`LiveExport.shutdown` waits for delivery at exit (then up to
1 s more for a request in flight); what is not delivered stays in the outbox."""


class LiveExport:
    """What :func:`instrument` returns: the bus subscription plus the thread that exports it."""

    def __init__(self, instrumentation: Any, client: Client | None) -> None:
        self.instrumentation = instrumentation
        self.client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if client is not None:
            client.start_sending()
            self._thread = threading.Thread(target=self._run, name="hive-otel-live", daemon=True)
            self._thread.start()
            # As the OpenTelemetry SDK's providers do (shutdown_on_exit): a process that ends without
            # shutdown() still moves the events its hook holds into the outbox, rather than lose them.
            # What is not delivered in time stays there for the next run.
            self._pid = os.getpid()
            atexit.register(self._shutdown_at_exit)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def _run(self) -> None:
        assert self.client is not None
        while not self._stop.is_set():
            records = self.instrumentation.drain(4096)
            try:
                self.client.step(records, heartbeat_for=self.instrumentation.context)
            except Exception:  # never let one bad record stop live export; the pipeline kept the records
                logger.exception("hive-otel live export step failed; trying again in 1 s")
                self._stop.wait(1.0)
            if not records:
                self._stop.wait(0.2)

    def _shutdown_at_exit(self) -> None:
        # Not in a child forked from this process: it inherited the pipeline, the outbox's connection and
        # locks, but not the threads; it would queue the parent's records twice, or wait on a lock for good.
        if os.getpid() == self._pid:
            self.shutdown(EXIT_FLUSH_MILLIS)

    def shutdown(self, timeout_millis: int = 10_000) -> bool:
        """Unsubscribe, export what was seen, and flush within the timeout. Safe to call twice."""
        if self.instrumentation is not None:
            self.instrumentation.uninstrument()
        if self.client is None or self._stop.is_set():
            return True
        atexit.unregister(self._shutdown_at_exit)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + timeout_millis / 1000
        self.client.finish(self.instrumentation.drain(1 << 30))
        remaining = max(0, int((deadline - time.monotonic()) * 1000))
        return self.client.shutdown(remaining)


def instrument(
    event_bus: Any,
    *,
    session_id: str,
    queen_id: str | None = None,
    colony_id: str | None = None,
    settings: ClientSettings | None = None,
    via: Literal["subscribe", "publish"] = "publish",
) -> LiveExport:
    """Export a live Hive EventBus. Without HIVE_OTEL_ENDPOINT this hooks nothing.

    ``via="publish"`` (the default) wraps this bus instance's ``publish`` and enqueues after Hive's own
    publish returns: about 0.4 µs per event on the runtime thread. ``via="subscribe"`` uses the bus's
    public subscribe API instead, but Hive runs every subscriber through ``asyncio.wait_for`` inside
    ``gather``, which costs the runtime thread about 23 µs per event whatever the handler does
    (bench/bench_instrument.py).
    """
    from hive_otel.client.sources.live import instrument as subscribe

    if settings is None and opted_in():
        settings = ClientSettings.from_env()
    if settings is None or not settings.exporting:
        logger.info("hive-otel: HIVE_OTEL_ENDPOINT not set (or OTEL_SDK_DISABLED); not instrumenting")
        return LiveExport(None, None)
    # The bus carries no L3 lines, so here a call never meets its other half: waiting for it only held
    # every call in memory for the window, lost when the process was killed. It goes out at the next step;
    # a watch or backfill of the same home joins the halves, and the store merges by call key.
    client = Client(settings, join_window_ns=0)
    instrumentation = subscribe(
        event_bus,
        session_id=session_id,
        queen_id=queen_id,
        colony_id=colony_id,
        queue_size=settings.queue_size,
        via=via,
        stream_states=True,
    )
    return LiveExport(instrumentation, client)
