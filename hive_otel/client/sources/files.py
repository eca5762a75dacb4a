"""The file source: tails what Hive writes under HIVE_HOME and yields raw records.

What is read, and who each file belongs to, is :mod:`hive_otel.client.sources.layout` (aden-hive 1.0.12's
layout, lineage from meta.json, and the symlink rule: nothing is read through a symlink).

Positions are byte offsets at line boundaries, kept in memory as records are handed out and
persisted by :meth:`FileTailer.commit`. A partial last line is left for the next poll; a file that
shrank, or whose inode or leading bytes changed, is read again from the start; ``summary.json``
and a queen session's ``meta.json`` (rewritten whole) are emitted again only when their content
changed; ``meta.json`` carries its mtime (``HiveRecord.written_ns``), the time of what it states.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from hive_otel.client.sources.checkpoints import Checkpoints, FileCheckpoint
from hive_otel.client.sources.layout import SafeHome, discover
from hive_otel.client.sources.records import EVENT_LOG_SESSION_PREFIX, HiveRecord, RecordKind, SessionContext
from hive_otel.settings import ClientSettings

__all__ = ["EVENT_LOG_SESSION_PREFIX", "Checkpoints", "FileTailer"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20  # bytes per read
_DECODER = msgspec.json.Decoder()


def decode_json(raw: bytes) -> object:
    """One JSON document, exactly as ``json.loads`` reads it.

    Decoding was two thirds of reading a history. msgspec decodes a Hive line ~3x faster into the
    same values (ints of any size, the same floats, the last of duplicate keys); what it refuses
    (NaN, Infinity, 1e400, lone surrogates, a byte-order mark, malformed text) goes to ``json.loads``,
    so what is accepted and every error message stay json's, but for three: text that is not UTF-8 is
    said to be so (json guesses another encoding), a lone surrogate becomes U+FFFD (no UTF-8 encoder,
    RE2's or protobuf's, can take it), and a document nested too deep to read is a ValueError."""
    try:
        try:
            return _DECODER.decode(raw)
        except msgspec.DecodeError:
            return _without_lone_surrogates(json.loads(raw.decode("utf-8-sig")))
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def _without_lone_surrogates(value: object) -> object:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
        return value
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value


_FINGERPRINT_MAX = 1024  # leading bytes hashed to recognise a file rewritten in place
_WARNINGS_PER_FILE = 20  # malformed-line warnings logged per file (all are counted)
_LINE_KINDS = {
    "events.jsonl": RecordKind.EVENT,
    "details.jsonl": RecordKind.NODE_DETAIL,
    "tool_logs.jsonl": RecordKind.NODE_STEP,
    "runs.jsonl": RecordKind.RUN_LIFECYCLE,
}
# Documents Hive rewrites whole: emitted again only when their content changed.
_DOCUMENT_KINDS = {"summary.json": RecordKind.RUN_SUMMARY, "meta.json": RecordKind.QUEEN_SESSION_META}


def _hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


@dataclass(slots=True)
class _FileState:
    """In-memory read position of one file: what has been handed out, not yet necessarily committed."""

    rel: str
    kind: RecordKind
    context: SessionContext
    inode: int = 0
    offset: int = 0
    line: int = 0
    fp_len: int = 0
    fp: bytes = b""
    digest: str = ""
    size: int = 0  # last size seen, for progress()
    stamp: tuple[int, int, int] = (0, 0, 0)  # (inode, size, mtime_ns) of a summary.json last read
    warnings: int = 0

    def checkpoint(self) -> FileCheckpoint:
        return FileCheckpoint(self.rel, self.inode, self.offset, self.line, self.fp_len, self.fp, self.digest)


class FileTailer:
    """Reads new Hive records from HIVE_HOME since the last poll (or the last commit, after a restart).

    ``poll()`` yields records in file order; :meth:`commit` persists the positions of everything
    yielded so far. Call it only once those records are safe (enqueued in the outbox): a crash before
    it re-reads them, it never loses them. Not thread-safe: use one tailer from one thread.
    """

    def __init__(self, hive_home: Path, checkpoints: Checkpoints) -> None:
        self.hive_home = Path(hive_home)
        self.home = SafeHome(self.hive_home)
        self.checkpoints = checkpoints
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "files",
                "records",
                "bytes_read",
                "malformed_lines",
                "truncated_files",
                "rotated_files",
                "read_errors",
            ),
            0,
        )
        self._committed = checkpoints.load()
        self._states: dict[str, _FileState] = {}
        self._dirty: set[str] = set()

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> FileTailer:
        """A tailer over ``settings.hive_home`` with checkpoints in ``settings.state_dir``."""
        return cls(settings.hive_home, Checkpoints(settings.state_dir))

    # -- public --------------------------------------------------------------------------------

    def poll(self) -> Iterator[HiveRecord]:
        """Yield every complete record written since the last poll, file by file, in file order."""
        states = list(self._discover())
        self.counters["files"] = len(self._states)
        for state in states:
            try:
                if state.kind in _DOCUMENT_KINDS.values():
                    yield from self._read_document(state)
                else:
                    yield from self._read_lines(state)
            except FileNotFoundError:
                # Deleted: forget it, so a file created later at that path is read from its start.
                del self._states[state.rel]
            except OSError as err:  # unreadable (permissions, I/O error)
                self.counters["read_errors"] += 1
                logger.warning("%s: cannot read (%s); will retry on the next poll", state.rel, err)

    def commit(self) -> None:
        """Persist the positions of all records yielded so far."""
        if not self._dirty:
            return
        states = self._states
        self.checkpoints.save(states[rel].checkpoint() for rel in sorted(self._dirty) if rel in states)
        self._dirty.clear()

    def progress(self) -> tuple[int, int]:
        """(bytes handed out, bytes known) over the files found by the last poll."""
        done = sum(min(s.offset, s.size) for s in self._states.values())
        return done, sum(s.size for s in self._states.values())

    def close(self) -> None:
        """Close the checkpoint store (uncommitted positions are not saved)."""
        self.checkpoints.close()

    # -- discovery -----------------------------------------------------------------------------

    def _discover(self) -> Iterator[_FileState]:
        for found in discover(self.home):
            yield self._state_for(found.rel, found.context)

    def _state_for(self, rel: str, context: SessionContext) -> _FileState:
        """The state of ``rel`` (created on first sight, resumed from its checkpoint); its context is
        refreshed on every poll, since a meta.json may have appeared or changed since."""
        state = self._states.get(rel)
        if state is None:
            name = rel.rsplit("/", 1)[-1]
            kind = _DOCUMENT_KINDS.get(name) or _LINE_KINDS.get(name, RecordKind.EVENT)
            state = _FileState(rel, kind, context)
            saved = self._committed.pop(rel, None)
            if saved is not None:
                state.inode, state.offset, state.line = saved.inode, saved.offset, saved.line
                state.fp_len, state.fp, state.digest = saved.fp_len, saved.fp, saved.digest
            self._states[rel] = state
        else:
            state.context = context
        return state

    # -- reading -------------------------------------------------------------------------------

    def _mark(self, state: _FileState) -> None:
        self._dirty.add(state.rel)

    def _restart_if_replaced(self, state: _FileState, fd: int, st: os.stat_result) -> None:
        """Start over when the file is not the one the position refers to any more."""
        reason = None
        if state.inode and st.st_ino != state.inode:
            reason, counter = "replaced (new inode)", "rotated_files"
        elif st.st_size < state.offset:
            reason, counter = f"truncated ({st.st_size} < {state.offset} bytes)", "truncated_files"
        elif state.fp_len and _hash(os.pread(fd, state.fp_len, 0)) != state.fp:
            reason, counter = "rewritten (leading bytes changed)", "truncated_files"
        if reason is not None:
            self.counters[counter] += 1
            logger.warning("%s: %s; reading it again from the start", state.rel, reason)
            state.offset = state.line = state.fp_len = 0
            state.fp = b""
            self._mark(state)
        state.inode = st.st_ino
        if state.fp_len < _FINGERPRINT_MAX and st.st_size > state.fp_len:
            head = os.pread(fd, _FINGERPRINT_MAX, 0)
            state.fp_len, state.fp = len(head), _hash(head)
            self._mark(state)

    def _read_lines(self, state: _FileState) -> Iterator[HiveRecord]:
        st = os.lstat(self.hive_home / state.rel)
        state.size = st.st_size
        if st.st_ino == state.inode and st.st_size == state.offset:
            return  # nothing new: the common case of a watch poll, one stat and no open
        with self.home.open(state.rel) as f:
            st = os.fstat(f.fileno())
            state.size = st.st_size
            self._restart_if_replaced(state, f.fileno(), st)
            f.seek(state.offset)
            kind, context, counters = state.kind, state.context, self.counters
            pos, line_no = state.offset, state.line
            carry: list[bytes] = []  # a line still being completed across chunks
            while chunk := f.read(_CHUNK):
                counters["bytes_read"] += len(chunk)
                end = chunk.rfind(b"\n")
                if end < 0:
                    carry.append(chunk)
                    continue
                block = b"".join((*carry, chunk[:end])) if carry else chunk[:end]
                carry = [chunk[end + 1 :]] if end + 1 < len(chunk) else []
                for raw in block.split(b"\n"):
                    pos += len(raw) + 1
                    line_no += 1
                    if not raw or raw.isspace():
                        state.offset, state.line = pos, line_no
                        continue
                    try:
                        data = decode_json(raw)
                    except ValueError as err:
                        data = err
                    state.offset, state.line = pos, line_no
                    self._mark(state)
                    if not isinstance(data, dict):
                        self._malformed(state, line_no, data)
                        continue
                    counters["records"] += 1
                    yield HiveRecord(kind, data, context)
            # Whatever is left in `carry` has no newline yet: Hive is mid-write. Leave it for later.

    def _malformed(self, state: _FileState, line_no: int, problem: object) -> None:
        self.counters["malformed_lines"] += 1
        state.warnings += 1
        if state.warnings <= _WARNINGS_PER_FILE:
            why = problem if isinstance(problem, ValueError) else f"not a JSON object ({type(problem).__name__})"
            logger.warning("%s:%d: malformed line skipped: %s", state.rel, line_no, why)

    def _read_document(self, state: _FileState) -> Iterator[HiveRecord]:
        """summary.json and meta.json are rewritten whole: emit one again only when its content changed."""
        st = os.lstat(self.hive_home / state.rel)
        state.size = st.st_size
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == state.stamp:
            return
        with self.home.open(state.rel) as f:
            content = f.read()
        self.counters["bytes_read"] += len(content)
        state.stamp = stamp
        state.inode, state.offset, state.size = st.st_ino, len(content), len(content)
        digest = _hash(content).hex()
        if digest == state.digest:
            return
        state.digest = digest
        self._mark(state)
        try:
            data = decode_json(content)
        except ValueError as err:
            data = err
        if not isinstance(data, dict):
            # Marked as seen, so a broken file is reported once, and read again when it changes.
            self._malformed(state, 1, data)
            return
        self.counters["records"] += 1
        written_ns = st.st_mtime_ns if state.kind is RecordKind.QUEEN_SESSION_META else None
        yield HiveRecord(state.kind, data, state.context, written_ns)
