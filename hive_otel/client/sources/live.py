"""The live source: events from a running Hive EventBus, handed off the runtime's thread.

On the runtime's thread the hook only appends the event object to a bounded in-memory queue: no
conversion, no I/O, no locks, never raises, never waits; a full queue drops the event and counts it.
Everything else happens in :meth:`Instrumentation.drain`, called from the export worker's thread:
streaming text deltas are discarded there (never exported, seed §8.1) and each event becomes a
:class:`HiveRecord` holding exactly what Hive would have written to ``events.jsonl``. With
``stream_states=True`` (what :func:`hive_otel.instrument` asks for) the first delta of each run on a
stream is kept as a bare record (type, ids and time, no text), so the mapping can tell when a stream
starts thinking or typing (S3) without seeing a record per token.

The hook is meant for a queen session's bus, and its records say ``queen`` until the bus shows it is a
graph agent's (AgentLoader → AgentHost): from the event that shows it on, they say ``agent``, as a
backfill of the agent's run logs does (see :func:`_shows_a_graph_agent`).

Two ways to hook the bus (``via``):

- ``"subscribe"`` (default): an async subscriber to every EventType, the bus's public API. Hive runs
  each subscriber through ``asyncio.wait_for`` inside ``asyncio.gather``, which costs about 25 µs per
  event on the runtime thread whatever the handler does.
- ``"publish"``: wraps this bus instance's ``publish`` and enqueues after Hive's own publish returns;
  about 0.2 µs per event. Hook the session's real bus, not a ``StreamEventBus`` proxy (the proxies
  forward to the real bus's ``publish``, so they are covered).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import replace
from typing import Any, Literal

from hive_otel.attributes import ROLE_AGENT, ROLE_QUEEN
from hive_otel.client.sources.files import decode_json
from hive_otel.client.sources.layout import SafeHome, session_parents, with_lineage
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext
from hive_otel.settings import ClientSettings

__all__ = ["STREAMING_DELTA_TYPES", "Instrumentation", "instrument"]

logger = logging.getLogger(__name__)

STREAMING_DELTA_TYPES = frozenset({"llm_text_delta", "llm_reasoning_delta", "client_output_delta"})
"""LLM output streamed chunk by chunk (the queen's arrives as client_output_delta): never exported."""

# Diagnostic-only event data Hive strips from events.jsonl (event_bus._DISK_STRIPPED_DATA_FIELDS:
# the whole prompt, ~280 KB a tick). Stripped here too, so a live record equals the file record.
_DISK_STRIPPED_DATA_FIELDS = ("full_request",)


class Instrumentation:
    """A hook on one EventBus. Counters are plain ints, read from any thread."""

    def __init__(self, event_bus: Any, context: SessionContext, queue_size: int, stream_states: bool = False) -> None:
        self.event_bus = event_bus
        self.context = context
        self.queue_size = queue_size
        self.stream_states = stream_states
        self._delta_run: dict[Any, Any] = {}  # stream id → type of the delta run it is in
        self.dropped = 0  # events lost to a full queue (runtime thread)
        self.records = 0  # events handed out by drain()
        self.deltas_dropped = 0  # streaming deltas discarded by drain()
        self.conversion_errors = 0  # events drain() could not turn into JSON
        self._queue: deque[Any] = deque()
        self._active = True
        self._subscription: str | None = None
        self._previous_publish: Any = None  # via="publish": the bus's own publish, to restore

    @property
    def counters(self) -> dict[str, int]:
        return {
            "queued": len(self._queue),
            "dropped": self.dropped,
            "records": self.records,
            "deltas_dropped": self.deltas_dropped,
            "conversion_errors": self.conversion_errors,
        }

    def _enqueue(self, event: Any) -> None:
        """Runs on the runtime's thread for every event: append or count a drop, nothing more."""
        try:
            if len(self._queue) < self.queue_size:
                self._queue.append(event)
            else:
                self.dropped += 1
        except Exception:  # nothing of ours may ever reach Hive's publisher
            self.dropped += 1

    async def _on_event(self, event: Any) -> None:
        if self._active:
            self._enqueue(event)

    def drain(self, max_items: int = 4096) -> list[HiveRecord]:
        """Take up to ``max_items`` events off the queue and convert them (call off the runtime thread)."""
        out: list[HiveRecord] = []
        queue = self._queue
        for _ in range(max_items):
            try:
                event = queue.popleft()
            except IndexError:
                break
            if event.type in STREAMING_DELTA_TYPES:
                if self.stream_states and self._delta_run.get(event.stream_id) != event.type:
                    self._delta_run[event.stream_id] = event.type
                    out.append(HiveRecord(RecordKind.EVENT, _delta_marker(event), self.context))
                else:
                    self.deltas_dropped += 1
                continue
            if self._delta_run:
                self._delta_run.pop(event.stream_id, None)
            if self.context.agent_role == ROLE_QUEEN and _shows_a_graph_agent(event):
                self.context = replace(self.context, agent_role=ROLE_AGENT)
            try:
                data = _as_written(event)
            except Exception as err:
                self.conversion_errors += 1
                logger.warning("event %r could not be converted (%s); skipped", getattr(event, "type", "?"), err)
                continue
            out.append(HiveRecord(RecordKind.EVENT, data, self.context))
        self.records += len(out)
        return out

    def uninstrument(self) -> None:
        """Stop receiving events (idempotent). Events already queued can still be drained."""
        if not self._active:
            return
        self._active = False
        bus = self.event_bus
        if self._subscription is not None:
            bus.unsubscribe(self._subscription)
            self._subscription = None
        if self._previous_publish is not None:
            if getattr(bus.publish, "__hive_otel_hook__", None) is self:
                if self._previous_publish is _CLASS_METHOD:
                    del bus.publish
                else:
                    bus.publish = self._previous_publish
            # else someone wrapped publish after us: our wrapper stays in their chain, inert.
            self._previous_publish = None


_CLASS_METHOD = object()  # marks "publish was the class's own method", restored by deleting ours

# What ExecutionManager, a graph agent's AgentHost, publishes as its run stream starts and as each run
# starts, before any node's event; in aden-hive 1.0.12 nothing else publishes either.
_GRAPH_AGENT_EVENT_TYPES = frozenset({"stream_started", "execution_started"})


def _shows_a_graph_agent(event: Any) -> bool:
    """Whether ``event`` shows the bus is a graph agent's: its run stream or a run starting, on an entry
    point's stream ("default"), not a queen's ("queen") or a worker's ("worker", "worker:<id>"), which
    keeps a queen's bus that a test or another host feeds an ``execution_started`` a queen's."""
    stream = event.stream_id
    return (
        event.type in _GRAPH_AGENT_EVENT_TYPES
        and isinstance(stream, str)
        and stream not in ("queen", "worker")
        and not stream.startswith("worker:")
    )


def _delta_marker(event: Any) -> dict[str, Any]:
    """The first delta of a run without its text: enough to say the stream began thinking or typing."""
    return {
        "type": event.type.value,
        "stream_id": event.stream_id,
        "node_id": event.node_id,
        "execution_id": event.execution_id,
        "timestamp": event.timestamp.isoformat(),
        "colony_id": event.colony_id,
    }


def _as_written(event: Any) -> dict[str, Any]:
    """``event.to_dict()`` as Hive writes it to events.jsonl: stripped, and JSON all the way down."""
    d = event.to_dict()
    data = d.get("data")
    if isinstance(data, dict) and any(k in data for k in _DISK_STRIPPED_DATA_FIELDS):
        d["data"] = {k: v for k, v in data.items() if k not in _DISK_STRIPPED_DATA_FIELDS}
    # Hive serialises with default=str; round-tripping gives the mapping the same plain JSON
    # values it gets from files (and a copy the runtime can no longer mutate), read as files are.
    return decode_json(json.dumps(d, default=str).encode())  # type: ignore[return-value]


def instrument(
    event_bus: Any,
    *,
    session_id: str,
    queen_id: str | None = None,
    colony_id: str | None = None,
    settings: ClientSettings | None = None,
    queue_size: int | None = None,
    via: Literal["subscribe", "publish"] = "subscribe",
    stream_states: bool = False,
) -> Instrumentation:
    """Hook hive-otel onto a live ``framework.host.event_bus.EventBus`` of one queen session.

    Records carry ``SessionContext(session_id, queen_id, colony_id)`` with the session's lineage from
    the meta.json files under HIVE_HOME (so a fork or a colony's usage rolls up to its DM session);
    events of the session's workers (``stream_id`` ``worker:<id>``) are refined by the mapping. ``queue_size`` defaults to
    ``settings.queue_size`` (``HIVE_OTEL_QUEUE_SIZE``). ``stream_states`` keeps the first delta of
    each run as a text-free record (see the module docstring).
    """
    settings = settings or ClientSettings.from_env()
    if queue_size is None:
        queue_size = settings.queue_size
    if queue_size <= 0:
        raise ValueError(f"queue_size must be positive, got {queue_size}")
    # Who this session came from (a fork, a colony's DM, ...) is in the meta.json files under HIVE_HOME.
    context = with_lineage(
        SessionContext(session_id=session_id, queen_id=queen_id, colony_id=colony_id),
        session_parents(SafeHome(settings.hive_home)),
    )
    hook = Instrumentation(event_bus, context, queue_size, stream_states)
    if via == "subscribe":
        from framework.host.event_bus import EventType

        hook._subscription = event_bus.subscribe(list(EventType), hook._on_event)
    elif via == "publish":
        _wrap_publish(event_bus, hook)
    else:
        raise ValueError(f"via must be 'subscribe' or 'publish', got {via!r}")
    return hook


def _wrap_publish(event_bus: Any, hook: Instrumentation) -> None:
    publish = event_bus.publish
    enqueue = hook._enqueue

    async def publish_and_enqueue(event: Any) -> None:
        await publish(event)  # Hive's own publish: its exceptions are Hive's, passed on unchanged
        if hook._active:
            enqueue(event)  # after publish, so the event carries its seq

    publish_and_enqueue.__hive_otel_hook__ = hook  # type: ignore[attr-defined]
    hook._previous_publish = event_bus.__dict__.get("publish", _CLASS_METHOD)
    event_bus.publish = publish_and_enqueue
