"""Where aden-hive 1.0.12 writes under HIVE_HOME, and who each session came from.

Discovery walks HIVE_HOME once per poll and names every file the file source reads, with the
session its path tells (see :func:`discover`):

- ``queens/<q>/sessions/<sid>/events.jsonl``: a queen's DM session (``framework.config.queen_session_dir``),
  a fork of one included (``session_fork.fork_session_dir`` makes forks beside their origin).
- ``colonies/<c>/queens/<q>/sessions/<sid>/events.jsonl``: a queen overseeing colony ``c``; create-colony
  copies the DM session it came from here whole.
- ``colonies/<c>/workers/<w>/events.jsonl``: a worker's own events (HIVE_SPLIT_WORKER_EVENTS=1), and
  ``<queen session>/workers/<w>/events.jsonl`` for a worker spawned by a session with no colony yet.
- L1-L3 run logs (``summary.json``, ``details.jsonl``, ``tool_logs.jsonl``) wherever a RuntimeLogStore
  put them: ``<storage>/sessions/<sid>/logs/`` at any depth (``agents/<agent>/`` for an agent loaded by
  AgentLoader, ``agents/<agent>/graphs/<g>/`` for a secondary graph, a session's own directory for
  other hosts) and the legacy ``<storage>/runtime_logs/runs/<run_id>/``; beside such a ``logs/``, the
  session's ``runs.jsonl``, where ExecutionManager appends each run's start and end.
- ``event_logs/*.jsonl``: HIVE_DEBUG_EVENTS dumps, whose events name no session.
- a queen session's ``meta.json``: what Hive persisted about it (phase, queen, colony loaded or
  spawned), read as a document whenever it changes.

Lineage comes from each session's ``meta.json``: ``forked_from`` (an object ``{session_id,
before_input_at}`` from fork_session_dir, a string from create-colony), ``compacted_from`` (a session
continued in a fresh one), a worker's ``queen_session_id``. A context carries its chain of ancestors
up to the DM session at its root, so the root is the same whatever order files are read in.

Symlinks: nothing is read through one. The walk never enters a symlinked folder, a symlinked file
is never opened, and every open checks that the path resolves to itself under the real HIVE_HOME
(HIVE_HOME itself may be a symlink). One rule for files and folders, so nothing outside HIVE_HOME
is read and nothing inside is read twice under two names.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hive_otel.attributes import ROLE_AGENT, ROLE_QUEEN, ROLE_WORKER
from hive_otel.client.sources.records import EVENT_LOG_SESSION_PREFIX, SessionContext

__all__ = ["RUN_LOG_FILES", "Discovered", "SafeHome", "discover", "session_parents", "with_lineage"]

logger = logging.getLogger(__name__)

_MAX_JSON_FILE = 16 << 20  # a meta.json is a few hundred bytes; a larger "document" is not read whole

RUN_LOG_FILES = ("tool_logs.jsonl", "details.jsonl", "summary.json")  # L3 first: it dates L2 and L1
# Folders Hive fills with content that is never a run log or event log: not walked (conversation
# parts alone can be thousands of files per session).
_NOT_WALKED = frozenset({"conversations", "memories", "skills", "tracker", "seed_conversation", "event_logs", "data"})
_MAX_DEPTH = 12
_MAX_CHAIN = 64  # a lineage longer than this is a loop in meta.json files, not a real chain


class SafeHome:
    """HIVE_HOME and the one symlink rule: only paths that resolve to themselves under it are read."""

    def __init__(self, hive_home: Path) -> None:
        self.path = Path(hive_home)
        self.real = os.path.realpath(self.path)
        # meta.json files read by earlier polls, by (inode, size, mtime): a watch re-reads only changed ones
        self._json: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        self._unreadable: set[str] = set()  # directories already warned about (a watch lists them each poll)

    def resolves_inside(self, rel: str) -> bool:
        """True when no component of ``rel`` is a symlink (so the file is the one under HIVE_HOME)."""
        return os.path.realpath(os.path.join(self.real, rel)) == os.path.join(self.real, rel)

    def open(self, rel: str) -> Any:
        """Open ``rel`` for reading, refusing a symlink anywhere in its path and anything but a regular
        file (OSError): opening a FIFO would wait for a writer forever, and a device never ends."""
        if not self.resolves_inside(rel):
            raise PermissionError(f"{rel}: not read, a symlink is on its path")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(os.path.join(self.real, rel), flags)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise PermissionError(f"{rel}: not read, not a regular file")
        return os.fdopen(fd, "rb")

    def warn_unreadable(self, rel: str, err: OSError) -> None:
        """Say once that a directory of the home cannot be listed (what is under it is not exported)."""
        if rel not in self._unreadable:
            self._unreadable.add(rel)
            logger.warning("%s: not exported, the directory cannot be listed (%s)", rel or ".", err.strerror or err)

    def read_json(self, rel: str) -> dict[str, Any]:
        """A JSON object file under HIVE_HOME; {} when missing, unreadable, not an object or symlinked."""
        try:
            st = os.lstat(os.path.join(self.real, rel))
        except OSError:
            self._json.pop(rel, None)
            return {}
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._json.get(rel)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = self._load_json(rel)
        self._json[rel] = (stamp, loaded)
        return loaded

    def _load_json(self, rel: str) -> dict[str, Any]:
        try:
            with self.open(rel) as f:
                document = f.read(_MAX_JSON_FILE + 1)
            if len(document) > _MAX_JSON_FILE:
                raise ValueError(f"larger than {_MAX_JSON_FILE} bytes")
            loaded = json.loads(document)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as err:  # RecursionError: nested too deep to read
            logger.warning("%s: unreadable (%s)", rel, err)
            return {}
        return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True, slots=True)
class Discovered:
    """One file to read and the context its path and its session's meta.json give."""

    rel: str
    context: SessionContext


def _entries(home: SafeHome, rel: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(os.path.join(home.real, rel) if rel else home.real) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except PermissionError as err:
        home.warn_unreadable(rel, err)
        return []


def _dirs(home: SafeHome, rel: str) -> list[str]:
    return [e.name for e in _entries(home, rel) if e.is_dir(follow_symlinks=False)]


def _is_file(home: SafeHome, rel: str) -> bool:
    """A regular file with no symlink on its path (so it is never listed, rather than refused each poll)."""
    try:
        regular = stat.S_ISREG(os.lstat(os.path.join(home.real, rel)).st_mode)
    except OSError:
        return False
    return regular and home.resolves_inside(rel)


def _parent_from_meta(meta: dict[str, Any]) -> str | None:
    """The session this one came from, as its meta.json says (fork, create-colony, compact-and-fork, worker)."""
    forked = meta.get("forked_from")
    if isinstance(forked, dict):
        forked = forked.get("session_id")
    for value in (forked, meta.get("compacted_from"), meta.get("queen_session_id")):
        if isinstance(value, str) and value:
            return value
    return None


class _Walk:
    """One discovery pass: session contexts by id, their parents, and the files found."""

    def __init__(self, home: SafeHome) -> None:
        self.home = home
        self.contexts: dict[str, SessionContext] = {}
        self.parents: dict[str, str] = {}
        self.files: list[tuple[str, str]] = []  # (rel, session id)

    def session(self, rel_dir: str, context: SessionContext) -> None:
        """A session directory: its meta.json, its events, workers and run logs nested in it."""
        sid = context.session_id
        parent = _parent_from_meta(self.home.read_json(f"{rel_dir}/meta.json"))
        if parent and parent != sid:
            self.parents[sid] = parent
        self.contexts.setdefault(sid, context)
        if _is_file(self.home, f"{rel_dir}/events.jsonl"):
            self.files.append((f"{rel_dir}/events.jsonl", sid))
        if context.agent_role == ROLE_QUEEN and _is_file(self.home, f"{rel_dir}/meta.json"):
            self.files.append((f"{rel_dir}/meta.json", sid))
        for worker in _dirs(self.home, f"{rel_dir}/workers"):
            self.worker(f"{rel_dir}/workers/{worker}", worker, context.colony_id, context.queen_id)
        self.run_logs(rel_dir, 0, walked=frozenset({"workers"}))

    def worker(self, rel_dir: str, worker: str, colony: str | None, queen: str | None) -> None:
        meta = self.home.read_json(f"{rel_dir}/meta.json")
        queen_name = meta.get("queen_name")
        context = SessionContext(
            session_id=worker,
            queen_id=queen_name if isinstance(queen_name, str) and queen_name else queen,
            colony_id=colony,
            worker_id=worker,
            agent_role=ROLE_WORKER,
        )
        self.session(rel_dir, context)

    def run_logs(self, rel: str, depth: int, walked: frozenset[str] = frozenset()) -> None:
        """Every ``sessions/<sid>/logs/`` and ``runs/<run_id>/`` below ``rel``, skipping the folders in
        ``walked`` (walked as sessions already)."""
        if depth > _MAX_DEPTH:
            return
        for name in _dirs(self.home, rel):
            child = f"{rel}/{name}" if rel else name
            if name in _NOT_WALKED or name in walked:
                continue
            if name == "sessions":
                for sid in _dirs(self.home, child):
                    self.run_dir(f"{child}/{sid}/logs", sid, rel)
                    self.run_lifecycle(f"{child}/{sid}", sid)
                    self.run_logs(f"{child}/{sid}", depth + 2)
            elif name == "runs":
                for run_id in _dirs(self.home, child):
                    self.run_dir(f"{child}/{run_id}", run_id, rel)
            else:
                self.run_logs(child, depth + 1)

    def run_dir(self, rel_dir: str, run_id: str, storage: str) -> None:
        found = [n for n in RUN_LOG_FILES if _is_file(self.home, f"{rel_dir}/{n}")]
        if not found:
            return
        self.contexts.setdefault(run_id, SessionContext(run_id, agent_role=ROLE_AGENT))
        self.files.extend((f"{rel_dir}/{n}", run_id) for n in found)


    def run_lifecycle(self, rel_dir: str, sid: str) -> None:
        """A graph agent session's ``runs.jsonl``: its runs' ends, a cancelled one's only (no summary.json)."""
        if _is_file(self.home, f"{rel_dir}/runs.jsonl"):
            self.contexts.setdefault(sid, SessionContext(sid, agent_role=ROLE_AGENT))
            self.files.append((f"{rel_dir}/runs.jsonl", sid))


def _lineage(sid: str, parents: dict[str, str]) -> tuple[str, ...]:
    chain: list[str] = []
    current = parents.get(sid)
    while current is not None and current != sid and current not in chain and len(chain) < _MAX_CHAIN:
        chain.append(current)
        current = parents.get(current)
    return tuple(chain)


def with_lineage(context: SessionContext, parents: dict[str, str]) -> SessionContext:
    """``context`` with its chain of ancestors (parent first, root last) from ``parents``."""
    lineage = _lineage(context.session_id, parents)
    if not lineage:
        return context
    return replace(context, parent_session_id=lineage[0], lineage=lineage)


def session_parents(home: SafeHome) -> dict[str, str]:
    """Every session's parent as the meta.json files under HIVE_HOME say (for a live session's lineage)."""
    return _walked(home).parents


def discover(home: SafeHome) -> Iterator[Discovered]:
    """Every file to read under HIVE_HOME, in a stable order, with its session's context."""
    walk = _walked(home)
    for rel, sid in walk.files:
        yield Discovered(rel, with_lineage(walk.contexts[sid], walk.parents))
    logs = _entries(home, "event_logs")
    for name in (e.name for e in logs if e.name.endswith(".jsonl") and e.is_file(follow_symlinks=False)):
        yield Discovered(f"event_logs/{name}", SessionContext(EVENT_LOG_SESSION_PREFIX + name.removesuffix(".jsonl")))


def _walked(home: SafeHome) -> _Walk:
    walk = _Walk(home)
    for queen in _dirs(home, "queens"):
        for sid in _dirs(home, f"queens/{queen}/sessions"):
            walk.session(f"queens/{queen}/sessions/{sid}", SessionContext(sid, queen, None, agent_role=ROLE_QUEEN))
    for colony in _dirs(home, "colonies"):
        for queen in _dirs(home, f"colonies/{colony}/queens"):
            base = f"colonies/{colony}/queens/{queen}/sessions"
            for sid in _dirs(home, base):
                walk.session(f"{base}/{sid}", SessionContext(sid, queen, colony, agent_role=ROLE_QUEEN))
        for worker in _dirs(home, f"colonies/{colony}/workers"):
            walk.worker(f"colonies/{colony}/workers/{worker}", worker, colony, None)
    walk.run_logs("", 0, walked=frozenset({"queens", "colonies"}))
    return walk
