"""Group commit: export requests that arrive while the store is busy are written together.

Every insert into ClickHouse has a fixed cost (analysing the materialized views, writing a part per
table) of tens of milliseconds, whatever its size, so a collector that inserted each client request
on its own would spend most of its time on small requests' fixed costs. Callers wait for the store
anyway (they acknowledge only what is stored), so the first caller to get the store's lock writes
every request queued by then, its own included, in one insert; the others find theirs done when they
get the lock. A lone caller pays no delay: nothing waits for company.

A failing group is retried request by request, so one request the store refuses does not fail the
others that happened to share its insert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message


@dataclass
class Pending:
    """One caller's export request, and what became of it."""

    request: Message
    tenant: str | None
    items: int  # spans, log records or points: what the group size is counted in
    batch: int = 0  # set by the writer for each attempt: the id of this request's rows in the insert
    result: Any = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """Runs ``write(group)`` under ``lock`` for queued requests, up to ``max_items`` per group."""

    def __init__(self, lock: threading.RLock, write: Callable[[list[Pending]], None], max_items: int) -> None:
        self._lock = lock
        self._write = write
        self._max_items = max_items
        self._queue: list[Pending] = []
        self._queue_lock = threading.Lock()

    def submit(self, pending: Pending) -> Any:
        """Store ``pending`` (alone or with others); its result, or the exception it failed with."""
        with self._queue_lock:
            self._queue.append(pending)
        with self._lock:
            while not pending.done:
                self._run(self._take())
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _take(self) -> list[Pending]:
        with self._queue_lock:
            group, items = [], 0
            while self._queue and (not group or items + self._queue[0].items <= self._max_items):
                items += self._queue[0].items
                group.append(self._queue.pop(0))
            return group

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
