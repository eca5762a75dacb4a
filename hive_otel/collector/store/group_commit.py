"""Group commit: export requests that arrive while the store is busy are written together.

Every insert into ClickHouse has a fixed cost (analysing the materialized views, writing a part per
table) of tens of milliseconds, whatever its size, so a collector that inserted each client request
on its own would spend most of its time on small requests' fixed costs. Callers wait for the store
anyway (they acknowledge only what is stored), so the first caller to get the store's lock writes
every request queued by then, its own included, in one insert; the others find theirs done when they
get the lock. Under load, the writer also waits a little for company (at most ``LINGER_S``, as the
Collector's batch processor waits for its batch): when several callers were waiting at once during the
last insert, those it just answered send their next request within milliseconds, and waiting until as
many are queued again puts them all in one insert rather than in two alternating halves, so each
insert's fixed cost is shared by twice the spans. A lone caller pays no delay, but for one wait right
after a burst.

A failing group is retried request by request, so one request the store refuses does not fail the
others that happened to share its insert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

# The longest the writer waits for company under load. An insert of Hive's requests takes a few hundred
# milliseconds and a client's next request arrives within ~100 ms of its acknowledgement. Measured with
# the end-to-end round of bench/_ingest_split.py (8 senders, 26 requests), alternating: 50 ms filled the
# groups in two rounds of three, 100 and 200 ms in all three.
LINGER_S = 0.1


@dataclass
class Pending:
    """One caller's export request, and what became of it."""

    request: Message
    tenant: str | None
    items: int  # spans, log records or points: what the group size is counted in
    wire: bytes | None = None  # the bytes ``request`` was parsed from, when the receiver has them
    batch: int = 0  # set by the writer for each attempt: the id of this request's rows in the insert
    result: Any = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """Runs ``write(group)`` under ``lock`` for queued requests, up to ``max_items`` per group."""

    def __init__(
        self, lock: threading.RLock, write: Callable[[list[Pending]], None], max_items: int, linger_s: float = LINGER_S
    ) -> None:
        self._lock = lock
        self._write = write
        self._max_items = max_items
        self._linger_s = linger_s
        self._queue: list[Pending] = []
        self._arrived = threading.Condition()  # guards the queue and the counts; notified on each request
        self._waiting = 0  # callers in submit(): queued, or in the group being written
        self._company = 1  # the most callers waiting at once since the last group was taken

    def submit(self, pending: Pending) -> Any:
        """Store ``pending`` (alone or with others); its result, or the exception it failed with."""
        with self._arrived:
            self._queue.append(pending)
            self._waiting += 1
            self._company = max(self._company, self._waiting)
            self._arrived.notify()
        try:
            with self._lock:
                while not pending.done:
                    self._run(self._take())
        finally:
            with self._arrived:
                self._waiting -= 1
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _take(self) -> list[Pending]:
        with self._arrived:
            if self._company > 1:
                self._arrived.wait_for(self._full, timeout=self._linger_s)
            group, items = [], 0
            while self._queue and (not group or items + self._queue[0].items <= self._max_items):
                items += self._queue[0].items
                group.append(self._queue.pop(0))
            self._company = self._waiting  # this group's callers and those still queued; submit() adds the next
            return group

    def _full(self) -> bool:
        """As many requests queued as callers were waiting at once during the last insert, or a group's worth."""
        return len(self._queue) >= self._company or sum(p.items for p in self._queue) >= self._max_items

    def _run(self, group: list[Pending]) -> None:
        try:
            self._write(group)
        except Exception as exc:
            if len(group) > 1:
                for pending in group:
                    self._run([pending])
                return
            group[0].error = exc
        for pending in group:
            pending.done = True
