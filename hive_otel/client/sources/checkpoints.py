"""Durable read positions for the file source, in SQLite under the client's state directory.

One row per file (path relative to HIVE_HOME, so a moved home still resumes). Rows are written only
when the caller commits, after it has handed the records up to there on (to the outbox), so a crash
re-reads a little rather than losing anything.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHECKPOINTS_FILE", "READERS_LOCK", "Checkpoints", "FileCheckpoint", "StateInUse", "sole_reader"]

CHECKPOINTS_FILE = "checkpoints.db"
READERS_LOCK = "readers.lock"


class StateInUse(Exception):
    """Another process reads Hive's files into the same state directory."""


@contextmanager
def sole_reader(state_dir: Path) -> Iterator[None]:
    """Held while a ``watch`` or ``backfill`` reads Hive's files into ``state_dir`` (released when the process
    dies). Two at once each sent what the other sent: the store counts it once, but the traffic doubled and
    their checkpoints raced. Raises :class:`StateInUse` naming the holder's pid."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / READERS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise StateInUse(
                f"another watch or backfill (pid {holder}) reads Hive's files into {state_dir}; stop it, or give "
                "this one its own HIVE_OTEL_STATE_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_checkpoints (
    path TEXT PRIMARY KEY,      -- relative to HIVE_HOME, POSIX separators
    inode INTEGER NOT NULL,     -- a different inode means the file was replaced: start over
    offset INTEGER NOT NULL,    -- bytes handed off (always at a line boundary)
    line INTEGER NOT NULL,      -- lines handed off, so warnings can name file:line after a restart
    fp_len INTEGER NOT NULL,    -- how many leading bytes the fingerprint covers
    fp BLOB NOT NULL,           -- hash of those bytes: a truncated and rewritten file no longer matches
    digest TEXT NOT NULL        -- whole-file documents (summary.json): hash of the content last emitted
)
"""


@dataclass(frozen=True, slots=True)
class FileCheckpoint:
    path: str
    inode: int
    offset: int
    line: int
    fp_len: int
    fp: bytes
    digest: str = ""


class Checkpoints:
    """The checkpoint table in ``<state_dir>/checkpoints.db`` (WAL).

    Safe to use from a thread other than the one that opened it (the export worker usually polls).
    ``fresh=True`` forgets every saved position first, so everything is read again (a replay).
    """

    def __init__(self, state_dir: Path, *, fresh: bool = False) -> None:
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / CHECKPOINTS_FILE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A lost last commit after power loss only means re-reading (duplicates are recognised
        # downstream by id), so the cheaper sync level is enough.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        if fresh:
            self._db.execute("DELETE FROM file_checkpoints")

    def load(self) -> dict[str, FileCheckpoint]:
        with self._lock:
            rows = self._db.execute("SELECT path, inode, offset, line, fp_len, fp, digest FROM file_checkpoints").fetchall()
        return {row[0]: FileCheckpoint(*row) for row in rows}

    def save(self, checkpoints: Iterable[FileCheckpoint]) -> None:
        """Write these positions in one transaction (all or nothing)."""
        rows = [(c.path, c.inode, c.offset, c.line, c.fp_len, c.fp, c.digest) for c in checkpoints]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO file_checkpoints (path, inode, offset, line, fp_len, fp, digest) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
