"""Same spans, three ways: a plain chDB insert (the baseline), our collector end to end, and where its time goes.

Used by ``python -m bench.bench_ingest --split`` (and by the default run); writes
bench/results/ingest_split.json. The spans are Hive's: a workload written by the real aden-hive
runtime (bench._common.workload), read by the real FileTailer, mapped, redacted with the packaged
policy and encoded by the client's own code in the client pipeline's batches (DEFAULT_BATCH_ITEMS).
Building them is not timed.

* ``baseline``: what a new user would do. The same spans as JSONEachRow (ids in hex, attribute maps
  as ``Map(String, String)``), one insert per client batch, into ONE plain MergeTree table with no
  views, in a database of its own in the same chDB store. Timed: the inserts only (the JSON text is
  built beforehand, like the request bodies).
* ``end_to_end``: our collector (``CollectorServer``: OTLP/HTTP on 127.0.0.1, chDB store, exact
  usage) receiving the bodies from a separate process through the client's own
  ``OtlpHttpExporter`` (gzip, keep-alive), ``--clients`` senders at once; a 429/503 is retried
  after its Retry-After. Wall seconds from the first request to the last acknowledgement; CPU
  seconds of the collector process only (the senders run in another process).
* ``rounds``: the two above alternate, ``ROUNDS`` times, for the client's requests as they are and
  for the same requests merged as its sender delivers a backlog; the round with the median ratio is
  reported, with every round's figures beside it (the machine is shared: one round alone can mislead).
* ``stages``: the store alone (``Store.ingest_traces``, no HTTP), alternating with the plain insert
  ``ROUNDS`` times on the merged batches (the bigger inserts, where the cost per span dominates): CPU
  seconds of its span path (the protobuf insert into ``otlp_traces_input`` and every view under it,
  ``usage_staging`` included) and of its exact-usage path (the rest: key-index lookup, merge, ledger
  and facts with their views), each beside the plain insert's, the median round reported.
* ``split``: one sender, one request at a time (nothing overlaps, so the parts add up), each part
  timed by wrapping the function that does it: gzip, protobuf decode + id checks, the store's
  re-serialisation, the insert into ``otlp_traces_input`` (ClickHouse parsing the protobuf plus
  every view downstream of it), the key-index lookup, the usage merge (query + Python), the ledger
  insert (rollup views), the facts insert (key index and usage_calls views), emptying the staging
  table; "http and the rest" is the sender's total minus those.
* ``views``: what each materialized view on the span path costs, in two parts. Per insert: the CPU
  time ClickHouse takes to analyse the view's query (``EXPLAIN PLAN`` of it, the median of
  ``ANALYSIS_REPEAT``), which every insert pays again whatever its size. Per span: the same spans
  stored again as ONE insert (no HTTP; the fixed costs spread thin) with that one view detached,
  every data table emptied before each trial, against a trial with all views attached (and one
  with all detached: ClickHouse parsing alone). A view's cost includes everything downstream of it.
* ``insert_sizes``: every request stored again by the store alone (no HTTP), merged 1, 4, 13 and 26
  client requests per insert, each size as ``stages`` measures it (span path and exact-usage path,
  alternating with the plain insert of the same merged batches, ``SIZE_ROUNDS`` rounds): what a
  bigger insert (group commit, the sender merging a backlog, the agent's batches) saves of the fixed
  cost per insert, and the cost per span left once it is spread thin.
* ``write_once_ceiling``: what a store that writes each call once could reach, on the same spans as
  ONE insert (the least of ``VIEW_TRIAL_REPEAT`` trials), alternating with the plain insert of them
  as one batch (``ROUNDS`` rounds, median): the store as it is; the request parsed and flattened
  into span rows with nothing stored (every view reading ``otlp_spans`` detached: the floor of any
  store that flattens OTLP in ClickHouse); the spans alone (the usage staging
  view detached: no usage at all); and the spans plus one view writing each LLM/tool span straight
  into ``usage_calls`` (the staging view's columns in ``usage_calls``' shape), no staging, facts,
  ledger or rollups; and that ingest followed by ``Store.settle``, which brings the facts and the
  rollups to ``usage_calls`` in bulk (no pricing: estimates are not made), its totals checked against
  the store's as it is. The cost of moving the usage work off the acknowledgement path, not a working
  store.
* ``group_commit``: from the concurrent run, time each request spent in ``GroupCommit.submit``
  against the time of the inserts themselves.

chDB has no ``system.query_log`` / ``query_views_log``, hence the detach trials.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench._common import machine, read_records, workload
from hive_otel.client.encoding import encode_spans
from hive_otel.client.mapping.telemetry import SpanRecord, Telemetry
from hive_otel.client.pipeline import DEFAULT_BATCH_ITEMS
from hive_otel.collector.receiver import otlp_http as _http
from hive_otel.collector.receiver.receiver import CollectorServer
from hive_otel.collector.rollups import key_index as _usage_index
from hive_otel.collector.rollups import usage_merge as _usage_merge
from hive_otel.collector.store import store as store_module
from hive_otel.collector.store.group_commit import GroupCommit
from hive_otel.collector.store.store import Store, open_store

T = TypeVar("T")
TENANT = "bench"
PLAIN_TABLE = "bench_plain.spans"
PLAIN_SCHEMA = f"""
CREATE TABLE {PLAIN_TABLE} (
    Timestamp DateTime64(9), TraceId String, SpanId String, ParentSpanId String,
    SpanName LowCardinality(String), SpanKind LowCardinality(String), ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String), SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64, StatusCode LowCardinality(String), StatusMessage String
) ENGINE = MergeTree ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
"""
VIEW_TRIAL_REPEAT = 3  # trials per figure in the view and bound trials; the least counts
ROUNDS = 3  # alternating plain / ours rounds; the median round is reported
INSERT_SIZES = (1, 4, 13, 26)  # client requests per insert in the insert-size trials
SIZE_ROUNDS = 2  # alternating plain / store rounds per insert size
ANALYSIS_REPEAT = 7  # EXPLAIN PLAN runs per view; the median is reported
ROLLUP_MEASURES = ("llm_calls", "tool_calls", "tool_errors", "input_tokens", "output_tokens", "cost_usd")
# Tables whose rows are configuration, not ingested data: kept between the trials.
CONFIG_TABLES = ("schema_migrations", "redaction_allowed_keys", "quota_policies")
# Sources of the views on the span path (logs and metrics views are not touched by span ingest).
SPAN_PATH_SOURCES = ("otlp_traces_input", "otlp_spans", "otlp_spans_fresh", "otel_traces", "usage_facts",
                     "usage_ledger")  # fmt: skip


# ------------------------------------------------------------------------------------ the spans


def client_telemetry(turns: int) -> Telemetry:
    """Hive's spans and log records as the client makes them: mapped and redacted (the packaged policy)."""
    from bench.bench_mapping import map_all
    from hive_otel.client.redaction import RedactionPolicy, RedactionProcessor

    load = workload(queens=20, colonies=10, workers_per_colony=3, turns_per_session=turns)
    telemetry = map_all(read_records(load.hive_home))
    return RedactionProcessor(RedactionPolicy.load()).process(Telemetry(spans=telemetry.spans, logs=telemetry.logs))


def client_spans(turns: int) -> list[SpanRecord]:
    return client_telemetry(turns).spans


def batches(items: list[T], size: int = DEFAULT_BATCH_ITEMS) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def merged_as_queued(bodies: list[bytes], chunks: list[list[SpanRecord]]) -> list[list[int]]:
    """The client's requests (their indexes) as its sender delivers them from a backlog (a backfill,
    or a client that fell behind): queued requests of one signal merged by the sender's own rule."""
    from hive_otel.client.export._sender import merge_groups
    from hive_otel.client.outbox import OutboxItem
    from hive_otel.settings import DEFAULT_MAX_REQUEST_BYTES

    queued = [OutboxItem(n, "traces", body, len(chunk), 0.0, 0, 0.0, None)
              for n, (body, chunk) in enumerate(zip(bodies, chunks, strict=True))]  # fmt: skip
    return [[item.id for item in group] for group in merge_groups(queued, DEFAULT_MAX_REQUEST_BYTES)]


def json_rows(spans: list[SpanRecord]) -> bytes:
    """The spans as JSONEachRow for the plain table, as a new user would write them."""
    lines = []
    for s in spans:
        resource = {k: str(v) for k, v in s.resource.attributes}
        lines.append(json.dumps({
            "Timestamp": f"{s.start_ns // 1_000_000_000}.{s.start_ns % 1_000_000_000:09d}",
            "TraceId": s.trace_id.hex(), "SpanId": s.span_id.hex(), "ParentSpanId": s.parent_span_id.hex(),
            "SpanName": s.name, "SpanKind": str(int(s.kind)), "ServiceName": resource.get("service.name", ""),
            "ResourceAttributes": resource, "SpanAttributes": {k: str(v) for k, v in s.attributes.items()},
            "Duration": s.end_ns - s.start_ns, "StatusCode": str(int(s.status_code)), "StatusMessage": s.status_message,
        }))  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


# ------------------------------------------------------------------------------------ measuring


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _rates(spans: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "spans": spans,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "spans_per_s_wall": round(spans / wall),
        "spans_per_s_per_core": round(spans / cpu) if cpu else 0,
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def baseline(store: Store, rows: list[bytes], spans: int) -> dict[str, Any]:
    """JSONEachRow inserts of every batch into one plain MergeTree table (in its own database)."""
    store.execute("DROP DATABASE IF EXISTS bench_plain")
    store.execute("CREATE DATABASE bench_plain")
    store.execute(PLAIN_SCHEMA)
    store._transport.insert_bytes(PLAIN_TABLE, "JSONEachRow", rows[0], {"async_insert": 0})  # warm up, as ours
    store.execute(f"TRUNCATE TABLE {PLAIN_TABLE}")
    cpu0, wall0 = _cpu(), time.perf_counter()
    for data in rows:
        store._transport.insert_bytes(PLAIN_TABLE, "JSONEachRow", data, {"async_insert": 0})
    result = _rates(spans, time.perf_counter() - wall0, _cpu() - cpu0)
    _, count = store.query(f"SELECT count() FROM {PLAIN_TABLE}")
    result["rows_stored"] = int(count[0][0])
    store.execute("DROP DATABASE bench_plain")
    return result


def _send(endpoint: str, bodies: list[bytes], clients: int, out: Any, signal: str = "traces") -> None:
    """In the sender process: every body through the client's OtlpHttpExporter, ``clients`` at once."""
    from hive_otel.client.export._http import OtlpHttpExporter
    from hive_otel.client.export._result import ExportStatus

    work = iter(list(enumerate(bodies)))
    lock = threading.Lock()
    latencies: list[float] = []
    refusals = [0]

    def sender() -> None:
        exporter = OtlpHttpExporter(endpoint, compression="gzip", timeout_s=120)
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                break
            t0 = time.perf_counter()
            while (result := exporter.export(signal, item[1])).status != ExportStatus.SUCCESS:
                if result.status != ExportStatus.RETRYABLE:
                    raise RuntimeError(result.reason)
                refusals[0] += 1
                time.sleep(result.retry_after_s or 0.5)
            with lock:
                latencies.append(time.perf_counter() - t0)
        exporter.shutdown()

    threads = [threading.Thread(target=sender) for _ in range(clients)]
    wall0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.send({"wall_s": time.perf_counter() - wall0, "latencies": latencies, "refusals": refusals[0]})


def send_all(endpoint: str, bodies: list[bytes], clients: int, signal: str = "traces") -> dict[str, Any]:
    """Run :func:`_send` in a fresh process; its report."""
    context = get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_send, args=(endpoint, bodies, clients, send, signal))
    process.start()
    send.close()  # so that the sender's death ends the wait below
    try:
        report = receive.recv()
    except EOFError:
        raise RuntimeError(f"the sender process died (exit code {process.join() or process.exitcode})") from None
    process.join()
    return report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def end_to_end(store: Store, endpoint: str, bodies: list[bytes], spans: int, clients: int) -> dict[str, Any]:
    cpu0 = _cpu()
    report = send_all(endpoint, bodies, clients)
    result = _rates(spans, report["wall_s"], _cpu() - cpu0)
    result.update({
        "clients": clients,
        "requests": len(bodies),
        "retried_after_429_or_503": report["refusals"],
        "ack_latency_ms_p50": round(percentile(report["latencies"], 0.5) * 1000, 1),
        "ack_latency_ms_p99": round(percentile(report["latencies"], 0.99) * 1000, 1),
    })  # fmt: skip
    return result


# ------------------------------------------------------------------------------------ the split


class Timers:
    """Wall seconds per part, summed over calls of the wrapped functions (one request at a time)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, label: Callable[..., str] | str) -> Callable[[], None]:
        """Time ``owner.name`` under ``label`` (or ``label(*args)``); returns the undo."""
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label if isinstance(label, str) else label(*args)] += time.perf_counter() - t0

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)


INSERT_PARTS = {
    "usage_ledger": "clickhouse: ledger insert (rollup views)",
    "usage_facts": "clickhouse: facts insert (key index, usage_calls views)",
}


def _arrow_query_part(sql: str) -> str:
    return "clickhouse: key index lookup" if "index_ready" in sql else "clickhouse: usage merge query"


def _arrow_insert_part(table: str, data: Any) -> str:
    return INSERT_PARTS.get(table, f"clickhouse: insert {table}")


def _execute_part(sql: str) -> str:
    return "clickhouse: empty usage_staging" if sql.startswith("TRUNCATE TABLE usage_staging") else "clickhouse: other"


@contextmanager
def timed_parts(store: Store) -> Iterator[Timers]:
    """Every part of one ingest timed (see the module docstring); the wrappers are removed after."""
    timers = Timers()
    transport = store._transport
    undo = [
        timers.wrap(_http, "decompress_capped", "python: gunzip"),
        timers.wrap(_http, "decode_protobuf", "python: protobuf decode + id checks"),
        timers.wrap(store_module, "_request_bytes", "python: re-serialise request for ClickHouse"),
        timers.wrap(_usage_index, "split", "python: sort candidates against the index"),
        timers.wrap(_usage_merge, "merge", "python: merge + price"),
        timers.wrap(transport, "insert_bytes", "clickhouse: parse OTLP protobuf + span views"),
        timers.wrap(transport, "query_arrow", _arrow_query_part),
        timers.wrap(transport, "insert_arrow", _arrow_insert_part),
        timers.wrap(transport, "execute", _execute_part),
        timers.wrap(store, "ingest_traces", "store.ingest_traces (total)"),
    ]
    try:
        yield timers
    finally:
        for step in reversed(undo):
            step()


def split(store: Store, endpoint: str, bodies: list[bytes], spans: int) -> dict[str, Any]:
    """One sender, one request at a time: seconds and share of each part of the sender's total."""
    with timed_parts(store) as timers:
        report = send_all(endpoint, bodies, clients=1)
    total = sum(report["latencies"])
    parts = dict(timers.seconds)
    store_total = parts.pop("store.ingest_traces (total)")
    inside_store = [k for k in parts if k not in ("python: gunzip", "python: protobuf decode + id checks")]
    parts["python: rest of the store (group commit, results)"] = store_total - sum(parts[k] for k in inside_store)
    parts["http and the rest of the receiver"] = total - store_total - parts["python: gunzip"] - parts[
        "python: protobuf decode + id checks"]  # fmt: skip
    return {
        "spans": spans,
        "requests": len(bodies),
        "sender_total_s": round(total, 3),
        "spans_per_s_wall": round(spans / total),
        "parts_s": {k: round(v, 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
        "parts_share": {k: round(v / total, 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
    }


# ------------------------------------------------------------------------------------ stages


def stages(store: Store, plain_rows: list[bytes], bodies: list[bytes], spans: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """The store alone, alternating with the plain insert: its span path and its exact-usage path
    (CPU seconds, measured around ``Store._insert_group`` within ``Store.ingest_traces``)."""
    requests = [ExportTraceServiceRequest.FromString(b) for b in bodies]
    span_path = [0.0]
    insert_group = store._insert_group

    def timed_insert_group(*args: Any) -> None:
        cpu0 = _cpu()
        try:
            insert_group(*args)
        finally:
            span_path[0] += _cpu() - cpu0

    every = []
    store._insert_group = timed_insert_group  # type: ignore[method-assign]
    try:
        for _ in range(rounds):
            plain = baseline(store, plain_rows, spans)["cpu_s"]
            empty_data_tables(store)
            span_path[0], cpu0 = 0.0, _cpu()
            for request in requests:
                store.ingest_traces(request, tenant=TENANT)
            total = _cpu() - cpu0
            empty_data_tables(store)
            every.append(_stage_round(spans, plain, span_path[0], total))
    finally:
        del store._insert_group
    median = sorted(every, key=lambda r: r["store"]["ratio_per_core"])[len(every) // 2]
    return {"spans": spans, "inserts": len(requests), "median_round": median, "every_round": every}


def _stage_round(spans: int, plain_cpu: float, span_path_cpu: float, store_cpu: float) -> dict[str, Any]:
    """Spans per second per core of each stage, and its ratio to the plain insert of the same round."""

    def stage(cpu: float) -> dict[str, Any]:
        return {"cpu_s": round(cpu, 3), "spans_per_s_per_core": round(spans / cpu),
                "ratio_per_core": round(plain_cpu / cpu, 2)}  # fmt: skip

    return {
        "plain": {"cpu_s": round(plain_cpu, 3), "spans_per_s_per_core": round(spans / plain_cpu)},
        "span_path": stage(span_path_cpu),
        "usage_path": stage(store_cpu - span_path_cpu),
        "store": stage(store_cpu),
    }


# ------------------------------------------------------------------------------------ view trials


def span_path_views(store: Store) -> list[str]:
    """The materialized views that span ingest runs (those reading a table on the span path)."""
    _, rows = store.query(
        "SELECT name, as_select FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView'"
    )
    reads = re.compile(r"FROM (?:\w+\.)?(?:" + "|".join(SPAN_PATH_SOURCES) + r")\b")
    return sorted(name for name, sql in rows if reads.search(sql))


def empty_data_tables(store: Store) -> None:
    """Every ingested row gone (config tables kept), the key index back to empty-but-ready. The raw
    dedupe keys (EmbeddedRocksDB) go too: left, they made every round after the first skip storing
    the spans and log records it had already seen."""
    _, rows = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase()"
        " AND (engine LIKE '%MergeTree' OR engine IN ('Join', 'EmbeddedRocksDB'))"
    )
    for (name,) in rows:
        if name not in CONFIG_TABLES:
            store.execute(f"TRUNCATE TABLE {name}")
    store.rebuild_key_index()


def _ingest_trial(store: Store, requests: list[ExportTraceServiceRequest]) -> tuple[float, float]:
    """Wall and CPU seconds (this process: chDB runs in it) to store ``requests`` in an empty store."""
    empty_data_tables(store)
    cpu0, wall0 = _cpu(), time.perf_counter()
    for request in requests:
        store.ingest_traces(request, tenant=TENANT)
    return time.perf_counter() - wall0, _cpu() - cpu0


@contextmanager
def detached(store: Store, views: list[str]) -> Iterator[None]:
    for view in views:
        store.execute(f"DETACH TABLE {view}")
    try:
        yield
    finally:
        for view in views:
            store.execute(f"ATTACH TABLE {view}")


def view_costs(store: Store, bodies: list[bytes], repeat: int = VIEW_TRIAL_REPEAT) -> dict[str, Any]:
    """Per span-path view: CPU ms to analyse its query, and CPU seconds to store all ``bodies`` as
    one insert with all views, with that one detached, with none.

    Each trial figure is the least of ``repeat`` trials; the all-views reference is also taken
    between the others (the machine is shared: CPU time, unlike wall time, is not stretched by other
    processes, and the least trial is the one least disturbed by background merges)."""
    request = ExportTraceServiceRequest.FromString(b"".join(bodies))  # concatenated requests merge
    views = span_path_views(store)

    def fastest(without: list[str]) -> float:
        with detached(store, without):
            return min(_ingest_trial(store, [request])[1] for _ in range(repeat))

    reference = [fastest([])]
    without = {}
    for n, view in enumerate(views):
        without[view] = fastest([view])
        if n % 4 == 3:
            reference.append(fastest([]))
    none = fastest(views)
    all_views = min(reference)
    empty_data_tables(store)
    spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    return {
        "spans": spans,
        "inserts": 1,
        "trials_per_figure": repeat,
        "analysis_cpu_ms_per_insert": dict(sorted(((v, analysis_ms(store, v)) for v in views), key=lambda kv: -kv[1])),
        "all_views_cpu_s": round(all_views, 3),
        "all_views_cpu_s_every_trial": [round(r, 3) for r in reference],
        "no_views_cpu_s": round(none, 3),
        # Spread of the all-views reference: a view whose marginal cost is within it is not measured.
        "noise_cpu_s": round(max(reference) - min(reference), 3),
        "marginal_us_per_span": {
            v: round((all_views - t) * 1e6 / spans, 1) for v, t in sorted(without.items(), key=lambda kv: kv[1])
        },
    }


def analysis_ms(store: Store, view: str) -> float:
    """CPU milliseconds ClickHouse takes to analyse and plan ``view``'s query (median of ANALYSIS_REPEAT)."""
    query = _view_query(store, view)
    times = []
    for _ in range(ANALYSIS_REPEAT):
        cpu0 = time.process_time()  # os.times() ticks in 10 ms, as long as some analyses take
        store.query(f"EXPLAIN PLAN {query}")
        times.append(time.process_time() - cpu0)
    return round(sorted(times)[len(times) // 2] * 1e3, 1)


def insert_sizes(store: Store, rows: list[bytes], bodies: list[bytes], spans: int) -> dict[str, Any]:
    """The store alone by stage (:func:`stages`) on the same requests merged 1, 4, 13 and 26 to an
    insert, each beside the plain insert of the same merged batches: the fixed cost per insert against
    the cost per span, for the span path and the exact-usage path apart."""
    out = {}
    for per_insert in INSERT_SIZES:
        groups = [range(i, min(i + per_insert, len(bodies))) for i in range(0, len(bodies), per_insert)]
        merged_rows = [b"".join(rows[i] for i in group) for group in groups]
        merged_bodies = [b"".join(bodies[i] for i in group) for group in groups]
        result = stages(store, merged_rows, merged_bodies, spans, rounds=SIZE_ROUNDS)
        out[f"{spans // len(groups)}_spans_per_insert"] = result
    return out


def write_once_ceiling(store: Store, rows: list[bytes], bodies: list[bytes], spans: int) -> dict[str, Any]:
    """The store as it is, the spans alone, the spans + one ``usage_calls`` view, and that followed by
    ``Store.settle`` (facts and rollups from usage_calls, in bulk), each as one insert of every request
    beside the plain insert of the same spans, ``ROUNDS`` rounds; the median reported."""
    request = ExportTraceServiceRequest.FromString(b"".join(bodies))
    plain_rows = [b"".join(rows)]
    calls = _view_query(store, "usage_facts_to_usage_calls_mv")
    staged = _view_query(store, "otlp_spans_to_usage_staging_mv")
    # usage_calls' view reads usage_facts; here it reads the staging view's rows, given the two columns
    # only facts have (the estimate, priced later; the version).
    as_facts = f"(SELECT *, toDecimal64(0, 10) AS cost_estimated_usd, toUInt64(1) AS version FROM ({staged}))"
    calls_from_spans = calls.replace("FROM default.usage_facts", f"FROM {as_facts}")
    if calls_from_spans == calls:  # else the view would read usage_facts and the bound would mean nothing
        raise RuntimeError(f"usage_calls' view no longer reads default.usage_facts: {calls}")

    def trial() -> tuple[float, float]:  # the plain insert, and the least of VIEW_TRIAL_REPEAT of ours
        plain = baseline(store, plain_rows, spans)["cpu_s"]
        return plain, min(_ingest_trial(store, [request])[1] for _ in range(VIEW_TRIAL_REPEAT))

    def totals() -> list[list[Any]]:
        return store.query(f"SELECT {', '.join(f'sum({m})' for m in ROLLUP_MEASURES)} FROM usage_daily")[1]

    names = ("store", "flattened_only", "spans_only", "spans_and_usage_calls_only", "write_once_then_settle")
    every: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    same_totals = []
    for _ in range(ROUNDS):
        every["store"].append(trial())
        expected = totals()
        # ClickHouse parsing the protobuf and flattening it into span rows, storing nothing: the floor
        # of any store that flattens OTLP requests in ClickHouse, whatever it then keeps.
        with detached(store, views_reading(store, "otlp_spans")):
            every["flattened_only"].append(trial())
        # In that design usage_calls is fed by spans, not by facts: the facts' view to it is detached.
        with detached(store, ["otlp_spans_to_usage_staging_mv", "usage_facts_to_usage_calls_mv"]):
            every["spans_only"].append(trial())
            store.execute(f"CREATE MATERIALIZED VIEW bench_calls_from_spans_mv TO usage_calls AS {calls_from_spans}")
            try:
                plain, ingest = trial()
                every["spans_and_usage_calls_only"].append((plain, ingest))
                cpu0 = _cpu()
                store.settle()  # the facts and rollups of the last trial's calls, in bulk
                every["write_once_then_settle"].append((plain, ingest + _cpu() - cpu0))
                same_totals.append(totals() == expected)
            finally:
                store.execute("DROP VIEW bench_calls_from_spans_mv")
    empty_data_tables(store)

    def summary(trials: list[tuple[float, float]]) -> dict[str, Any]:
        plain, ours = sorted(trials, key=lambda t: t[0] / t[1])[len(trials) // 2]
        return {"plain_cpu_s": round(plain, 3), "cpu_s": round(ours, 3), "spans_per_s_per_core": round(spans / ours),
                "ratio_per_core": round(plain / ours, 2),
                "every_round_ratio": [round(p / o, 2) for p, o in trials]}  # fmt: skip

    return {"spans": spans, "inserts": 1, **{name: summary(trials) for name, trials in every.items()},
            "settled_totals_equal_the_store_as_is": same_totals}  # fmt: skip


def views_reading(store: Store, table: str) -> list[str]:
    """The materialized views whose query reads ``table``."""
    reads = re.compile(rf"FROM (?:\w+\.)?{table}\b(?!_)")
    return [view for view in span_path_views(store) if reads.search(_view_query(store, view))]


def _view_query(store: Store, view: str) -> str:
    _, rows = store.query(f"SELECT as_select FROM system.tables WHERE database = currentDatabase() AND name = '{view}'")
    return str(rows[0][0])


# ------------------------------------------------------------------------------------ group commit


@contextmanager
def group_commit_times(commit: GroupCommit) -> Iterator[dict[str, list[float]]]:
    """Per request, seconds in ``submit``; per insert, seconds in ``write``."""
    times: dict[str, list[float]] = {"submit": [], "write": []}
    submit, write = commit.submit, commit._write

    def timed_submit(pending: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return submit(pending)
        finally:
            times["submit"].append(time.perf_counter() - t0)

    def timed_write(group: Any) -> None:
        t0 = time.perf_counter()
        try:
            write(group)
        finally:
            times["write"].append(time.perf_counter() - t0)

    commit.submit, commit._write = timed_submit, timed_write  # type: ignore[method-assign]
    try:
        yield times
    finally:
        commit.submit, commit._write = submit, write  # type: ignore[method-assign]


def group_commit_summary(times: dict[str, list[float]]) -> dict[str, float]:
    submits, writes = times["submit"], times["write"]
    return {
        "requests": len(submits),
        "inserts": len(writes),
        "requests_per_insert": round(len(submits) / max(1, len(writes)), 2),
        "mean_submit_ms": round(1000 * sum(submits) / max(1, len(submits)), 1),
        "mean_insert_ms": round(1000 * sum(writes) / max(1, len(writes)), 1),
        "waiting_share": round(1 - sum(writes) * 1.0 / max(1e-9, sum(submits)), 3),
    }


# ------------------------------------------------------------------------------------ the run


def compare_round(store: Store, endpoint: str, plain_rows: list[bytes], bodies: list[bytes], spans: int,
                  clients: int) -> dict[str, Any]:  # fmt: skip
    """The plain insert, then our collector end to end, on the same spans: one round of the comparison."""
    plain = baseline(store, plain_rows, spans)
    empty_data_tables(store)
    with group_commit_times(store._traces) as commit_times:
        ours = end_to_end(store, endpoint, bodies, spans, clients)
    ours["group_commit"] = group_commit_summary(commit_times)
    empty_data_tables(store)
    ratio = round(ours["spans_per_s_per_core"] / plain["spans_per_s_per_core"], 2)
    return {"plain": plain, "ours": ours, "ratio_per_core": ratio}


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose ratio is the median (the machine is shared: one round alone can mislead)."""
    return sorted(rounds, key=lambda r: r["ratio_per_core"])[len(rounds) // 2]


def run(turns: int, clients: int, with_views: bool = True, rounds: int = ROUNDS) -> dict[str, Any]:
    """Baseline and end to end (alternating, ``rounds`` times, unmerged and merged as queued), split,
    view costs and group commit, on one fresh chDB store."""
    spans = client_spans(turns)
    chunks = batches(spans)
    bodies = [encode_spans(chunk) for chunk in chunks]
    rows = [json_rows(chunk) for chunk in chunks]
    merged = merged_as_queued(bodies, chunks)
    merged_bodies = [b"".join(bodies[i] for i in group) for group in merged]
    merged_rows = [b"".join(rows[i] for i in group) for group in merged]
    count = len(spans)
    load_before = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="hive-otel-bench-split-"))
    store = open_store(f"chdb://{workdir / 'store'}")
    server = CollectorServer(store, "127.0.0.1:0", "127.0.0.1:0")
    try:
        ports = server.start()
        endpoint = f"http://127.0.0.1:{ports.http}"
        store.ingest_traces(ExportTraceServiceRequest.FromString(bodies[0]), tenant=TENANT)  # warm up
        empty_data_tables(store)
        unmerged_rounds, merged_rounds = [], []
        for _ in range(rounds):
            unmerged_rounds.append(compare_round(store, endpoint, rows, bodies, count, clients))
            merged_rounds.append(compare_round(store, endpoint, merged_rows, merged_bodies, count, clients))
        in_store = stages(store, merged_rows, merged_bodies, count)
        parts = split(store, endpoint, bodies, count)
        sizes = insert_sizes(store, rows, bodies, count)
        views = view_costs(store, bodies) if with_views else None
        ceiling = write_once_ceiling(store, rows, bodies, count)
    finally:
        server.stop()
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    unmerged_median, merged_median = median_round(unmerged_rounds), median_round(merged_rounds)
    return {
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "spans": count,
        "batch_spans": DEFAULT_BATCH_ITEMS,
        "merged_requests": len(merged),
        "span_names": _span_name_counts(spans),
        "rounds": rounds,
        # The median round's figures (by ratio); every round's are under *_every_round.
        "baseline_plain_jsoneachrow": unmerged_median["plain"],
        "baseline_plain_jsoneachrow_merged_batches": merged_median["plain"],
        "end_to_end": unmerged_median["ours"],
        "end_to_end_merged_as_queued": merged_median["ours"],
        "ratio_ours_over_baseline_per_core": unmerged_median["ratio_per_core"],
        "ratio_merged_over_baseline_merged_per_core": merged_median["ratio_per_core"],
        "unmerged_every_round": [_round_summary(r) for r in unmerged_rounds],
        "merged_as_queued_every_round": [_round_summary(r) for r in merged_rounds],
        "stages_in_store_merged_batches": in_store,
        "split_one_request_at_a_time": parts,
        "insert_sizes": sizes,
        "views": views,
        "write_once_ceiling": ceiling,
    }


def _round_summary(one: dict[str, Any]) -> dict[str, Any]:
    return {
        "plain_spans_per_s_per_core": one["plain"]["spans_per_s_per_core"],
        "ours_spans_per_s_per_core": one["ours"]["spans_per_s_per_core"],
        "ratio_per_core": one["ratio_per_core"],
    }


def _span_name_counts(spans: list[SpanRecord]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for s in spans:
        counts[s.name.split(" ")[0]] += 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
