"""`make stack` end to end: the real otelcol-hive agent, `hive-otel collector` in its own process on chDB,
a Hive workload backfilled through the agent, then usage read from the store.

Nothing is mocked: the agent is the binary `make otelcol` builds (.ci/run builds it before the tests),
the collector is the CLI in a subprocess, every socket is on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from devtools.stack import DEMO_MARKER, demo_client
from devtools.workload import WorkloadTruth
from hive_otel.cli.client import EXIT_OK
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import open_store


def test_make_stack_delivers_the_workload_through_the_agent(
    hive_workload: tuple[Path, WorkloadTruth], tmp_path: Path
) -> None:
    home, truth = hive_workload
    work, result_file = tmp_path / "stack", tmp_path / "result.json"
    completed = subprocess.run(
        [sys.executable, "-m", "devtools.stack", "--dir", str(work), "--hive-home", str(home), "--json", str(result_file),
         "--timeout", "120"],
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(result_file.read_text())

    totals, expected = result["usage_by_model"]["totals"], truth.totals()
    for name in ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "tool_calls", "tool_errors"):
        assert totals[name] == getattr(expected, name), name
    assert totals["cost_usd"] == pytest.approx(expected.cost_usd, abs=1e-6)

    # The client sent to the agent, which alone holds the collector's token; nothing was refused.
    agent, collector = urlparse(result["agent_endpoint"]), urlparse(result["collector_http"])
    assert agent.hostname == collector.hostname == "127.0.0.1" and agent.port != collector.port
    counters = result["collector_counters"]
    assert not any(counters["unauthenticated"].values()) and not any(counters["items_rejected"].values())
    assert counters["items_accepted"]["traces"] > 0 and counters["items_accepted"]["logs"] > 0
    assert "1 token(s)" in (work / "logs" / "collector.log").read_text()
    assert Path(result["report"]).stat().st_size > 1_000_000  # the page with plotly.js inside
    assert "Usage by model" in completed.stdout and "Data landed in chdb://" in completed.stdout


def test_demo_client_writes_the_workload_once(tmp_path: Path) -> None:
    """The compose demo service's command: a restart (same volume) sends nothing twice."""
    home, state = tmp_path / "hive", tmp_path / "state"
    store = open_store(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        with Collector(store, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0") as server:
            health = f"{server.http_url}/healthz"
            assert demo_client(home, state, server.http_url, agent_health=health, timeout_s=60, turns=1) == EXIT_OK
            assert (home / DEMO_MARKER).exists()
            first = usage(store, ["model"]).totals
            assert demo_client(home, state, server.http_url, agent_health=health, timeout_s=60, turns=1) == EXIT_OK
            assert usage(store, ["model"]).totals == first and first["llm_calls"] > 0
    finally:
        store.close()

    foreign = tmp_path / "someone-elses-hive"
    (foreign / "queens").mkdir(parents=True)
    with pytest.raises(SystemExit, match="not empty"):
        demo_client(foreign, state, "http://127.0.0.1:9", agent_health=None, timeout_s=1, turns=1)
