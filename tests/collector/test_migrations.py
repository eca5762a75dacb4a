"""Migrations: idempotent, reversible, a pinned cluster rendering, and exporter-compatible raw tables."""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from hive_otel.collector.store.migrations import (
    MigrationError,
    RenderOptions,
    applied_versions,
    load_migrations,
    render,
    split_statements,
)
from hive_otel.collector.store.otlp_schema import OTLP_SUBSET_PROTO
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import BASE_NS, Session, logs_request

# Column name → type of the OpenTelemetry Collector contrib clickhouseexporter tables
# (internal/sqltemplates/*_table.sql), as ClickHouse reports them in system.columns.
MAP = "Map(LowCardinality(String), String)"
METRIC_HEAD = {
    "ResourceAttributes": MAP, "ResourceSchemaUrl": "String", "ScopeName": "String", "ScopeVersion": "String",
    "ScopeAttributes": MAP, "ScopeDroppedAttrCount": "UInt32", "ScopeSchemaUrl": "String",
    "ServiceName": "LowCardinality(String)", "MetricName": "LowCardinality(String)", "MetricDescription": "String",
    "MetricUnit": "String", "Attributes": MAP, "StartTimeUnix": "DateTime", "TimeUnix": "DateTime",
}  # fmt: skip
EXEMPLARS = {
    "Exemplars.FilteredAttributes": f"Array({MAP})", "Exemplars.TimeUnix": "Array(DateTime)",
    "Exemplars.Value": "Array(Float64)", "Exemplars.SpanId": "Array(String)", "Exemplars.TraceId": "Array(String)",
}  # fmt: skip
EXPORTER_COLUMNS = {
    "otel_traces": {
        "Timestamp": "DateTime64(9)", "TraceId": "String", "SpanId": "String", "ParentSpanId": "String",
        "TraceState": "String", "SpanName": "LowCardinality(String)", "SpanKind": "LowCardinality(String)",
        "ServiceName": "LowCardinality(String)", "ResourceAttributes": MAP, "ScopeName": "String",
        "ScopeVersion": "String", "SpanAttributes": MAP, "Duration": "UInt64", "StatusCode": "LowCardinality(String)",
        "StatusMessage": "String", "Events.Timestamp": "Array(DateTime64(9))",
        "Events.Name": "Array(LowCardinality(String))", "Events.Attributes": f"Array({MAP})",
        "Links.TraceId": "Array(String)", "Links.SpanId": "Array(String)", "Links.TraceState": "Array(String)",
        "Links.Attributes": f"Array({MAP})", "ResourceAttributeItems": "Array(String)",
        "SpanAttributeItems": "Array(String)",
    },
    "otel_logs": {
        "Timestamp": "DateTime64(9)", "TimestampTime": "DateTime", "TraceId": "String", "SpanId": "String",
        "TraceFlags": "UInt8", "SeverityText": "LowCardinality(String)", "SeverityNumber": "UInt8",
        "ServiceName": "LowCardinality(String)", "Body": "String", "ResourceSchemaUrl": "LowCardinality(String)",
        "ResourceAttributes": MAP, "ScopeSchemaUrl": "LowCardinality(String)", "ScopeName": "String",
        "ScopeVersion": "LowCardinality(String)", "ScopeAttributes": MAP, "LogAttributes": MAP, "EventName": "String",
        **{f"__otel_materialized_{k}": "LowCardinality(String)" for k in (
            "k8s.cluster.name", "k8s.container.name", "k8s.deployment.name", "k8s.namespace.name",
            "k8s.node.name", "k8s.pod.name", "k8s.pod.uid", "deployment.environment.name")},
    },
    "otel_metrics_sum": {**METRIC_HEAD, "Value": "Float64", "Flags": "UInt32", **EXEMPLARS,
                         "AggregationTemporality": "Int32", "IsMonotonic": "Bool"},
    "otel_metrics_gauge": {**METRIC_HEAD, "Value": "Float64", "Flags": "UInt32", **EXEMPLARS},
    "otel_metrics_histogram": {
        **METRIC_HEAD, "Count": "UInt64", "Sum": "Float64", "BucketCounts": "Array(UInt64)",
        "ExplicitBounds": "Array(Float64)", **EXEMPLARS, "Flags": "UInt32", "Min": "Float64", "Max": "Float64",
        "AggregationTemporality": "Int32",
    },
    "otel_metrics_exponential_histogram": {
        **METRIC_HEAD, "Count": "UInt64", "Sum": "Float64", "Scale": "Int32", "ZeroCount": "UInt64",
        "PositiveOffset": "Int32", "PositiveBucketCounts": "Array(UInt64)", "NegativeOffset": "Int32",
        "NegativeBucketCounts": "Array(UInt64)", **EXEMPLARS, "Flags": "UInt32", "Min": "Float64", "Max": "Float64",
        "AggregationTemporality": "Int32",
    },
    # The exporter's summary table has MetricName String and DateTime64(9) times: ours are those of the other
    # metric tables (README, tables).
    "otel_metrics_summary": {
        **METRIC_HEAD, "Count": "UInt64", "Sum": "Float64", "ValueAtQuantiles.Quantile": "Array(Float64)",
        "ValueAtQuantiles.Value": "Array(Float64)", "Flags": "UInt32",
    },
}  # fmt: skip

# sha256 of each up migration rendered for a cluster named "hive". The folded set (0001-0020) is what
# the first release ships; from then on migrations are history: if one of these changes, a released
# file was edited — add a new numbered migration instead (and pin it here once it ships).
CLUSTER_RENDERING_SHA256 = {
    1: "bc10cb9bdf0f", 2: "2bbbb2c6c919", 3: "ea7c6bcd241f", 4: "3a23b8df04b3", 5: "9bc228d20bbb", 6: "76fa214f9c9d",
    7: "96297beab83c", 8: "869551e5a6b5", 9: "2c1359378d24", 10: "aa976f5c1111", 11: "ce1282b06b6b",
    12: "b58d0ee71e0e", 13: "5740aa4d7bd4", 14: "b5174445ad72", 15: "be406ff8bc1e", 16: "4e6255aef794",
    17: "f44698702702", 18: "f347a6f77322", 19: "33c6448e055f", 20: "ef1af072b150", 21: "935754824004",
    22: "8c85bbeb026e", 23: "1b2939042231", 24: "c9dd8ecc455a", 25: "f294437ab08b", 26: "3aee74541ef8",
    27: "b2d0d07b5c79", 28: "d164217de484", 29: "91495f4fb037", 30: "4501139e72e6", 31: "7951fdad7df4",
    32: "d7c5bab05997",
}  # fmt: skip


# Columns of ours after the exporter's: the insert that stored a row (migration 0027), which readers of
# the exporter's columns never name.
OWN_COLUMNS = {"otel_traces": {"IngestBatch": "UInt64"}, "otel_logs": {"IngestBatch": "UInt64"}}


@pytest.mark.parametrize("table", sorted(EXPORTER_COLUMNS))
def test_raw_tables_have_the_exporter_columns_in_order(store: Store, table: str) -> None:
    _, rows = store.query(f"SELECT name, type FROM system.columns WHERE table = '{table}' ORDER BY position")
    expected = {**EXPORTER_COLUMNS[table], **OWN_COLUMNS.get(table, {})}
    assert dict((name, typ) for name, typ in rows) == expected
    assert [name for name, _ in rows] == list(expected)


def test_log_records_have_the_exporters_time_in_seconds_beside_their_time(store: Store, tenant: str) -> None:
    """Queries written for the exporter's otel_logs (ClickStack's among them) filter on TimestampTime."""
    session = Session("sess-timestamp-time", "sess-timestamp-time")
    year_2200 = 7_258_118_400 * 10**9  # Timestamp goes to 2262, DateTime to 2106: toDateTime alone wrapped to 2063
    events = [(BASE_NS + 999_999_999, "node_stalled", {}), (year_2200, "heartbeat", {})]
    store.ingest_logs(logs_request(session, events), tenant=tenant)
    _, rows = store.query(
        "SELECT toString(TimestampTime, 'UTC'), toString(toDateTime(Timestamp), 'UTC') FROM otel_logs "
        f"WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}' ORDER BY Timestamp"
    )
    assert len(rows) == 2 and rows[0][0] == rows[0][1]
    assert rows[1][0] == "2106-02-07 06:28:15"


def test_migrate_is_idempotent_and_records_every_version(store: Store) -> None:
    versions = {m.version for m in load_migrations()}
    assert store.migrate() == []
    assert store.migrate() == []
    assert applied_versions(store._transport) == versions


def test_down_files_undo_everything_and_up_files_restore_it(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    versions = [m.version for m in load_migrations()]
    assert store.rollback(0) == sorted(versions, reverse=True)
    _, rows = store.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() AND NOT startsWith(name, 'schema_migration')"
    )
    assert rows == [[0]]
    with caplog.at_level(logging.INFO, logger="hive_otel"):
        assert store.migrate() == versions
    names = {m.version: m.name for m in load_migrations()}
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("applied migration")] == [
        f"applied migration {v:04d}_{names[v]}" for v in versions
    ]  # an upgrade on a collector's start says what it did


def test_every_migration_is_one_numbered_pair_with_safe_down_files() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for migration in migrations:
        # Idempotent: a down file drops what its up file made and restores (IF NOT EXISTS) what it replaced.
        for statement in split_statements(migration.down):
            if statement.startswith("INSERT INTO usage_calls\n"):
                continue  # max/groupBitOr columns of an AggregatingMergeTree: a row inserted twice changes nothing
            if statement.startswith("ALTER TABLE") and " MODIFY QUERY\n" in statement:
                continue  # sets a view's query: run twice, the same query (ALTER has no IF EXISTS)
            if statement.startswith("CREATE OR REPLACE TABLE") and statement.endswith("ENGINE = Null"):
                continue  # a Null table holds nothing: made again, the same table
            if statement.startswith("CREATE OR REPLACE VIEW"):
                continue  # a plain view holds nothing: made again, the same view
            assert "IF EXISTS" in statement or "IF NOT EXISTS" in statement, (migration.name, statement)


def test_the_loader_refuses_a_number_used_twice_and_a_missing_half(tmp_path: Path) -> None:
    for name in ("0001_create_a.up.sql", "0001_create_a.down.sql", "0001_create_b.up.sql", "0001_create_b.down.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="0001 is defined twice"):
        load_migrations(tmp_path)
    for path in tmp_path.glob("0001_create_b.*"):
        path.unlink()
    (tmp_path / "0002_create_c.up.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="0002 needs both"):
        load_migrations(tmp_path)


def test_single_node_rendering_leaves_no_placeholder_and_plain_engines() -> None:
    for migration in load_migrations():
        sql = render(migration.up, RenderOptions())
        assert "{" not in sql.replace("{{", "") and "Replicated" not in sql and "ON CLUSTER" not in sql


def test_cluster_rendering_is_pinned() -> None:
    options = RenderOptions(cluster="hive", ttl_days=30)
    facts = render(next(m.up for m in load_migrations() if m.name == "create_usage_facts"), options)
    assert "CREATE TABLE IF NOT EXISTS usage_facts ON CLUSTER 'hive' (" in facts
    assert "ENGINE = ReplicatedReplacingMergeTree(version)" in facts
    traces = render(load_migrations()[0].up, options)
    assert "TTL toDate(Timestamp) + toIntervalDay(30)" in traces
    assert "CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv ON CLUSTER 'hive'" in traces
    rendered = {m.version: hashlib.sha256(render(m.up, options).encode()).hexdigest()[:12] for m in load_migrations()}
    assert {v: h for v, h in rendered.items() if v in CLUSTER_RENDERING_SHA256} == CLUSTER_RENDERING_SHA256


def test_cluster_rendering_covers_every_object() -> None:
    """Every statement that makes, changes or drops an object runs ON CLUSTER, and every engine that
    can be replicated is; Null, Join and EmbeddedRocksDB tables are per node by nature."""
    options = RenderOptions(cluster="hive")
    for migration in load_migrations():
        for sql in (migration.up, migration.down):
            for statement in split_statements(render(sql, options)):
                if statement.startswith("INSERT INTO"):
                    continue  # data, written once and replicated by the table's engine
                assert re.match(r"(CREATE|DROP|ALTER) [A-Z ]+ \w+ ON CLUSTER 'hive'", statement), statement[:120]
                for engine in re.findall(r"ENGINE = (\w+)", statement):
                    assert engine.startswith("Replicated") or engine in ("Null", "Join", "EmbeddedRocksDB"), engine


def _fields(message_name: str) -> dict[str, tuple[int, bool]]:
    """``name → (number, repeated)`` for one message of our OTLP subset .proto text."""
    start = OTLP_SUBSET_PROTO.index(f"message {message_name} {{") + len(f"message {message_name} {{")
    depth, end = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(OTLP_SUBSET_PROTO[end], 0)
        end += 1
    body = OTLP_SUBSET_PROTO[start : end - 1]
    found = re.finditer(r"(repeated )?\w+ (\w+) = (\d+);", body)
    return {m[2]: (int(m[3]), bool(m[1])) for m in found}


@pytest.mark.parametrize(
    "descriptor",
    [
        trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR,
        logs_service_pb2.ExportLogsServiceRequest.DESCRIPTOR,
        metrics_service_pb2.ExportMetricsServiceRequest.DESCRIPTOR,
    ],
    ids=["traces", "logs", "metrics"],
)
def test_the_otlp_subset_matches_opentelemetry_proto(descriptor) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()

    def check(desc) -> None:  # type: ignore[no-untyped-def]
        if desc.name in seen:
            return
        seen.add(desc.name)
        ours = _fields(desc.name)
        real = {f.name: (f.number, f.is_repeated) for f in desc.fields}
        for name, spec in ours.items():
            if name in ("hive_tenant", "hive_batch", "hive_allow_all_keys"):
                assert spec[0] >= 1000  # our trailer fields, far from OTLP's numbers
                continue
            assert real.get(name) == spec, (desc.name, name)
        for f in desc.fields:
            if f.message_type is not None and f.name in ours:
                check(f.message_type)

    check(descriptor)


def test_migrate_says_when_its_ttl_or_cluster_cannot_reach_tables_made_before(tmp_path: Path) -> None:
    """`--ttl-days` shapes the tables of the migrations that run applies; on a migrated store it changes
    nothing, and a deploy script that runs the same `migrate` each start must hear that, not fail. (Each
    step in a process of its own: chDB opens one path per process, and this module's store is open.)"""
    url = f"chdb://{tmp_path / 'store'}"

    def hive_otel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hive_otel.cli", *args], capture_output=True, text=True, timeout=300)

    first = hive_otel("migrate", "--store", url, "--ttl-days", "30")
    assert first.returncode == 0, first.stderr
    said = [line.split(": ", 1)[1] for line in first.stderr.splitlines()]
    assert said == [f"applied migration {m.version:04d}_{m.name}" for m in load_migrations()], first.stderr  # no warning
    assert first.stdout.startswith(f"applied {len(load_migrations())} migration(s)")
    again = hive_otel("migrate", "--store", url, "--ttl-days", "7")
    assert again.returncode == 0 and again.stdout == "applied 0 migration(s)\n"
    assert "shape only the migrations a run applies" in again.stderr
    read = (
        f"from hive_otel.collector.store.store import open_store\nwith open_store({url!r}) as store:\n"
        "    print(store.query(\"SELECT create_table_query FROM system.tables WHERE name = 'otel_traces'\")[1][0][0])"
    )
    create = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, timeout=300).stdout
    assert "toIntervalDay(30)" in create and "toIntervalDay(7)" not in create


def test_session_health_reads_its_folded_signals_as_it_read_every_status_record(store: Store, tenant: str) -> None:
    """0031 folds the status records session_health reads per session (it grouped all of status_events,
    every tenant's, heartbeats included, on each read): the same answer, for records stored before the
    migration (its backfill) and after it (its view)."""
    queen, worker = Session("sh-queen", "sh-queen"), Session("sh-worker", "sh-queen", role="worker", parent="sh-queen")
    second = 1_000_000_000
    store.ingest_logs(logs_request(queen, [
        (BASE_NS, "heartbeat", {}), (BASE_NS + second, "loop_state_changed", {"hive.status": "executing"}),
        (BASE_NS + 2 * second, "loop_state_changed", {"hive.status": "awaiting_user", "hive.loop.park_reason": "ask_user"}),
        (BASE_NS + 3 * second, "heartbeat", {}),
    ]), tenant=tenant)  # fmt: skip
    store.ingest_logs(logs_request(worker, [
        (BASE_NS, "node_loop_started", {}), (BASE_NS + second, "node_stalled", {}),
        (BASE_NS + 2 * second, "stream_inactive", {}),
    ]), tenant=tenant)  # fmt: skip
    columns = (
        "session, health, stall_score, stall_signals, waiting, loop_activity, park_reason, last_heartbeat_at, "
        "last_progress_at"
    )

    def health() -> list[list[object]]:
        return store.query(f"SELECT {columns} FROM session_health WHERE tenant = '{tenant}' ORDER BY session")[1]

    folded = health()
    assert [row[:2] for row in folded] == [["sh-queen", "idle"], ["sh-worker", "stalled"]]
    assert store.rollback(30) == [32, 31]  # 0032 too
    assert health() == folded  # 0019's view over status_events
    assert store.migrate() == [31, 32]
    assert health() == folded  # the records from before, folded by the migration's backfill
    store.execute(f"DELETE FROM status_events WHERE tenant = '{tenant}' SETTINGS mutations_sync = 2")
    assert health() == folded  # read from the folded signals, not from every status record


def test_a_lease_a_killed_migrator_left_does_not_hold_an_embedded_store(store: Store) -> None:
    """A collector killed while it migrated a new embedded store left its lease row unreleased, and every
    later collector, `migrate` and reader of that store waited up to LEASE_SECONDS (15 min) for a process
    that was gone (a crash audit). An embedded store has one owner, its lock file's: it takes no lease."""
    store.execute("INSERT INTO schema_migration_leases VALUES ('killed-migrator', now64(6), 0)")
    done: list[tuple[list[int], list[int]]] = []
    cycle = threading.Thread(target=lambda: done.append((store.rollback(31), store.migrate())), daemon=True)
    cycle.start()
    cycle.join(120)
    assert done == [([32], [32])]
