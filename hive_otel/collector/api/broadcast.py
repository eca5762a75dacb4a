"""In-process fan-out of live status events to SSE subscribers, with a bounded replay buffer.

The receiver's ingest publishes here after the store acknowledged a request (not by polling the
store); each subscriber is an asyncio queue on the web server's event loop, fed thread-safely from
the ingest threads. Every event gets an id ``<epoch>-<n>``: ``n`` grows by one per event in this
process and ``epoch`` names the process, so a client reconnecting with ``Last-Event-ID`` gets what
it missed from the per-tenant ring buffer, or a ``gap`` event when the buffer no longer holds it
(or the collector restarted). A subscriber that cannot keep up is closed rather than allowed to
grow without bound; the client reconnects and resumes. An item already published for the tenant (a
request the client sent again after a lost acknowledgement, a replay) is not published twice.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALL_TENANTS", "MAX_STREAMS_PER_TENANT", "Broadcaster", "LiveEvent", "Subscription"]

ALL_TENANTS = "*"
"""Tenant of the events only operators see (global quota crossings: every tenant's spend), and scope of
an operator's stream."""

MAX_STREAMS_PER_TENANT = 64
"""Live streams one tenant (or the operators) may hold open at once: each holds a socket, and one
tenant must not take the descriptors every other tenant's ingest needs."""

DEFAULT_BUFFER_PER_TENANT = 2048
DEFAULT_SUBSCRIBER_QUEUE = 4096
# Items of each tenant remembered to drop them when a request comes again: twice what the buffer holds, as
# a retry can come after a timeout of many seconds on a busy tenant (about 76 bytes an item: ~300 KB).
DEFAULT_SEEN_PER_TENANT = 4096
# Tenants whose events are buffered at once (an operator's stream wants every tenant's): past this, the
# tenant that published least recently lets its buffer go, and a resume of its stream gets a gap. A
# buffer and its remembered items take up to ~2 MB, so memory stays bounded however many tenants send.
MAX_BUFFERED_TENANTS = 256
DEFAULT_RETAIN_S = 300.0  # keep buffering a tenant this long after its last subscriber left (for resume)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event on the SSE streams; ``data`` is its JSON payload."""

    seq: int
    epoch: str
    tenant: str
    category: str  # phase | task | llm_stream | tool | worker | trigger | health | quota
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.epoch}-{self.seq}"


@dataclass(eq=False)
class Subscription:
    """One SSE client: the events for its tenant (or every tenant), as they are published."""

    tenant: str  # ALL_TENANTS for an operator
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[LiveEvent | None] = field(default_factory=lambda: asyncio.Queue(DEFAULT_SUBSCRIBER_QUEUE))
    overflowed: bool = False

    def sees(self, tenant: str) -> bool:
        # Events of ALL_TENANTS (a global budget's crossings) carry every tenant's spend: operators only,
        # as GET /api/quotas keeps them from tenants.
        return self.tenant in (ALL_TENANTS, tenant)

    def _offer(self, event: LiveEvent | None) -> None:  # runs on the subscriber's loop
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the stream ends; the client resumes from its Last-Event-ID
            self.queue.get_nowait()
            self.queue.put_nowait(None)


class Broadcaster:
    """Thread-safe publish; async subscribe. ``counters`` says what was published and dropped."""

    def __init__(
        self,
        buffer_per_tenant: int = DEFAULT_BUFFER_PER_TENANT,
        seen_per_tenant: int = DEFAULT_SEEN_PER_TENANT,
        max_tenants: int = MAX_BUFFERED_TENANTS,
        retain_s: float = DEFAULT_RETAIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.epoch = format(time.time_ns() // 1_000_000, "x")
        self._seq = itertools.count(1)
        self._buffer_size = buffer_per_tenant
        self._retain_s = retain_s
        self._clock = clock
        self._lock = threading.Lock()
        self._buffers: dict[str, deque[LiveEvent]] = {}
        self._evicted: dict[str, int] = {}  # tenant → seq of the newest event its buffer let go
        self._seen_size = seen_per_tenant
        self._max_tenants = max_tenants
        self._seen: dict[str, _SeenItems] = {}
        self._subscriptions: set[Subscription] = set()
        self._watched_until: dict[str, float] = {}  # tenant → until when its events are worth keeping
        self.counters = {"published": 0, "delivered": 0, "duplicates_dropped": 0, "subscribers_overflowed": 0}

    # -- publishing (any thread) ------------------------------------------------------------------
    def wants(self, tenant: str) -> bool:
        """Whether events of ``tenant`` would reach anyone (now, or on a resume soon): callers skip
        building them otherwise, so ingest pays nothing while nobody watches."""
        now = self._clock()
        return any(self._watched_until.get(t, 0.0) >= now for t in (tenant, ALL_TENANTS))

    def publish(self, tenant: str, items: Iterable[tuple[str, dict[str, Any]]]) -> list[LiveEvent]:
        """Number, buffer and deliver ``(category, data)`` items of ``tenant``, but those already published."""
        published: list[LiveEvent] = []
        with self._lock:
            buffer = self._buffers.pop(tenant, None)  # put back last: the dict's order is the publishing order
            if buffer is None:
                buffer = deque(maxlen=self._buffer_size)
                self._seen[tenant] = _SeenItems(self._seen_size)
                if len(self._buffers) >= self._max_tenants:
                    self._let_go(next(iter(self._buffers)))
            self._buffers[tenant] = buffer
            seen = self._seen[tenant]
            for category, data in items:
                if not seen.add(hash((category, json.dumps(data, sort_keys=True)))):
                    self.counters["duplicates_dropped"] += 1
                    continue
                event = LiveEvent(next(self._seq), self.epoch, tenant, category, data)
                if len(buffer) == self._buffer_size:
                    self._evicted[tenant] = buffer[0].seq
                buffer.append(event)
                published.append(event)
            targets = [s for s in self._subscriptions if s.sees(tenant)]
            self.counters["published"] += len(published)
        for subscription in targets:
            for event in published:
                subscription.loop.call_soon_threadsafe(subscription._offer, event)
            self.counters["delivered"] += len(published)
        return published

    def _let_go(self, tenant: str) -> None:
        """Drop ``tenant``'s buffer and remembered items (under the lock); a resume past them gets a gap."""
        buffer = self._buffers.pop(tenant)
        del self._seen[tenant]
        if buffer:
            self._evicted[tenant] = buffer[-1].seq

    # -- subscribing (the web server's loop) --------------------------------------------------------
    def streams(self, tenant: str) -> int:
        """How many streams of ``tenant`` (``ALL_TENANTS``: the operators') are open."""
        with self._lock:
            return sum(1 for s in self._subscriptions if s.tenant == tenant)

    def subscribe(self, tenant: str, last_event_id: str | None) -> tuple[Subscription, list[LiveEvent], bool]:
        """Register a subscriber; returns it, the buffered events after ``last_event_id`` and whether
        some events after it may have been lost (the buffer moved on, or another process epoch)."""
        subscription = Subscription(tenant, asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(subscription)
            self._watched_until[tenant] = float("inf")
            replay, gap = self._since(tenant, last_event_id)
        return subscription, replay, gap

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)
            if subscription.overflowed:
                self.counters["subscribers_overflowed"] += 1
            if not any(s.tenant == subscription.tenant for s in self._subscriptions):
                self._watched_until[subscription.tenant] = self._clock() + self._retain_s

    def _since(self, tenant: str, last_event_id: str | None) -> tuple[list[LiveEvent], bool]:
        if last_event_id is None:
            return [], False
        epoch, _, seq_text = last_event_id.strip().rpartition("-")
        try:
            after = int(seq_text)
        except ValueError:
            return [], True
        tenants = list(self._buffers) if tenant == ALL_TENANTS else [tenant]
        same_epoch = epoch == self.epoch
        events = sorted(
            (e for t in tenants for e in self._buffers.get(t, ()) if not same_epoch or e.seq > after),
            key=lambda e: e.seq,
        )
        lost = not same_epoch or max((self._evicted.get(t, 0) for t in tenants), default=0) > after
        return events, lost


class _SeenItems:
    """The hashes of the last ``size`` items published for one tenant."""

    def __init__(self, size: int) -> None:
        self._order: deque[int] = deque()
        self._hashes: set[int] = set()
        self._size = size

    def add(self, item_hash: int) -> bool:
        """Remember ``item_hash``; False if it was remembered already."""
        if item_hash in self._hashes:
            return False
        if len(self._order) == self._size:
            self._hashes.discard(self._order.popleft())
        self._order.append(item_hash)
        self._hashes.add(item_hash)
        return True
