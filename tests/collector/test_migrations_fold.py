"""The fold: 34 migrations written before any release became one per table family.

The pre-fold chain is kept as test data (testdata/prefold_migrations, as main had it). These tests apply
it and the folded set to real chDB stores and prove that both end in the same schema, object by object
and column by column. chDB embeds one path per process, so every store here is closed before the next
one opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hive_otel.collector.store.migrations import (
    RenderOptions,
    apply_migrations,
)
from hive_otel.collector.store.store import Store, open_store

PREFOLD = Path(__file__).parent / "testdata" / "prefold_migrations"

# Everything ClickHouse says about an object, its own database's name taken out of the statement.
TABLES = (
    "SELECT name, engine, engine_full, partition_key, sorting_key, primary_key, sampling_key,"
    " replaceAll(create_table_query, currentDatabase() || '.', '') AS create_query,"
    " arraySort(dependencies_table) AS views_reading_it"
    " FROM system.tables WHERE database = currentDatabase() AND name != 'schema_migrations' ORDER BY name"
)
COLUMNS = (
    "SELECT table, name, position, type, default_kind, default_expression, comment, compression_codec,"
    " is_in_partition_key, is_in_sorting_key, is_in_primary_key"
    " FROM system.columns WHERE database = currentDatabase() AND table != 'schema_migrations'"
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


@pytest.mark.parametrize("options", [RenderOptions(), RenderOptions(ttl_days=7)], ids=["plain", "ttl"])
def test_the_folded_set_ends_in_the_schema_of_the_prefold_chain(tmp_path: Path, options: RenderOptions) -> None:
    with _migrated_store(tmp_path / "prefold", PREFOLD, options) as store:
        prefold = _schema(store)
    with _migrated_store(tmp_path / "folded", None, options) as store:
        folded = _schema(store)
    assert sorted(folded) == sorted(prefold)
    assert len(folded) == 59  # tables, materialized views and views
    for name, described in prefold.items():
        assert folded[name] == described, name
