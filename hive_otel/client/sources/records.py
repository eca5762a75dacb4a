"""What a source hands to the mapping: one raw Hive record plus where it came from.

Sources read; they never interpret. ``HiveRecord.data`` is exactly the JSON object Hive wrote
(an ``AgentEvent.to_dict()`` for events, a pydantic dump for L1/L2/L3 lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Session id given to records from HIVE_DEBUG_EVENTS dumps (event_logs/<name>.jsonl), which do not
# say which session an event belongs to.
EVENT_LOG_SESSION_PREFIX = "event_logs/"


class RecordKind(StrEnum):
    EVENT = "event"  # one EventBus event (live, events.jsonl or event_logs/*.jsonl)
    RUN_SUMMARY = "l1"  # sessions/<sid>/logs/summary.json
    NODE_DETAIL = "l2"  # sessions/<sid>/logs/details.jsonl
    NODE_STEP = "l3"  # sessions/<sid>/logs/tool_logs.jsonl
    QUEEN_SESSION_META = "meta"  # a queen session's meta.json (rewritten whole by Hive)
    RUN_LIFECYCLE = "runs"  # sessions/<sid>/runs.jsonl: a graph agent run's start and end (ExecutionManager)


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Who a record belongs to, as far as its location (file path, meta.json or instrument() call) tells.

    ``session_id`` is the session whose file (or bus) the record came from. The mapping refines it
    for worker streams seen in a queen's file (``stream_id == "worker:<id>"``).
    """

    session_id: str
    queen_id: str | None = None
    colony_id: str | None = None
    worker_id: str | None = None
    parent_session_id: str | None = None  # the session it came from (spawning queen, forked or source DM)
    agent_role: str = "queen"  # queen | worker | agent (a graph agent's run, known from its run logs)
    lineage: tuple[str, ...] = ()  # every ancestor, parent first, the root DM session last (meta.json)

    @property
    def root_session_id(self) -> str:
        """Where cost rolls up: the top of the chain of forks, colonies and workers, or the session itself."""
        if self.lineage:
            return self.lineage[-1]
        return self.parent_session_id or self.session_id


@dataclass(frozen=True, slots=True)
class HiveRecord:
    kind: RecordKind
    data: dict[str, Any]
    context: SessionContext
    written_ns: int | None = None  # a whole-file document's mtime: when Hive last wrote what it states
