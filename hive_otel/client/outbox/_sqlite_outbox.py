"""A durable, bounded queue of encoded OTLP export requests in one SQLite file."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hive_otel.client.outbox._schema import COUNTERS, DDL, SCHEMA_VERSION, SEQ_INDEX, SEQ_MIGRATION, TOTALS

_log = logging.getLogger(__name__)

Signal = Literal["traces", "metrics", "logs"]
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# The longest a request waits for its retry time, whoever asked for more (a receiver's Retry-After,
# a value an older version stored): one "Retry-After: inf" from a proxy must not park the queue for good.
MAX_RETRY_DELAY_S = 300.0
_BUSY_TIMEOUT_MS = 10_000  # another process (backfill, doctor) may hold the write lock briefly


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One pending export request, as :meth:`Outbox.due` hands it to the sender."""

    id: int
    signal: Signal
    body: bytes
    item_count: int
    created_at: float
    attempts: int  # failed delivery attempts so far
    next_attempt_at: float
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A request the receiver refused for good, kept for inspection."""

    id: int
    signal: Signal
    body: bytes
    item_count: int
    created_at: float
    attempts: int
    reason: str
    dead_at: float


class Outbox:
    """Durable queue of encoded OTLP export requests (``HIVE_HOME/otel/outbox.db``).

    A request is written here before anything is sent and removed only when the receiver
    acknowledged it, so a crash, a ``kill -9`` or a long outage loses nothing that
    :meth:`enqueue` accepted; at worst a request is sent twice and the collector recognises its ids.

    Size cap policy: ``max_bytes`` bounds the stored request bodies, pending and dead-lettered
    together (the file is somewhat larger: indexes, free pages, the WAL). When a new request would
    push the total past the cap, room is made by deleting, in this order, the oldest dead letters
    (counted as ``dead_letters_evicted``; they will never be delivered anyway) and then the oldest
    pending requests (counted as ``dropped_full``). Newest data wins because it describes the
    current state and is what an operator looks at first. A single request larger than the cap is
    refused and counted as ``dropped_full``; it never evicts anything.

    Delivery order: :meth:`due` returns requests in enqueue order and stops at the first one that
    is still waiting for its retry time, so the receiver sees requests in the order they were written.
    :meth:`split` replaces a request by its parts in the same place (a receiver refused it as too
    large); :meth:`requeue_dead` puts dead letters back in their original place.

    Retry times are capped at :data:`MAX_RETRY_DELAY_S` from now when written, and when the file is
    opened (a file written by an older version may hold later ones). They are wall-clock times, so a
    step of the clock moves them: after a step forward they are due at once; after a step back, a
    retry time more than the cap ahead is due, and a request that never failed is always due, so a
    step back holds the queue no longer than the cap.

    Lifecycle, as the OpenTelemetry SDK's batch processor: bounded, drop-and-count when full or
    after :meth:`shutdown`, and ``shutdown`` is idempotent. After shutdown, :meth:`enqueue` drops
    and counts (``dropped_after_shutdown``), :meth:`due` returns nothing and acknowledgements are
    ignored (the request stays stored and is sent again by the next run).

    Thread-safe: one connection serialised by a lock, used by a writer thread and a sender thread.
    Several processes may open the same file; every write is one ``BEGIN IMMEDIATE`` transaction.
    Counters are lifetime totals stored in the file, except ``dropped_after_shutdown``, which
    belongs to this instance.
    """

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, *, clock: Callable[[], float] = time.time) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._clock = clock  # wall clock (Unix seconds) of created, retry and dead times; tests step it
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        self._dropped_after_shutdown = 0
        self._warned: set[str] = set()  # drop kinds already logged; later drops are only counted
        self._final_stats: dict[str, int] = {}
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is exactly one transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        # Durability choice: in WAL mode a COMMIT has appended the transaction to the -wal file with
        # write() before it returns, so the data sits in the operating system's page cache. Killing
        # the process (kill -9, OOM killer, a crash) does not touch that cache, and the next open
        # replays the WAL: nothing that enqueue() returned for is lost. synchronous=NORMAL only skips
        # the fsync per commit, which matters for power loss or a kernel crash (then the last few
        # commits may roll back, never corrupt). FULL would add an fsync (milliseconds) to every
        # enqueue and ack for a guarantee the issue does not ask for.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._create_schema()

    # ------------------------------------------------------------------ writing

    def enqueue(self, signal: Signal, body: bytes, items: int) -> bool:
        """Store one export request. Returns False when it was dropped (after shutdown, or larger
        than the whole cap); the drop is counted. Raises ``sqlite3.Error`` if the file cannot be
        written (disk full, locked longer than the busy timeout): then nothing was stored."""
        return self.enqueue_many([(signal, body, items)]) == 1

    def enqueue_many(self, requests: Iterable[tuple[Signal, bytes, int]], *, keep_queued: bool = False) -> int:
        """Store ``(signal, body, item_count)`` requests in one transaction; returns how many were
        stored. Drops are counted as in :meth:`enqueue`. ``keep_queued``: over the cap, the newest of
        these requests are refused (counted as dropped) rather than the oldest queued ones dropped: a
        backfill must not push out what an earlier run queued under checkpoints already committed."""
        batch = list(requests)
        for signal, body, items in batch:
            _check_request(signal, body, items)
        with self._lock:
            if self._closed:
                self._dropped_after_shutdown += len(batch)
                self._warn_once("dropped_after_shutdown", "outbox is shut down: dropping export requests")
                return 0
            fitting = [r for r in batch if len(r[1]) <= self.max_bytes]
            oversized = len(batch) - len(fitting)
            now = self._clock()
            with self._transaction() as db:
                first = _reserve_ids(db, len(fitting))
                db.executemany(
                    "INSERT INTO outbox (id, seq, signal, body, item_count, created_at, next_attempt_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (first + n, first + n, signal, body, items, now, now)
                        for n, (signal, body, items) in enumerate(fitting)
                    ],
                )
                _bump(db, enqueued=len(fitting), dropped_full=oversized)
                refused = self._evict_to_cap(db, newest_from=first if keep_queued else None)
        if oversized:
            self._warn_once("oversized", f"outbox: dropping requests larger than the {self.max_bytes}-byte cap")
        return len(fitting) - refused if keep_queued else len(fitting)

    def ack(self, ids: Iterable[int]) -> None:
        """Forget requests the receiver acknowledged."""
        rows = [(i,) for i in ids]
        with self._lock:
            if self._closed or not rows:
                return
            with self._transaction() as db:
                # rowcount sums the deleted rows and leaves out the triggers' stat updates.
                deleted = db.executemany("DELETE FROM outbox WHERE id = ?", rows).rowcount
                _bump(db, acked=deleted)

    def retry_later(self, id: int, delay_s: float, reason: str) -> None:
        """Record a failed attempt; the request becomes due again ``delay_s`` seconds from now."""
        with self._lock:
            if self._closed:
                return
            with self._transaction() as db:
                changed = db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                    "WHERE id = ?",
                    (self._clock() + min(max(0.0, delay_s), MAX_RETRY_DELAY_S), reason, id),
                ).rowcount
                _bump(db, retried=changed)

    def dead_letter(self, id: int, reason: str) -> None:
        """Move a request the receiver refused for good to the dead-letter table, with the reason."""
        with self._lock:
            if self._closed:
                return
            with self._transaction() as db:
                moved = db.execute(
                    "INSERT INTO dead_letter "
                    "(id, signal, body, item_count, created_at, attempts, reason, dead_at) "
                    "SELECT id, signal, body, item_count, created_at, attempts + 1, ?, ? "
                    "FROM outbox WHERE id = ?",
                    (reason, self._clock(), id),
                ).rowcount
                db.execute("DELETE FROM outbox WHERE id = ?", (id,))
                _bump(db, dead_lettered=moved)

    def add_dead_letter(self, signal: Signal, body: bytes, items: int, reason: str) -> None:
        """Store a request that can never be delivered (one item over the request size limit) as a
        dead letter straight away, so that it is counted, shown and can be re-queued like any other."""
        _check_request(signal, body, items)
        with self._lock:
            if self._closed:
                self._dropped_after_shutdown += 1
                return
            now = self._clock()
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO dead_letter (id, signal, body, item_count, created_at, attempts, reason, dead_at) "
                    "VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                    (_reserve_ids(db, 1), signal, body, items, now, reason, now),
                )
                _bump(db, dead_lettered=1)
                self._evict_to_cap(db)

    def split(self, id: int, parts: list[tuple[bytes, int]], reason: str) -> bool:
        """Replace pending request ``id`` by ``parts`` (``(body, item_count)``, in order) at its place
        in the queue, due now. False when the request is no longer pending (acked or evicted)."""
        if not parts:
            raise ValueError("a request splits into at least one part")
        with self._lock:
            if self._closed:
                return False
            with self._transaction() as db:
                row = db.execute("SELECT signal, seq, created_at FROM outbox WHERE id = ?", (id,)).fetchone()
                if row is None:
                    return False
                signal, seq, created_at = row
                (next_seq,) = db.execute("SELECT min(seq) FROM outbox WHERE seq > ?", (seq,)).fetchone()
                step = ((next_seq if next_seq is not None else seq + 1) - seq) / len(parts)
                first, now = _reserve_ids(db, len(parts)), self._clock()
                db.execute("DELETE FROM outbox WHERE id = ?", (id,))
                db.executemany(
                    "INSERT INTO outbox (id, seq, signal, body, item_count, created_at, next_attempt_at, last_error) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (first + n, seq + n * step, signal, body, items, created_at, now, reason)
                        for n, (body, items) in enumerate(parts)
                    ],
                )
                _bump(db, split=1)
        return True

    def retry_now(self) -> int:
        """Make every pending request due now; returns how many were waiting. For the start of a new
        run: the retry times were the previous run's view of the receiver."""
        with self._lock:
            if self._closed:
                return 0
            now = self._clock()
            with self._transaction() as db:
                return db.execute("UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ?", (now, now)).rowcount

    def requeue_dead(self, ids: Iterable[int] | None = None) -> list[int]:
        """Move dead letters (all, or those with ``ids``) back to the queue at their original place,
        with their attempts reset; returns the ids moved, in order (an id that is no dead letter is
        not among them). For after the cause was fixed."""
        where, params = "", ()
        if ids is not None:
            wanted = sorted(set(ids))
            if not wanted:
                return []
            where, params = f" WHERE id IN ({', '.join('?' * len(wanted))})", tuple(wanted)
        with self._lock:
            if self._closed:
                return []
            with self._transaction() as db:
                moved = [row[0] for row in db.execute(f"SELECT id FROM dead_letter{where} ORDER BY id", params)]
                db.execute(
                    "INSERT INTO outbox (id, seq, signal, body, item_count, created_at, next_attempt_at, last_error) "
                    f"SELECT id, id, signal, body, item_count, created_at, ?, reason FROM dead_letter{where}",
                    (self._clock(), *params),
                )
                db.execute(f"DELETE FROM dead_letter{where}", params)
                _bump(db, requeued=len(moved))
        return moved

    # ------------------------------------------------------------------ reading

    def due(self, limit: int, now: float) -> list[OutboxItem]:
        """Up to ``limit`` pending requests in enqueue order, stopping at the first one that must still
        wait (that keeps delivery in order): a failed attempt's retry time is after ``now`` and at most
        :data:`MAX_RETRY_DELAY_S` after it (a later one means the wall clock stepped back: due)."""
        with self._lock:
            if self._closed:
                return []
            rows = self._db.execute(
                "SELECT id, signal, body, item_count, created_at, attempts, next_attempt_at, last_error "
                "FROM outbox ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        items: list[OutboxItem] = []
        for row in rows:
            if _waits(row[5], row[6], now):
                break
            items.append(OutboxItem(*row))
        return items

    def next_attempt_at(self) -> float | None:
        """When the oldest pending request may be sent (Unix seconds, at most now when it is due), or
        None when nothing is pending."""
        with self._lock:
            if self._closed:
                return None
            row = self._db.execute("SELECT attempts, next_attempt_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            return None
        now, at = self._clock(), float(row[1])
        return at if _waits(row[0], at, now) else min(at, now)

    def depth(self) -> tuple[int, int]:
        """Pending requests and their body bytes (dead letters not included)."""
        stats = self._stats()
        return stats["pending_count"], stats["pending_bytes"]

    def counters(self) -> dict[str, int]:
        """Lifetime counters: enqueued, acked, retried, dead_lettered, dropped_full,
        dead_letters_evicted; plus dropped_after_shutdown (this instance) and the dead-letter depth."""
        stats = self._stats()
        out = {name: stats[name] for name in COUNTERS}
        out["dropped_after_shutdown"] = self._dropped_after_shutdown
        out["dead_letter_count"] = stats["dead_count"]
        out["dead_letter_bytes"] = stats["dead_bytes"]
        return out

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""
        with self._lock:
            if self._closed:
                return []
            rows = self._db.execute(
                "SELECT id, signal, body, item_count, created_at, attempts, reason, dead_at "
                "FROM dead_letter ORDER BY dead_at DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    # ------------------------------------------------------------------ lifecycle

    def shutdown(self) -> None:
        """Close the file. Idempotent; later enqueues are dropped and counted."""
        with self._lock:
            if self._closed:
                return
            self._final_stats = self._read_stats()
            self._closed = True
            self._db.close()

    # ------------------------------------------------------------------ internals

    def _create_schema(self) -> None:
        stat_rows = ", ".join(f"('{name}', 0)" for name in (*TOTALS, *COUNTERS))
        latest = self._clock() + MAX_RETRY_DELAY_S
        try:
            self._db.executescript(f"BEGIN IMMEDIATE; {DDL}")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            # execute(), not executescript(), from here on: the latter would COMMIT the open transaction.
            for statement in SEQ_MIGRATION if "seq" not in columns else ():
                self._db.execute(statement)
            self._db.execute(SEQ_INDEX)
            clamped = self._db.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ?", (latest, latest)
            ).rowcount
            self._db.execute(f"INSERT OR IGNORE INTO stat (name, value) VALUES {stat_rows}")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        if clamped:
            _log.warning("outbox: %d retry times were more than %.0f s away; brought forward", clamped, MAX_RETRY_DELAY_S)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a read-then-write (the cap check) cannot be
        # interleaved with another process's write.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _evict_to_cap(self, db: sqlite3.Connection, newest_from: int | None = None) -> int:
        """Back under the cap: the oldest dead letters first, then the oldest pending requests, or with
        ``newest_from`` the newest pending requests from that id on. Returns the pending requests dropped."""
        stats = _read_stats(db)
        excess = stats["pending_bytes"] + stats["dead_bytes"] - self.max_bytes
        if excess <= 0:
            return 0
        evicted_dead, excess = _delete_to_free(db, "dead_letter", excess)
        dropped, excess = _delete_to_free(db, "outbox", excess, newest_from)
        _bump(db, dead_letters_evicted=evicted_dead, dropped_full=dropped)
        if dropped:
            which = "oldest pending" if newest_from is None else "newest"
            self._warn_once("full", f"outbox full ({self.max_bytes} bytes): dropping the {which} requests")
        return dropped

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            _log.warning("%s (logged once; see counters() for how many)", message)

    def _stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._final_stats) if self._closed else self._read_stats()

    def _read_stats(self) -> dict[str, int]:
        return _read_stats(self._db)


def _check_request(signal: str, body: bytes, items: int) -> None:
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    if not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, got {type(body).__name__}")
    if items < 0:
        raise ValueError(f"item count must not be negative, got {items}")


def _waits(attempts: int, next_attempt_at: float, now: float) -> bool:
    """Whether a request must still wait at ``now``. Only one whose attempt failed waits, and no longer
    than :data:`MAX_RETRY_DELAY_S`: a retry time further ahead was written before the wall clock stepped
    back (NTP, a suspended VM), as were the enqueue times of the requests that never failed, which a
    step back puts in the future too. Without this, a step back of an hour held the whole queue for the
    hour, in a long-running process that never calls :meth:`Outbox.retry_now`."""
    return attempts > 0 and now < next_attempt_at <= now + MAX_RETRY_DELAY_S


def _reserve_ids(db: sqlite3.Connection, count: int) -> int:
    """The first of ``count`` new request ids, never used before (AUTOINCREMENT's own counter)."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    last = int(row[0]) if row else 0
    if row:
        db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'", (last + count,))
    else:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (last + count,))
    return last + 1


def _read_stats(db: sqlite3.Connection) -> dict[str, int]:
    return {name: int(value) for name, value in db.execute("SELECT name, value FROM stat")}


def _bump(db: sqlite3.Connection, **deltas: int) -> None:
    db.executemany(
        "UPDATE stat SET value = value + ? WHERE name = ?",
        [(delta, name) for name, delta in deltas.items() if delta],
    )


def _delete_to_free(db: sqlite3.Connection, table: str, excess: int, newest_from: int | None = None) -> tuple[int, int]:
    """Delete rows of ``table`` until ``excess`` bytes are freed, the oldest first, or with ``newest_from``
    the newest first among the ids from it on; returns (rows, still excess)."""
    if excess <= 0:
        return 0, excess
    if newest_from is None:
        select, delete, args = f"SELECT id, length(body) FROM {table} ORDER BY id", f"DELETE FROM {table} WHERE id <= ?", ()
    else:
        select = f"SELECT id, length(body) FROM {table} WHERE id >= ? ORDER BY id DESC"
        delete, args = f"DELETE FROM {table} WHERE id >= ?", (newest_from,)
    last_id = None
    rows = 0
    for row_id, size in db.execute(select, args):
        last_id, rows, excess = row_id, rows + 1, excess - size
        if excess <= 0:
            break
    if last_id is not None:
        db.execute(delete, (last_id,))
    return rows, excess


__all__ = ["DEFAULT_MAX_BYTES", "MAX_RETRY_DELAY_S", "SIGNALS", "DeadLetter", "Outbox", "OutboxItem", "Signal"]
