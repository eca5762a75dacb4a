"""The store on a ClickHouse server (``HIVE_CLICKHOUSE_URL=http://…``, clickhouse-connect).

No ClickHouse server can run on this machine: the server here is the real ClickHouse engine (chDB) in
a process of its own behind ClickHouse's HTTP interface (``devtools/clickhouse_http.py``), so what is
tested is our transport and what several processes sharing one store do, over real HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

from devtools import clickhouse_http
from hive_otel.collector.queries.remote import open_reader
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.console import ConsoleRefused
from hive_otel.collector.store.migrations import load_migrations
from hive_otel.collector.store.store import Store, StoreError, open_store
from hive_otel.collector.store.transport import StoreInputError
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("server")
    proc, url = clickhouse_http.start(tmp / "clickhouse", tmp / "clickhouse.log")
    yield url
    proc.terminate()
    proc.wait(30)


def _database(server_url: str, name: str) -> str:
    with open_store(server_url, migrate=False) as store:
        store.execute(f"CREATE DATABASE IF NOT EXISTS {name}")
    return f"{server_url}/{name}"


def test_replicas_starting_together_migrate_the_store_once(server_url: str) -> None:
    """Three processes' worth of stores open a new store at once: one applies every migration, the
    others wait for its lease and find nothing left to do (before the lease, a replica could fail
    in 0021 while another was making usage_calls again)."""
    url = _database(server_url, "replicas")
    stores = [open_store(url, migrate=False) for _ in range(3)]
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def migrate(store: Store) -> None:
        try:
            applied.append(store.migrate())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    versions = [m.version for m in load_migrations()]
    assert sorted(applied, key=len) == [[], [], versions]
    _, rows = stores[0].query("SELECT version, count() FROM schema_migrations GROUP BY version ORDER BY version")
    assert rows == [[v, 1] for v in versions]  # each recorded once: nobody ran a file twice
    _, rows = stores[0].query("SELECT countIf(released = 0) FROM schema_migration_leases FINAL")
    assert rows == [[0]]  # the winner's lease is released
    for store in stores:
        store.close()


def test_usage_over_http_and_a_refused_body(server_url: str) -> None:
    """A call ingested through clickhouse-connect counts as it does embedded, and a body ClickHouse
    refuses as data is the client's error (StoreInputError, a 400), not a retryable store failure."""
    with open_store(_database(server_url, "ingest")) as store:
        call = LlmCall("http:1", cost_usd=0.125)
        request = traces_request([SessionBatch(Session("s-http", "s-http"), [call.span()])])
        for _ in range(2):  # a replay changes nothing
            store.ingest_traces(request, tenant="t-http")
        _, rows = store.query("SELECT count(), sum(cost_usd) FROM usage_facts FINAL WHERE tenant = 't-http'")
        assert rows == [[1, 0.125]]
        with pytest.raises(StoreInputError, match="UNKNOWN_PROTOBUF_FORMAT"):
            store._transport.insert_bytes("otlp_traces_input", "Protobuf", b"\xff" * 16, {})


def test_nested_values_and_late_times_over_http(server_url: str) -> None:
    """The input tables' constraints (migration 0025) reach the store through a server as they do
    embedded: a nested value is stored as its JSON text, a span past 2262 is rejected alone."""
    with open_store(_database(server_url, "constraints"), allow_all_keys=True) as store:
        session = Session("s-nested", "s-nested")
        nested, late = LlmCall("http:nested").span(), LlmCall("http:late").span()
        row = [AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=i)])) for i in (1, 2)]
        nested.attributes.add(key="shape").value.CopyFrom(AnyValue(array_value=ArrayValue(values=row)))
        late.start_time_unix_nano = 2**63
        result = store.ingest_traces(traces_request([SessionBatch(session, [nested, late])]), tenant="t-nested")
        assert (result.accepted, result.rejected) == (1, 1) and "times_before_2262" in result.message
        _, rows = store.query("SELECT SpanAttributes['shape'] FROM otel_traces")
        assert rows == [['[["1"],["2"]]']]


def test_the_sql_console_over_http(server_url: str) -> None:
    """``hive-otel sql`` on a server store: its policy reads ``EXPLAIN AST`` of the statement, which
    must come back as EXPLAIN's rows (a FORMAT clause appended to the text would belong to the SELECT)."""
    with open_store(_database(server_url, "console")) as store:
        assert store.console_query("SELECT 1 + 1 AS two") == (["two"], [[2]])
        with pytest.raises(ConsoleRefused, match="own tables only"):
            store.console_query("SELECT * FROM system.tables")


def test_reads_on_a_server_do_not_wait_for_ingest(server_url: str) -> None:
    """A read and a console statement return while another thread holds the store's lock, as an insert
    in progress does (on one lock, a 1-span export waited 9.26 s behind a 10 s console statement, and a
    tenant's read 9.30 s). The stand-in server runs one statement at a time, so a read cannot run beside
    a real insert here: what is checked is that the read path does not take the lock."""
    with open_store(_database(server_url, "reads")) as store:
        ingest_holds_the_lock = threading.Event()
        done = threading.Event()

        def ingest() -> None:
            with store._lock:
                ingest_holds_the_lock.set()
                done.wait(30)

        holder = threading.Thread(target=ingest)
        holder.start()
        try:
            assert ingest_holds_the_lock.wait(10)
            reads = ThreadPoolExecutor(1)
            assert reads.submit(store.query, "SELECT 1 AS one").result(10) == (["one"], [[1]])
            assert reads.submit(store.console_query, "SELECT 2 AS two").result(10) == (["two"], [[2]])
            reads.shutdown()
        finally:
            done.set()
            holder.join()


def test_a_facts_insert_that_fails_after_the_ledger_leaves_the_rollups_exact(server_url: str) -> None:
    """The ledger (which feeds the rollups) and the facts are two inserts. On a server store, with no
    marker file, the facts insert failing after the ledger's left the rollups counting the call, and
    the client's retry counted it again: rollups 2 calls, facts 1. The store now undoes the ledger."""
    with open_store(_database(server_url, "undo")) as store:
        calls = [LlmCall(f"undo:{i}", input_tokens=1000 + i) for i in range(3)]
        request = traces_request([SessionBatch(Session("s-undo", "s-undo"), [c.span() for c in calls])])
        store.execute("ALTER TABLE usage_facts ADD CONSTRAINT refuse_for_test CHECK tenant != 't-undo'")
        try:
            with pytest.raises(StoreError, match="refuse_for_test"):
                store.ingest_traces(request, tenant="t-undo")
        finally:
            store.execute("ALTER TABLE usage_facts DROP CONSTRAINT refuse_for_test")
        store.ingest_traces(request, tenant="t-undo")  # the client's retry
        totals = usage(store, ["model"], tenant="t-undo").totals
        assert (totals["llm_calls"], totals["input_tokens"]) == (3, 3003)
        _, rows = store.query("SELECT sum(llm_calls), sum(input_tokens) FROM usage_session_totals WHERE tenant = 't-undo'")
        assert rows == [[3, 3003]]


def test_a_reader_of_a_server_store_never_changes_its_schema(server_url: str) -> None:
    """`hive-otel usage`, `sql`, `status` and `report` on a server store share it with the collectors that
    write into it: they read it as it is (a newer hive-otel on an operator's laptop applied its migrations
    under the running fleet). A store without this package's migrations is refused with what to do."""
    url = _database(server_url, "reader")
    with open_store(url) as store:
        assert store.rollback(30) == [32, 31]
    with pytest.raises(StoreError, match=r"lacks 2 of this hive-otel's migrations \(0031_.*hive-otel migrate"):
        open_reader(url)
    with open_store(url, migrate=False) as store:
        _, rows = store.query("SELECT max(version) FROM schema_migrations FINAL WHERE is_applied")
        assert rows == [[30]]  # the reader applied nothing
        store.migrate()
    reader, close = open_reader(url)
    try:
        assert usage(reader, "model").totals["llm_calls"] == 0
    finally:
        close()
    with pytest.raises(StoreError, match="no store"):  # an empty database is not made into one
        open_reader(_database(server_url, "reader_empty"))


def test_the_sql_console_on_a_read_only_account(tmp_path: Path) -> None:
    """A ClickHouse user whose profile sets ``readonly = 2`` (reads and settings, no writes) reads usage and
    runs the console: the console keeps the account's ``readonly = 2`` (its own ``readonly = 1`` is a change
    ClickHouse refuses in read-only mode), and a write is still refused."""
    proc, url = clickhouse_http.start(tmp_path / "store", tmp_path / "writer.log")
    with open_store(url) as store:
        store.ingest_traces(traces_request([SessionBatch(Session("s-ro", "s-ro"), [LlmCall("ro:1").span()])]), tenant="ro")
    proc.terminate()
    proc.wait(30)
    proc, url = clickhouse_http.start(tmp_path / "store", tmp_path / "reader.log", readonly=2)
    try:
        reader, close = open_reader(url)
        try:
            assert usage(reader, "tenant").totals["llm_calls"] == 1
            assert reader.console_query("SELECT count() AS calls FROM usage_facts FINAL") == (["calls"], [[1]])
            with pytest.raises(ConsoleRefused):
                reader.console_query("INSERT INTO usage_facts SELECT * FROM usage_facts")
        finally:
            close()
    finally:
        proc.terminate()
        proc.wait(30)
