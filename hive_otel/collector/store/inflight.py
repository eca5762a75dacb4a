"""Raw inserts in flight, and how an insert that failed or died half-way is completed.

An insert of OTLP requests writes ``otel_traces`` (or ``otel_logs``) first, then the views under that
table: the keys that keep a replay from being stored again, the trace-id lookup, session state,
status history. Each table's part is committed on its own, so a failure or a crash between the raw
part and those views left raw rows without their keys (the client's retry stored them again) and the
views that had not run without their rows (the retry's spans were then dropped as replays). ClickHouse
runs the views in an order of its own, so any of them can be the one missing.

:class:`InflightInserts` notes each insert's batch ids (the ``IngestBatch`` of its raw rows) until the
insert returns, in a marker file beside an embedded store, so that a crash leaves them noted. After a
failure, and before the next insert (or on the next open), :func:`views_again` gives the statements
that run hive-otel's own views under the raw table (:data:`OWN_VIEWS`) again for the rows of those
batches. Their writes are idempotent (keys, min/max and argMax folds, a ReplacingMergeTree), so running
one that had already run changes nothing; the retry then finds its rows stored and stores nothing twice.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from hive_otel.collector.store.transport import StoreError, sql_string

logger = logging.getLogger(__name__)

__all__ = [
    "INFLIGHT_MARKER", "KEYED_RAW_TABLES", "OWN_VIEWS", "VIEWS_SQL", "Inflight", "InflightInserts", "batch_rows",
    "views_again",
]  # fmt: skip

INFLIGHT_MARKER = "hive-otel.inflight"
# The raw tables whose rows key views keep from being stored twice, by the input table that fills them.
KEYED_RAW_TABLES = {"otlp_traces_input": "otel_traces", "otlp_logs_input": "otel_logs"}
# Rows of a batch sit in parts written when its insert ran, or later (merges): parts older than the
# insert, less this margin for a server's clock running behind ours, are not read.
CLOCK_MARGIN_S = 3600
# hive-otel's own views under each raw table (migrations 0001, 0002, 0018-0020), run again for an
# insert that did not complete. Each one's writes are idempotent, which running it twice needs: keys
# (EmbeddedRocksDB), min/max/argMax folds (AggregatingMergeTree), status_events (a ReplacingMergeTree whose
# readers take argMax or uniqExact). Views other people add under these tables are not run again (one
# that sums would count twice). tests/collector/test_store_inflight.py holds this list to the store's.
OWN_VIEWS = {
    "otel_traces": ("agent_sessions_from_traces_mv", "otel_traces_to_otel_span_keys_mv", "otel_traces_trace_id_ts_mv"),
    "otel_logs": (
        "agent_sessions_from_logs_mv", "otel_logs_to_otel_log_keys_mv", "session_identity_from_logs_mv",
        "status_events_from_logs_mv",
    ),
}  # fmt: skip
# Those views' queries, and the table each one writes to.
VIEWS_SQL = """SELECT name, as_select, create_table_query FROM system.tables
WHERE database = currentDatabase() AND name IN ({names}) ORDER BY name"""


@dataclass(frozen=True)
class Inflight:
    """One insert's raw table, the batch ids of its rows, and when it started (epoch seconds)."""

    raw: str
    batches: tuple[int, ...]
    started: float


class InflightInserts:
    """The inserts not known to have completed: noted before each raw insert, forgotten after it, kept
    (and persisted in ``marker``, when there is one) while an insert that failed is not completed."""

    def __init__(self, marker: Path | None) -> None:
        self._marker = marker
        self.pending: list[Inflight] = self._read() if marker is not None else []

    def note(self, raw: str, batches: list[int]) -> Inflight:
        entry = Inflight(raw, tuple(batches), time.time())
        self.pending.append(entry)
        self._write()
        return entry

    def forget(self, entry: Inflight) -> None:
        """``entry`` completed. If the marker cannot be rewritten, it stays stale: the next open runs the
        views again for an insert that had completed, which changes nothing (the insert is not failed)."""
        self.pending.remove(entry)
        try:
            self._write()
        except OSError as exc:
            logger.warning("cannot update %s (%s); the next open checks its inserts again", self._marker, exc)

    def _read(self) -> list[Inflight]:
        assert self._marker is not None
        try:
            noted = json.loads(self._marker.read_text())
            entries = [Inflight(e["raw"], tuple(int(b) for b in e["batches"]), float(e["started"])) for e in noted]
            if any(e.raw not in KEYED_RAW_TABLES.values() for e in entries):
                raise ValueError("an unknown table")
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StoreError(
                f"cannot read {self._marker} ({type(exc).__name__}: {exc}): it lists inserts this store must "
                "complete before it takes more. If it cannot be repaired, delete it: the store then opens, and "
                "the client's retry of those inserts may store their raw spans or log records twice."
            ) from exc
        return entries

    def _write(self) -> None:
        if self._marker is None:
            return
        if not self.pending:
            self._marker.unlink(missing_ok=True)
            return
        written = self._marker.with_suffix(".tmp")
        written.write_text(json.dumps([{"raw": e.raw, "batches": e.batches, "started": e.started} for e in self.pending]))
        os.replace(written, self._marker)  # never half a file: the marker is read after a crash


def batch_rows(entry: Inflight) -> str:
    """A subquery of the raw rows of ``entry``'s batches (reading only parts written since it started)."""
    batches = ", ".join(str(int(b)) for b in entry.batches)
    since = int(entry.started) - CLOCK_MARGIN_S
    return (
        f"(SELECT * FROM {entry.raw} WHERE IngestBatch IN ({batches}) AND _part IN (SELECT name FROM system.parts "
        f"WHERE database = currentDatabase() AND table = {sql_string(entry.raw)} AND active "
        f"AND modification_time >= toDateTime({since})))"
    )


def views_again(entry: Inflight, views: list[list[str]]) -> list[str]:
    """For ``views`` (rows of :data:`VIEWS_SQL`), the inserts that run each view again on the rows
    of ``entry``'s batches: its own query, on those rows instead of the whole table."""
    source = re.compile(rf"\bFROM\s+(?:`?\w+`?\.)?`?{entry.raw}`?(?=\s|$)")
    rows = f"FROM {batch_rows(entry)} AS {entry.raw}"
    statements = []
    for name, select, create in views:
        target = re.search(r"\bTO\s+(\S+)", create)
        if target is None or len(source.findall(select)) != 1:
            raise StoreError(f"cannot run the view {name} again: its query does not read {entry.raw} once")
        statements.append(f"INSERT INTO {target.group(1)} {source.sub(lambda _: rows, select)}")
    return statements
