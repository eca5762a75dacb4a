"""The README stays true: every SQL example runs against a store loaded by the demo workload and returns
rows, every environment variable the code reads is documented, and the two commands are shown."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.workload import write_workload
from hive_otel import environment_variables as ev
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store
from hive_otel.settings import ClientSettings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
SQL_EXAMPLES = re.findall(r"```sql\n(.*?)```", README, flags=re.S)


@pytest.fixture(scope="module")
def loaded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    work = tmp_path_factory.mktemp("readme")
    write_workload(work / "home", queens=2, colonies=2, workers_per_colony=2, turns_per_session=4)
    store = open_store(f"chdb://{work / 'clickhouse'}")
    server = Collector(store, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    server.start()
    try:
        settings = ClientSettings.from_env(
            {"HIVE_HOME": str(work / "home"), "HIVE_OTEL_ENDPOINT": server.http_url, "HIVE_OTEL_STATE_DIR": str(work / "s")}
        )
        assert backfill(settings, timeout_s=120) == EXIT_OK
    finally:
        server.stop()
    yield store
    store.close()


def test_readme_has_sql_examples() -> None:
    assert len(SQL_EXAMPLES) >= 5


@pytest.mark.parametrize("sql", SQL_EXAMPLES, ids=[s.split("FROM")[1].split()[0] for s in SQL_EXAMPLES])
def test_sql_example_runs_and_returns_rows(loaded_store: Store, sql: str) -> None:
    columns, rows = loaded_store.query(sql, readonly=True)
    assert columns and rows


def test_every_environment_variable_is_documented() -> None:
    for name in ev.__all__:
        assert f"`{name}`" in README, name


def test_two_commands_are_shown() -> None:
    assert "make demo" in README and "make test" in README
