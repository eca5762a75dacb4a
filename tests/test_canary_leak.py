"""No secret reaches the store: real Hive output with canaries → ``hive-otel backfill`` (client-side
redaction) → the collector (with a tokens file, over OTLP/HTTP and OTLP/gRPC) → ClickHouse (chDB),
then every text-bearing column of every table is searched for every canary.

The canaries sit in tool inputs and results, LLM text, error messages, file paths and raw event
data (see :mod:`devtools.workload`). The scan reads ``system.columns`` so a table or column added
later is scanned too; a positive control proves the same scan finds values that are meant to be there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.workload import CANARIES, WorkloadTruth, write_workload
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.auth.tokens import TokenTable, add_token
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store
from hive_otel.settings import ClientSettings

TOKEN = "canary-scan-token-3c5e7a9b1d2f4e6a"
TENANT = "canary-scan"
TEXT_TYPES = ("String", "Map", "Array", "Tuple", "Variant", "JSON", "Enum")
# Engines that hold no rows of their own: scanning them would only repeat (or miss) their targets.
NO_ROWS_ENGINES = ("MaterializedView", "Null")


@pytest.fixture(scope="module")
def canary_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth]:
    home = tmp_path_factory.mktemp("canary_home")
    return home, write_workload(home, canaries=True, seed=7)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Collector]]:
    root = tmp_path_factory.mktemp("canary_store")
    add_token(root / "tokens.yaml", TOKEN, TENANT)
    store = open_store(f"chdb://{root / 'clickhouse'}")
    server = Collector(
        store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1, tokens=TokenTable.load(root / "tokens.yaml")
    )
    server.start()
    yield store, server
    server.stop()
    store.close()


def _column_expression(name: str, type_: str) -> str:
    column = f"`{name}`"
    if type_.startswith("AggregateFunction("):
        column = f"finalizeAggregation({column})"
    return f"toString({column})"


def scan(store: Store, needles: tuple[str, ...]) -> dict[str, int]:
    """``{"table.column: needle": rows}`` for every text-bearing column holding a needle."""
    _, tables = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        f"AND engine NOT IN ({', '.join(repr(e) for e in NO_ROWS_ENGINES)}) ORDER BY name"
    )
    hits: dict[str, int] = {}
    scanned = 0
    for (table,) in tables:
        _, columns = store.query(
            f"SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '{table}'"
        )
        probes = [
            (f"{table}.{name}: {needle}", f"countIf(position({_column_expression(name, type_)}, '{needle}') > 0)")
            for name, type_ in columns
            if any(word in type_ for word in TEXT_TYPES)
            for needle in needles
        ]
        if not probes:
            continue
        scanned += len(probes) // len(needles)
        _, rows = store.query(f"SELECT {', '.join(sql for _, sql in probes)} FROM `{table}`")
        hits.update({label: int(count) for (label, _), count in zip(probes, rows[0], strict=True) if int(count)})
    assert scanned > 50, f"only {scanned} columns scanned"  # the scan reached the OTel and usage tables
    return hits


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_no_canary_in_any_column_of_any_table(
    canary_home: tuple[Path, WorkloadTruth], collector: tuple[Store, Collector], tmp_path: Path, protocol: str
) -> None:
    home, truth = canary_home
    store, server = collector
    raw = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert truth.canaries == CANARIES and all(c.encode() in raw for c in CANARIES)  # planted where Hive writes

    endpoint = server.http_url if protocol == "http/protobuf" else f"http://{server.grpc_target}"
    settings = ClientSettings.from_env(
        {
            "HIVE_HOME": str(home),
            "HIVE_OTEL_STATE_DIR": str(tmp_path / "state"),
            "HIVE_OTEL_ENDPOINT": endpoint,
            "HIVE_OTEL_TOKEN": TOKEN,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        }
    )
    assert backfill(settings, timeout_s=120) == EXIT_OK
    _, rows = store.query(f"SELECT count() FROM usage_facts FINAL WHERE tenant = '{TENANT}'")
    assert rows[0][0] == len(truth.llm_calls) + len(truth.tool_calls)  # everything arrived

    assert scan(store, CANARIES) == {}

    # Positive control: the same scan does find what is meant to be stored.
    session = next(iter(truth.sessions))
    found = scan(store, (session, TENANT))
    assert f"otel_traces.ResourceAttributes: {session}" in found
    assert f"usage_facts.tenant: {TENANT}" in found
