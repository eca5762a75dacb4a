"""Pairs the event half and the log half of each call so that every call is exported once.

No clock and no I/O: callers pass ``now_ns``. A half waits up to ``window_ns`` for its partner; a
backfill passes ``window_ns=None`` and releases everything at ``flush()``, after all files are read.
A partner that turns up after its half was released is exported on its own with the same call key,
and the store merges the two by key. A bounded number of pending halves keeps memory flat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from hive_otel.client.mapping.calls import SOURCE_EVENT

T = TypeVar("T")


class CallJoiner(Generic[T]):
    def __init__(
        self,
        merge: Callable[[T, T], T],
        window_ns: int | None,
        max_pending: int = 200_000,
    ) -> None:
        self._merge = merge
        self._window_ns = window_ns
        self._max_pending = max_pending
        # call key → (event half, log half, first seen); dicts keep insertion order = age order.
        self._pending: dict[str, tuple[T | None, T | None, int]] = {}
        self.merged = 0
        self.released_alone = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, key: str, half: T, source: str, now_ns: int) -> T | None:
        """Offer one half; returns the merged call when its partner was already waiting."""
        waiting = self._pending.pop(key, None)
        if waiting is None:
            pair = (half, None, now_ns) if source == SOURCE_EVENT else (None, half, now_ns)
            self._pending[key] = pair
            return None
        event_half, log_half, _ = waiting
        if source == SOURCE_EVENT:
            if event_half is not None:  # the same half twice (a replayed line): keep waiting
                self._pending[key] = waiting
                return None
            event_half = half
        else:
            if log_half is not None:
                self._pending[key] = waiting
                return None
            log_half = half
        self.merged += 1
        return self._merge(event_half, log_half)  # type: ignore[arg-type]

    def expired(self, now_ns: int) -> list[T]:
        """Halves whose partner did not arrive within the window, plus the oldest beyond the cap."""
        over_cap = len(self._pending) - self._max_pending
        deadline = None if self._window_ns is None else now_ns - self._window_ns
        expired_keys = []
        for key, (_, _, first_seen) in self._pending.items():  # oldest first
            # Seen "after" now: the wall clock stepped back since. Waiting for now to catch up would hold
            # this half, and every one behind it, for the whole step; it goes out alone instead.
            if len(expired_keys) < over_cap or (deadline is not None and not deadline < first_seen <= now_ns):
                expired_keys.append(key)
            else:
                break
        return [self._release(self._pending.pop(key)) for key in expired_keys]

    def flush(self) -> list[T]:
        out = [self._release(pair) for pair in self._pending.values()]
        self._pending.clear()
        return out

    # Releasing in one pass, not by popping the oldest key again and again: a dict drained from the
    # front is walked past every deleted slot by each next(iter()), which made a backfill's flush of
    # ~30k halves quadratic (5% of the whole pipeline).
    def _release(self, pair: tuple[T | None, T | None, int]) -> T:
        event_half, log_half, _ = pair
        self.released_alone += 1
        return event_half if event_half is not None else log_half  # type: ignore[return-value]
