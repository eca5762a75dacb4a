"""The collector's store: OTLP requests in, raw OTel tables + exact usage facts and rollups out.

``open_store(url)`` opens ``chdb:///abs/path`` (embedded ClickHouse, one owning process per path) or
``http(s)://user:pass@host:8123/db`` (a ClickHouse server). Both run the same SQL and inserts; the
embedded store, the one writer of its files, also empties ``usage_staging`` after each merge and
recovers a crash between the ledger and the facts inserts from its dirty marker.

Ingest (``ingest_traces`` / ``ingest_logs`` / ``ingest_metrics``), under the store's lock; requests
that queue up meanwhile are written together (:mod:`hive_otel.collector.store.group_commit`). Reads
(``query``, ``console_query``) take the lock too on the embedded store, whose one chDB session runs one
statement at a time, so a long read delays ingest there; on a server they run beside ingest.

1. Each request's protobuf bytes, plus a trailer carrying the tenant override, a batch id and the
   allow-all-keys switch, go into ``otlp_*_input`` (a Null table) as one row of a ``Protobuf`` insert.
   Materialized views flatten it inside ClickHouse, keeping only the attribute keys of the redaction
   policy (``redaction_allowed_keys``, written by :meth:`Store.migrate`; removed keys are counted in
   ``redaction_dropped_attributes``), into the exporter-compatible ``otel_*`` tables and, for LLM and
   tool spans, into ``usage_staging``. Session state (``agent_sessions``) is folded from the raw tables.
2. For traces, the staged candidates are sorted against the in-memory key index
   (:mod:`hive_otel.collector.rollups.key_index`): replays are skipped, new calls become facts as they
   are, and only changed calls are merged with their stored facts (:mod:`hive_otel.collector.rollups.usage_merge`).
   New and changed calls are written to ``usage_facts`` and to ``usage_ledger`` (a Null table; a
   changed call as a -1/+1 pair), whose views keep the rollups.

Everything is in ClickHouse parts on disk when an ingest method returns, so the receiver may ack.
The maintenance statements are in ``sql/`` beside this module; one-line ``TRUNCATE``s and probes stay inline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hive_otel import environment_variables as ev
from hive_otel.collector.rollups import key_index as _usage_index
from hive_otel.collector.rollups import settle as _settle
from hive_otel.collector.rollups import usage_merge as _usage_merge
from hive_otel.collector.rollups.pricing import CostEstimator
from hive_otel.collector.sql_files import template
from hive_otel.collector.store import nested_values
from hive_otel.collector.store.console import (
    EMBEDDED_MAX_EXECUTION_S,
    SERVER_MAX_EXECUTION_S,
    ConsoleRefused,
    admitted_statement,
    console_column_names,
    refuses_the_statement,
    statement_reason,
)
from hive_otel.collector.store.group_commit import GroupCommit, Pending
from hive_otel.collector.store.inflight import (
    INFLIGHT_MARKER,
    KEYED_RAW_TABLES,
    OWN_VIEWS,
    VIEWS_SQL,
    InflightInserts,
    batch_rows,
    views_again,
)
from hive_otel.collector.store.migrations import (
    MigrationError,
    RenderOptions,
    apply_migrations,
    load_migrations,
    missing_migrations,
    restamp_prefold,
    rollback_migrations,
)
from hive_otel.collector.store.otlp_schema import OTLP_SUBSET_PROTO, delimited, ingest_trailer
from hive_otel.collector.store.transport import (
    LOCK_FILE,
    ChdbTransport,
    HttpTransport,
    StoreError,
    StoreInputError,
    StoreLockedError,
    Transport,
    clickhouse_reason,
    read_owner,
    sql_string,
    violated_constraint,
)
from hive_otel.policy import RedactionPolicy
from hive_otel.settings import hive_home

logger = logging.getLogger(__name__)

__all__ = [
    "ConsoleRefused",
    "IngestResult",
    "Store",
    "StoreError",
    "StoreInputError",
    "StoreLockedError",
    "StoreUrlError",
    "chdb_path",
    "default_store_url",
    "is_read_only_sql",
    "open_store",
    "read_owner",
]

DIRTY_MARKER = "hive-otel.dirty"
# Migrations after which the rollups are rebuilt from the facts (they recreate the rollup views).
REBUILD_AFTER = frozenset({"create_usage_rollups"})
# Spans (or log records, or points) written by one insert at most, when requests queue up.
MAX_GROUP_ITEMS = 50_000
_READ_ONLY_KEYWORDS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS")


@dataclass
class IngestResult:
    """What one export request produced, in OTLP partial-success terms."""

    accepted: int = 0
    rejected: int = 0
    messages: list[str] = field(default_factory=list)
    new_calls: int = 0
    updated_calls: int = 0
    unchanged_calls: int = 0

    @property
    def message(self) -> str:
        """The OTLP ``partial_success.error_message``: every reason, joined."""
        return "; ".join(self.messages)


def default_store_url(env: dict[str, str] | None = None) -> str:
    """``HIVE_CLICKHOUSE_URL``, else ``chdb://$HIVE_HOME/otel/clickhouse``."""
    env = os.environ if env is None else env
    url = env.get(ev.HIVE_CLICKHOUSE_URL, "").strip()
    return url or f"chdb://{hive_home(env) / 'otel' / 'clickhouse'}"


class StoreUrlError(StoreError):
    """The store URL is malformed: the caller's mistake (a usage error), not a store that is down."""


def chdb_path(url: str) -> Path | None:
    """The directory of a ``chdb:///abs/path`` URL, or None for a server URL (``http(s)://``); raises
    :class:`StoreUrlError` for any other URL."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme != "chdb":
        raise StoreUrlError(f"unsupported store URL {url!r}: use chdb:///abs/path or http(s)://host:8123/db")
    raw = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
    if not raw.startswith("/"):
        raise StoreUrlError(f"a chDB store URL needs an absolute path (chdb:///abs/path), got {url!r}")
    return Path(raw)


def is_read_only_sql(sql: str) -> bool:
    """True for a single SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS statement."""
    text = sql.strip()
    while text.startswith("--") or text.startswith("/*"):
        end = text.find("\n") if text.startswith("--") else text.find("*/") + 1
        text = text[end + 1 :].strip() if end > 0 else ""
    text = text.rstrip().rstrip(";")
    if ";" in text:
        from hive_otel.collector.store.migrations import split_statements

        if len(split_statements(text)) != 1:
            return False
    first = text.split(None, 1)[0].upper() if text else ""
    return first in _READ_ONLY_KEYWORDS


class Store:
    """One open store. Thread-safe: ingest and maintenance are serialised by a per-store lock, and so are
    queries on the embedded store (see ``concurrent_reads`` of the transports).

    Attribute keys the redaction policy does not export are removed at ingest and counted per tenant
    in ``redaction_dropped_attributes`` (the client enforces the same policy first; this is the second
    line). ``allow_all_keys=True`` keeps every key, for a store that also receives other OTLP data.
    """

    def __init__(
        self,
        url: str,
        transport: Transport,
        dirty_marker: Path | None = None,
        *,
        allow_all_keys: bool = False,
        sole_writer: bool = False,
    ) -> None:
        self.url = url
        self.allow_all_keys = allow_all_keys
        self._transport = transport
        self._dirty_marker = dirty_marker
        self._sole_writer = sole_writer  # an embedded store: this process is its only writer
        self._lock = threading.RLock()
        insert = self._insert_group
        self._traces = GroupCommit(self._lock, self._write_trace_group, MAX_GROUP_ITEMS)
        self._logs = GroupCommit(
            self._lock, lambda g: insert("otlp_logs_input", "ExportLogsServiceRequest", g), MAX_GROUP_ITEMS
        )
        self._metrics = GroupCommit(
            self._lock, lambda g: insert("otlp_metrics_input", "ExportMetricsServiceRequest", g), MAX_GROUP_ITEMS
        )
        self._estimator: CostEstimator | None = None
        self._database: str | None = None  # the console's database, asked once
        self._readonly_level = 1  # the console's readonly setting: 2 where the account's profile sets 2
        # The SQL console's credential for local readers of an embedded store (see set_owner_url).
        self.admin_token = secrets.token_urlsafe(32)
        self._closed = False
        self._ledger_to_undo: pa.Table | None = None  # see _undo_ledger
        self._inflight = InflightInserts(dirty_marker.with_name(INFLIGHT_MARKER) if dirty_marker else None)

    # -- queries ------------------------------------------------------------------------------
    def query(self, sql: str, readonly: bool = False) -> tuple[list[str], list[list[Any]]]:
        """Run one statement; ``(column names, rows)`` with JSON-typed values.

        For SQL built by this package (usage, status, quotas). ``readonly=True`` admits only a single
        read statement and runs SELECTs with ``readonly = 2``; SQL from a person goes through
        :meth:`console_query` instead.
        """
        if readonly:
            if not is_read_only_sql(sql):
                raise StoreError("only a single read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN) is allowed")
            text = sql.strip().rstrip(";")
            if text.split(None, 1)[0].upper() in ("SELECT", "WITH"):
                sql = f"SELECT * FROM ({text}) SETTINGS readonly = 2"
        with self._read_lock():
            return self._transport.query(sql)

    def console_query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        """Run one statement of the SQL console (``hive-otel sql``, ``POST /hive/v1/query``) under its
        policy (:mod:`hive_otel.collector.store.console`); raises ``ConsoleRefused`` for anything else,
        and for a statement ClickHouse refuses (unknown table, type mismatch): the caller's to fix."""
        seconds = SERVER_MAX_EXECUTION_S if self._transport.concurrent_reads else EMBEDDED_MAX_EXECUTION_S
        with self._read_lock():
            if self._database is None:
                database, readonly = self._transport.query("SELECT currentDatabase(), getSetting('readonly')")[1][0]
                self._database, self._readonly_level = str(database), 2 if int(str(readonly)) == 2 else 1
            statement = admitted_statement(sql, self._transport.query, self._database, seconds, self._readonly_level)
            try:
                columns, rows = self._transport.query(statement)
                return console_column_names(columns), rows
            except StoreError as exc:
                if not refuses_the_statement(str(exc)):  # the store failed (damaged parts, no memory), not the statement
                    raise
                raise ConsoleRefused(statement_reason(str(exc))) from None

    def _read_lock(self) -> contextlib.AbstractContextManager[Any]:
        """The store's lock where a read must wait for ingest (chDB), else nothing: a server runs reads
        beside inserts, and a read that waited for the lock waited for every queued export's insert."""
        return contextlib.nullcontext() if self._transport.concurrent_reads else self._lock

    def execute(self, sql: str) -> None:
        with self._lock:
            self._transport.execute(sql)

    # -- ingest -------------------------------------------------------------------------------
    def ingest_traces(
        self, request: ExportTraceServiceRequest, tenant: str | None = None, wire: bytes | None = None
    ) -> IngestResult:
        """Store the spans and merge their LLM/tool calls into the usage facts and rollups.

        Spans ClickHouse refuses as data are rejected alone (see :meth:`_isolate`); raises
        :class:`StoreInputError` only when it refuses every span of the request. ``wire``, in the
        three ingest methods: the protobuf bytes ``request`` was parsed from (both receivers pass
        them), which the store then sends instead of serialising ``request`` again."""
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        if not spans:
            return IngestResult()
        return self._submit(self._traces, request, tenant, spans, _SPANS, wire=wire)

    def ingest_logs(
        self, request: ExportLogsServiceRequest, tenant: str | None = None, wire: bytes | None = None
    ) -> IngestResult:
        """Store the log records; session phase and last-seen follow through materialized views."""
        records = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        if not records:
            return IngestResult()
        accepted = IngestResult(accepted=records)
        return self._submit(self._logs, request, tenant, records, _LOG_RECORDS, lambda: accepted, wire=wire)

    def ingest_metrics(
        self, request: ExportMetricsServiceRequest, tenant: str | None = None, wire: bytes | None = None
    ) -> IngestResult:
        """Store the points of every kind: gauge, sum, histogram, exponential histogram and summary; a point
        with a time past what the tables' ``DateTime`` holds is refused alone, with a reason."""
        points = sum(
            len(getattr(metric, kind).data_points)
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
            if (kind := metric.WhichOneof("data")) is not None
        )
        if not points:
            return IngestResult()
        accepted = IngestResult(accepted=points)
        return self._submit(self._metrics, request, tenant, points, _METRICS, lambda: accepted, wire=wire)

    def _submit(
        self,
        commit: GroupCommit,
        request: Message,
        tenant: str | None,
        items: int,
        path: tuple[str, str, str],
        stored: Callable[[], IngestResult] | None = None,
        wire: bytes | None = None,
        budget: _IsolationBudget | None = None,
    ) -> IngestResult:
        """``request`` through ``commit``; ``stored()`` is the result when the writer returns none.
        ``budget``: what is left of the inserts :meth:`_isolate` may spend on the request this is part of."""
        try:
            result = commit.submit(Pending(request, tenant, items, wire))
        except StoreInputError as exc:
            if violated_constraint(str(exc)) == "values_are_flat" and nested_values.flatten_nested_values(request):
                size = request.ByteSize()
                if size > nested_values.MAX_REWRITTEN_BYTES:
                    raise StoreInputError(
                        f"with its nested values as JSON text the request takes {size} bytes, over "
                        f"{nested_values.MAX_REWRITTEN_BYTES}: not stored"
                    ) from exc
                return self._submit(commit, request, tenant, items, path, stored, budget=budget)  # not ``wire`` now
            if violated_constraint(str(exc)) == "times_before_2106" and path is _METRICS:
                return self._submit_points_before_2106(commit, request, tenant, exc, budget or _IsolationBudget())
            return self._isolate(commit, request, tenant, path, exc, budget or _IsolationBudget())
        return stored() if stored is not None else result

    def _submit_points_before_2106(
        self,
        commit: GroupCommit,
        request: ExportMetricsServiceRequest,
        tenant: str | None,
        error: StoreInputError,
        budget: _IsolationBudget,
    ) -> IngestResult:
        """``request`` without the points the input table's ``times_before_2106`` refused it for, each
        rejected alone. Python walks every point here, on this rare path only: a sender's 600k-point
        request took 0.6-1 s of it on every ingest when the walk came first."""
        kept, late = _drop_points_past_datetime(request)
        if not late:  # the constraint named, no such point found: leave it to the halving
            return self._isolate(commit, request, tenant, _METRICS, error, budget)
        result = IngestResult(rejected=late, messages=[
            f"{late} metric point(s) with a time past 2106-02-07 06:28:15 UTC, the last the metric tables' "
            "DateTime holds, are not stored (times_before_2106)"
        ])  # fmt: skip
        if not kept:
            return result
        stored = self._submit(commit, request, tenant, kept, _METRICS, lambda: IngestResult(accepted=kept), budget=budget)
        return _combined(result, stored)

    def _isolate(
        self,
        commit: GroupCommit,
        request: Message,
        tenant: str | None,
        path: tuple[str, str, str],
        error: StoreInputError,
        budget: _IsolationBudget,
    ) -> IngestResult:
        """ClickHouse refused ``request`` as data: store its halves apart, down to single items, so only
        the items it refuses are rejected (and the client is told which reason), the rest stored.
        Python walks the request here only, on this rare path. Each half costs an insert: past the
        budget, the halves not yet tried are rejected whole, so a request of nothing but refused items
        costs ``ISOLATION_INSERTS`` inserts, not one per item (minutes of a core for a small request)."""
        halves = _halves(request, path)
        if halves is None:  # a single item the store will never accept
            raise error
        total = IngestResult()
        for half, count in halves:
            if budget.inserts <= 0:
                why = clickhouse_reason(str(error)) or str(error)
                reason = f"{why}; not examined item by item past {ISOLATION_INSERTS} refused inserts"
                part = IngestResult(rejected=count, messages=[f"items the store cannot accept: {reason}"])
            else:
                budget.inserts -= 1
                try:
                    part = self._submit(commit, half, tenant, count, path, lambda n=count: IngestResult(accepted=n),
                                        budget=budget)  # fmt: skip
                except StoreInputError as exc:
                    reason = clickhouse_reason(str(exc)) or str(exc)
                    part = IngestResult(rejected=count, messages=[f"items the store cannot accept: {reason}"])
            total = _combined(total, part)
        if not total.accepted:
            raise error
        return total

    def _insert_group(self, table: str, message: str, group: list[Pending]) -> None:
        """One insert of every request of ``group``, each a length-delimited row with its own trailer.
        Its batches are noted in flight until it returns; if it fails, the views under the raw table
        are run again for its rows (see :mod:`~hive_otel.collector.store.inflight`)."""
        self.complete_inflight()  # an earlier insert that failed half-way, here or before a crash
        parts: list[bytes] = []
        for pending in group:
            pending.batch = secrets.randbits(63)
            trailer = ingest_trailer(pending.tenant, pending.batch, self.allow_all_keys)
            parts += delimited(_request_bytes(pending.request, pending.wire), trailer)
        settings = {
            "input_format_protobuf_oneof_presence": 1,
            "format_schema_source": "string",
            "format_schema": OTLP_SUBSET_PROTO,
            "format_schema_message_name": message,
            "async_insert": 0,
        }
        raw = KEYED_RAW_TABLES.get(table)
        entry = self._inflight.note(raw, [pending.batch for pending in group]) if raw else None
        try:
            self._transport.insert_bytes(table, "Protobuf", b"".join(parts), settings)
        except StoreError:
            try:
                self.complete_inflight()
            except StoreError as exc:  # the store still failing: tried again before the next insert
                logger.warning("cannot yet complete the failed insert into %s (tried again before the next): %s", raw, exc)
            raise
        if entry is not None:
            self._inflight.forget(entry)

    def complete_inflight(self) -> None:
        """Run the views under the raw tables again for the rows of every insert noted in flight (one
        that failed, or that a crash interrupted), so that its retry stores nothing twice and no view
        misses its rows. Raises :class:`StoreError` if the store still fails; they stay noted."""
        for entry in list(self._inflight.pending):
            stored = self._transport.query(f"SELECT count() FROM {batch_rows(entry)}")[1][0][0]
            if stored:  # else it failed before its raw part (a refused request, most often): nothing to do
                names = ", ".join(sql_string(name) for name in OWN_VIEWS[entry.raw])
                views = self._transport.query(VIEWS_SQL.format(names=names))[1]
                for statement in views_again(entry, views):
                    self._transport.execute(statement)
                logger.info("completed an interrupted insert into %s (%d rows)", entry.raw, stored)
            self._inflight.forget(entry)

    def _write_trace_group(self, group: list[Pending]) -> None:
        self.recover()  # an earlier ingest of this process that failed between its inserts
        self._insert_group("otlp_traces_input", "ExportTraceServiceRequest", group)
        batches = [pending.batch for pending in group]
        split = self._split(batches)
        merged = self._transport.query_arrow(_usage_merge.merge_sql(batches)) if split.to_merge else None
        outcome = _usage_merge.merge(split.fresh, merged, self._cost_estimator())
        if outcome.facts is not None:
            # The ledger and the facts are two inserts. A marker file brackets them: if the process
            # dies in between, the next open (or ingest) rebuilds the rollups from the facts.
            self._mark_dirty(True)
            self._transport.insert_arrow("usage_ledger", outcome.ledger)
            try:
                self._transport.insert_arrow("usage_facts", outcome.facts)  # its view updates the key index
            except StoreError:
                self._undo_ledger(outcome.ledger)
                raise
            self._mark_dirty(False)
        for pending in group:
            counts = outcome.by_batch.get(pending.batch, {})
            unkeyed = split.unkeyed.get(pending.batch, 0)
            refused = split.refused.get(pending.batch, 0)
            result = IngestResult(accepted=pending.items - unkeyed - refused, rejected=unkeyed + refused)
            if unkeyed:
                result.messages.append(
                    f"{unkeyed} LLM/tool span(s) had neither hive.call_key nor valid trace and span ids; "
                    "they were stored as spans but not counted as usage"
                )
            if refused:
                result.messages.append(
                    f"{refused} LLM/tool span(s) had a token count (negative, not finite or above 1e12), a "
                    "hive.cost_usd (negative, not finite or above 1e6) or a time (at or past 2106-02-07 06:28:16 UTC, "
                    "where the hourly rollup's DateTime ends) out of bounds; they were stored as spans but not "
                    "counted as usage"
                )
            result.new_calls = counts.get("new", 0)
            result.updated_calls = counts.get("updated", 0)
            result.unchanged_calls = counts.get("unchanged", 0) + split.same.get(pending.batch, 0)
            pending.result = result
        if self._sole_writer:
            # Every staged row has been merged and nobody else stages any: drop them now rather than
            # merge them in the background until the daily TTL drops them.
            self._transport.execute("TRUNCATE TABLE usage_staging")

    def _split(self, batches: list[int]) -> _usage_index.Split:
        """The batches' candidates sorted against the key index, which is rebuilt first if it is empty."""
        sql = _usage_index.candidates_sql(batches, _usage_merge.CANDIDATE_COLUMNS)
        candidates = self._transport.query_arrow(sql)
        if candidates.num_rows and not pc.min(candidates["index_ready"]).as_py():
            self.rebuild_key_index()
            candidates = self._transport.query_arrow(sql)
        return _usage_index.split(candidates)

    def rebuild_key_index(self) -> None:
        """Refill ``usage_key_index`` from ``usage_facts FINAL`` (after a start, or a server restart)."""
        with self._lock:
            for statement in _usage_index.rebuild_index_sql():
                self._transport.execute(statement)

    def _mark_dirty(self, dirty: bool) -> None:
        if self._dirty_marker is None:
            return
        if dirty:
            self._dirty_marker.touch()
        else:
            self._dirty_marker.unlink(missing_ok=True)

    def _undo_ledger(self, ledger: pa.Table) -> None:
        """The facts insert failed after the ledger's: write the ledger's rows again with the opposite
        sign, so that the rollups are as they were before (the client's retry writes them again). The
        marker file does this on an embedded store; a server store has none, and a rollup counted the
        call twice after the retry. If this insert fails too, it is tried again before the next ingest."""
        negated = ledger.set_column(ledger.schema.get_field_index("sign"), "sign", pc.negate(ledger["sign"]))
        self._ledger_to_undo = negated
        try:
            self._transport.insert_arrow("usage_ledger", negated)
        except StoreError:
            logger.error(
                "usage rollups count %d ledger rows their facts do not have; undone before the next ingest "
                "(if this process stops first, `hive-otel settle` repairs them)",
                negated.num_rows,
            )
            return
        self._ledger_to_undo = None

    def recover(self) -> bool:
        """Complete the raw inserts noted in flight, undo a ledger whose facts were not written, and rebuild
        the rollups if an ingest (of this process or an earlier owner) stopped between its inserts."""
        self.complete_inflight()
        if self._ledger_to_undo is not None:
            self._transport.insert_arrow("usage_ledger", self._ledger_to_undo)
            self._ledger_to_undo = None
        if self._dirty_marker is None or not self._dirty_marker.exists():
            return False
        self.reconcile()
        self._mark_dirty(False)
        return True

    def _cost_estimator(self) -> CostEstimator:
        if self._estimator is None:
            self._estimator = CostEstimator()
        return self._estimator

    # -- maintenance --------------------------------------------------------------------------
    def migrate(self, options: RenderOptions | None = None) -> list[int]:
        """Apply pending migrations, then write the redaction policy's keys as the store's allowlist."""
        with self._lock:
            applied = apply_migrations(self._transport, options, shared=not self._sole_writer)
            if any(m.name in REBUILD_AFTER for m in load_migrations() if m.version in applied):
                self.reconcile()
            self._write_allowed_keys(RedactionPolicy.load(None).exported_keys)
            return applied

    def check_migrated(self) -> None:
        """Raise StoreError unless the store has every migration of this package. Changes nothing: how a
        reader opens a server store, which it shares with the collectors writing into it (a newer hive-otel
        on an operator's laptop applied its migrations under them when reading migrated)."""
        missing = missing_migrations(self._transport)
        if missing and missing[0].version == 1:
            raise StoreError("no store in this database: `hive-otel collector` or `hive-otel migrate` create one")
        if missing:
            first, last = missing[0], missing[-1]
            raise MigrationError(
                f"the store lacks {len(missing)} of this hive-otel's migrations ({first.version:04d}_{first.name}"
                f"{f' to {last.version:04d}_{last.name}' if last is not first else ''}); a reader does not change "
                "a shared store's schema: run `hive-otel migrate` with the same --store (once the collectors "
                "writing into it run this version), or read it with the hive-otel they run"
            )

    def _write_allowed_keys(self, keys: frozenset[str]) -> None:
        """A new version row when the policy changed; ingest sees the old list or the new one, whole."""
        _, rows = self._transport.query(template(__package__, "allowed_keys"))
        if rows and frozenset(rows[0][0]) == keys:
            return
        listed = ", ".join(sql_string(key) for key in sorted(keys))
        self._transport.execute(template(__package__, "allowed_keys_insert").format(version=time.time_ns(), keys=listed))

    def reconcile(self) -> dict[str, int]:
        """Rebuild every rollup (and the key index) from ``usage_facts FINAL``.

        After a crash between the ledger and the facts insert, or to start the rollups afresh. Run it
        with ingest paused; several collectors writing at once need only :meth:`settle`.
        """
        with self._lock:
            if not self._index_ready():
                self.rebuild_key_index()
            self._transport.execute(_settle.facts_sql())  # facts first take in every version written
            for table in ("usage_hourly", "usage_daily", "usage_session_totals"):
                self._transport.execute(f"TRUNCATE TABLE IF EXISTS {table}")
            columns = ", ".join(_usage_merge.LEDGER_COLUMNS)
            self._transport.execute(template(__package__, "reconcile_ledger").format(columns=columns))
            _, rows = self._transport.query(template(__package__, "facts_count"))
            self.rebuild_key_index()
        return {"facts": int(rows[0][0])}

    def settle(self) -> None:
        """Bring usage_facts and the rollups to the calls as ClickHouse merged them (usage_calls).

        For several collectors writing one store: after two of them took the same call for new at
        once, this makes the facts and totals exact again (:mod:`hive_otel.collector.rollups.settle`).
        Safe while collectors write; a no-op on a settled store.
        """
        with self._lock:
            if not self._index_ready():
                self.rebuild_key_index()
            for statement in _settle.settle_sql():
                self._transport.execute(statement)

    def _index_ready(self) -> bool:
        _, rows = self._transport.query(f"SELECT {_usage_index.INDEX_READY_SQL}")
        return bool(rows[0][0])

    def set_owner_url(self, owner_url: str | None) -> None:
        """Record where this process answers ``POST {owner_url}/hive/v1/query`` (chDB lock file), and
        the local admin token that the SQL console there accepts (a file only this user can read)."""
        self._transport.advertise(owner_url, self.admin_token)  # type: ignore[attr-defined]

    def rollback(self, to_version: int, options: RenderOptions | None = None) -> list[int]:
        """Run the down migrations above ``to_version``, newest first."""
        with self._lock:
            return rollback_migrations(self._transport, to_version, options, shared=not self._sole_writer)

    def restamp_prefold(self, options: RenderOptions | None = None) -> list[int]:
        """Record a store the complete pre-fold migration chain made as migrated by the folded set."""
        with self._lock:
            return restamp_prefold(self._transport, options)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._transport.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SPANS = ("resource_spans", "scope_spans", "spans")
_LOG_RECORDS = ("resource_logs", "scope_logs", "log_records")
_METRICS = ("resource_metrics", "scope_metrics", "metrics")
# The first metric time, in ns, that the tables' DateTime cannot hold (2^32 s): the input table's
# constraint times_before_2106 (migration 0029) refuses a request holding one; the store then takes such
# points out and stores the rest, so that they are refused one by one, not with their metric or request.
METRIC_TIME_LIMIT_NS = (1 << 32) * 1_000_000_000


def _drop_points_past_datetime(request: ExportMetricsServiceRequest) -> tuple[int, int]:
    """Remove, in place, the data points with a start, end or exemplar time at or past
    :data:`METRIC_TIME_LIMIT_NS`; (points kept, points removed)."""
    kept = dropped = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                points = getattr(metric, kind).data_points
                late = [i for i, point in enumerate(points) if _past_datetime(point)]
                for i in reversed(late):
                    del points[i]
                kept += len(points)
                dropped += len(late)
    return kept, dropped


def _past_datetime(point: Message) -> bool:
    times = [point.start_time_unix_nano, point.time_unix_nano]  # type: ignore[attr-defined]
    times += [exemplar.time_unix_nano for exemplar in getattr(point, "exemplars", ())]
    return max(times) >= METRIC_TIME_LIMIT_NS


ISOLATION_INSERTS = 64
"""The inserts :meth:`Store._isolate` may spend on one refused request: enough to find a few refused
items among thousands (each costs about two per halving level)."""


@dataclass
class _IsolationBudget:
    inserts: int = ISOLATION_INSERTS


def _halves(request: Message, path: tuple[str, str, str]) -> list[tuple[Message, int]] | None:
    """``request`` split into two requests of about half its items each (resource and scope kept
    with every item), with their item counts; None for a request of one item."""
    resources, scopes, items = path
    flat = [(r, s, i) for r, rs in enumerate(getattr(request, resources)) for s, ss in enumerate(getattr(rs, scopes))
            for i in range(len(getattr(ss, items)))]  # fmt: skip
    if len(flat) < 2:
        return None
    middle = len(flat) // 2
    return [(_subset(request, path, part), len(part)) for part in (flat[:middle], flat[middle:])]


def _subset(request: Message, path: tuple[str, str, str], keep: list[tuple[int, int, int]]) -> Message:
    resources, scopes, items = path
    out = type(request)()
    chosen: dict[tuple[int, int], list[int]] = {}
    for r, s, i in keep:
        chosen.setdefault((r, s), []).append(i)
    by_resource: dict[int, Message] = {}
    for (r, s), indexes in chosen.items():
        source = getattr(request, resources)[r]
        if r not in by_resource:
            by_resource[r] = getattr(out, resources).add()
            by_resource[r].resource.CopyFrom(source.resource)
            by_resource[r].schema_url = source.schema_url
        scope_in = getattr(source, scopes)[s]
        scope_out = getattr(by_resource[r], scopes).add()
        scope_out.scope.CopyFrom(scope_in.scope)
        scope_out.schema_url = scope_in.schema_url
        getattr(scope_out, items).extend(getattr(scope_in, items)[i] for i in indexes)
    return out


def _combined(a: IngestResult, b: IngestResult) -> IngestResult:
    return IngestResult(
        accepted=a.accepted + b.accepted,
        rejected=a.rejected + b.rejected,
        messages=list(dict.fromkeys(a.messages + b.messages)),
        new_calls=a.new_calls + b.new_calls,
        updated_calls=a.updated_calls + b.updated_calls,
        unchanged_calls=a.unchanged_calls + b.unchanged_calls,
    )


def _request_bytes(request: Message, wire: bytes | None = None) -> bytes:
    """The request's wire bytes, without top-level fields it carried from a client's unknown numbers.

    The store appends its own tenant, batch and allowlist fields (1000-1002); a client that sent those
    numbers itself must not get to choose them, so unknown top-level fields are dropped first (rare:
    opentelemetry-proto has none). Otherwise the bytes ``request`` was parsed from are as good as
    serialising it again, which cost ~2 µs per span.
    """
    if len(UnknownFieldSet(request)):
        clean = type(request)()
        clean.CopyFrom(request)
        clean.DiscardUnknownFields()
        return clean.SerializeToString()
    return wire if wire is not None else request.SerializeToString()


def open_store(
    url: str | None = None,
    *,
    owner_url: str | None = None,
    migrate: bool = True,
    render: RenderOptions | None = None,
    allow_all_keys: bool = False,
    create: bool = True,
) -> Store:
    """Open (and by default migrate) the store at ``url`` (default: :func:`default_store_url`).

    ``create=False`` is for commands that only read or rework what a store holds: a chDB path that
    holds no store is refused rather than made into an empty one (a typo would read as "no usage").

    ``allow_all_keys=True`` stores every attribute key as sent, instead of only the keys the
    redaction policy exports: for a store that also receives OTLP data from other, non-Hive sources.

    Raises :class:`StoreUrlError` for a malformed ``url``, :class:`StoreLockedError` when another
    process owns a chDB path, and :class:`StoreError` for anything else that keeps the store from opening.
    """
    url = url or default_store_url()
    path = chdb_path(url)
    if path is not None and not create and not (path / LOCK_FILE).exists():  # every store has its lock file
        raise StoreError(
            f"no store at {path}: `hive-otel collector`, `hive-otel migrate` or `make demo` create one; "
            f"check --store or ${ev.HIVE_CLICKHOUSE_URL}"
        )
    transport: Transport = ChdbTransport(path) if path is not None else HttpTransport(url)
    embedded = path is not None
    try:  # an unreadable in-flight marker refuses the store: the transport must not stay open
        store = Store(
            url,
            transport,
            dirty_marker=path / DIRTY_MARKER if embedded else None,
            allow_all_keys=allow_all_keys,
            sole_writer=embedded,
        )
    except StoreError:
        transport.close()
        raise
    try:
        if migrate:
            store.migrate(render)
            store.recover()
        if owner_url:
            store.set_owner_url(owner_url)
    except Exception:
        store.close()
        raise
    return store
