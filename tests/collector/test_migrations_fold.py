"""The fold: 34 migrations written before any release became one per table family.

The pre-fold chain is kept as test data (testdata/prefold_migrations, as main had it). These tests apply
it and the folded set to real chDB stores and prove that both end in the same schema, object by object
and column by column; that a store the complete chain made is refused until ``hive-otel migrate
--restamp-prefold`` records it as folded (its data kept); and that a partly applied chain is refused
with a message, never mixed with the folded set. chDB embeds one path per process, so every store here
is closed before the next one opens.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hive_otel.cli import run
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.store.migrations import (
    FOLDED_LAST,
    PREFOLD_CHAIN,
    MigrationHistoryError,
    RenderOptions,
    applied_history,
    apply_migrations,
    load_migrations,
    migrations_dir,
)
from hive_otel.collector.store.store import Store, open_store
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

PREFOLD = Path(__file__).parent / "testdata" / "prefold_migrations"
RESTAMP = "hive-otel migrate --restamp-prefold"
EXIT_STORE = 3

# Everything ClickHouse says about an object, its own database's name taken out of the statement.
TABLES = (
    "SELECT name, engine, engine_full, partition_key, sorting_key, primary_key, sampling_key,"
    " replaceAll(create_table_query, currentDatabase() || '.', '') AS create_query,"
    " arraySort(dependencies_table) AS views_reading_it"
    " FROM system.tables WHERE database = currentDatabase() AND NOT startsWith(name, 'schema_migration') ORDER BY name"
)
COLUMNS = (
    "SELECT table, name, position, type, default_kind, default_expression, comment, compression_codec,"
    " is_in_partition_key, is_in_sorting_key, is_in_primary_key"
    " FROM system.columns WHERE database = currentDatabase() AND NOT startsWith(table, 'schema_migration')"
    " ORDER BY table, position"
)


def _schema(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Each object's system.tables row, and its system.columns rows in order, by object name."""
    columns, rows = store.query(TABLES)
    schema = {row[0]: [dict(zip(columns, row, strict=True))] for row in rows}
    columns, rows = store.query(COLUMNS)
    for row in rows:
        schema[row[0]].append(dict(zip(columns, row, strict=True)))
    return schema


def _migrated_store(path: Path, directory: Path | None, options: RenderOptions | None = None) -> Store:
    """A store at ``path`` migrated by the files of ``directory`` (None: the folded set), nothing else
    written; allow_all_keys, because its redaction allowlist stays empty until Store.migrate writes it."""
    store = open_store(f"chdb://{path}", migrate=False, allow_all_keys=True)
    apply_migrations(store, options, directory)
    return store


def _folded_only(directory: Path) -> Path:
    """The fold's own files (0001-FOLDED_LAST), without the fix-forward migrations made after it."""
    directory.mkdir()
    for path in migrations_dir().glob("*.sql"):
        if int(path.name[:4]) <= FOLDED_LAST:
            shutil.copy2(path, directory / path.name)
    return directory


@pytest.mark.parametrize("options", [RenderOptions(), RenderOptions(ttl_days=7)], ids=["plain", "ttl"])
def test_the_folded_set_ends_in_the_schema_of_the_prefold_chain(tmp_path: Path, options: RenderOptions) -> None:
    with _migrated_store(tmp_path / "prefold", PREFOLD, options) as store:
        prefold = _schema(store)
    with _migrated_store(tmp_path / "folded", _folded_only(tmp_path / "folded_set"), options) as store:
        folded = _schema(store)
    assert sorted(folded) == sorted(prefold)
    assert len(folded) == 59  # tables, materialized views and views
    for name, described in prefold.items():
        assert folded[name] == described, name


def test_prefold_chain_is_the_one_stores_recorded() -> None:
    assert {m.version: (m.name, m.checksum()) for m in load_migrations(PREFOLD)} == PREFOLD_CHAIN


def test_a_store_the_prefold_chain_made_is_refused_until_restamped(tmp_path: Path, tenant: str) -> None:
    url = f"chdb://{tmp_path / 'store'}"
    with _migrated_store(tmp_path / "store", PREFOLD) as store:
        call = traces_request([SessionBatch(Session("s-pre", "s-pre"), [LlmCall("fold:1", cost_usd=0.5).span()])])
        assert store.ingest_traces(call, tenant=tenant).new_calls == 1
    with pytest.raises(MigrationHistoryError, match=RESTAMP):
        open_store(url)
    collector = _collector(url)
    assert collector.returncode == EXIT_STORE and RESTAMP in collector.stderr, collector.stderr

    assert run(["migrate", "--store", url, "--restamp-prefold"]) == 0
    assert run(["migrate", "--store", url, "--restamp-prefold"]) == 0  # nothing left to restamp
    with open_store(url) as store:
        assert applied_history(store) == {m.version: (m.name, m.checksum()) for m in load_migrations()}
        call = traces_request([SessionBatch(Session("s-post", "s-post"), [LlmCall("fold:2", cost_usd=0.25).span()])])
        store.ingest_traces(call, tenant=tenant)
        rows = usage(store, ["root_session"], tenant=tenant).rows  # from the rollups
        assert {(r["root_session"], r["llm_calls"], r["cost_usd"]) for r in rows} == {("s-pre", 1, 0.5), ("s-post", 1, 0.25)}
        # The folded down files take the restamped store apart: its objects are the folded set's.
        assert store.rollback(0) == sorted((m.version for m in load_migrations()), reverse=True)
        _, rows = store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
        assert sorted(rows) == [["schema_migration_leases"], ["schema_migrations"]]


@pytest.mark.parametrize("last", [3, 26])
def test_a_partly_applied_prefold_chain_is_refused_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], last: int
) -> None:
    part = tmp_path / "part"
    part.mkdir()
    for path in PREFOLD.glob("*.sql"):
        if int(path.name[:4]) <= last:
            shutil.copy(path, part)
    url = f"chdb://{tmp_path / 'store'}"
    _migrated_store(tmp_path / "store", part).close()
    for attempt in (["migrate", "--store", url], ["migrate", "--store", url, "--restamp-prefold"]):
        assert run(attempt) == EXIT_STORE
        message = capsys.readouterr().err
        assert f"only part way: it records {last} of the 34 pre-fold migrations" in message, message
        assert "hive-otel backfill --replay" in message and RESTAMP in message
    with pytest.raises(MigrationHistoryError, match="only part way"):
        open_store(url)


def test_a_store_whose_migration_differs_from_ours_is_refused(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'store'}"
    with open_store(url) as store:
        store.execute(
            "INSERT INTO schema_migrations (version, name, checksum, is_applied, seq) "
            "VALUES (3, 'create_otel_metrics_sum', 'edited', 1, 9223372036854775807)"  # newer than the real row
        )
    with pytest.raises(MigrationHistoryError, match=r"0003_create_otel_metrics_sum \(edited\) where this hive-otel has"):
        open_store(url)


def _collector(url: str) -> subprocess.CompletedProcess[str]:
    """``hive-otel collector`` as a process of its own: it must exit before it serves."""
    command = [sys.executable, "-m", "hive_otel.cli", "collector", "--store", url,
               "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
