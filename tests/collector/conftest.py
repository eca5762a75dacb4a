"""Store fixtures: a real embedded ClickHouse (chDB) in a temporary directory, always run.

chDB embeds one path per process, so a module shares one store and each test writes under its own
tenant (the ``tenant`` override of the ingest methods) and reads only that tenant back.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from hive_otel.collector.store.store import Store, open_store

_tenants = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("chdb") / "store"
    opened = open_store(f"chdb://{path}")
    yield opened
    opened.close()


@pytest.fixture
def tenant() -> str:
    return f"tenant-{next(_tenants)}"
