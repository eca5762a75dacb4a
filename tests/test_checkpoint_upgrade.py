"""A home backfilled by the discovery main shipped before issue 11, then by the new one: the
checkpoints carry over (same table, same relative paths), nothing is re-sent twice into the
rollups and what the old discovery never found (a graph agent's run logs under agents/) arrives."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from framework.observability import set_trace_context
from framework.tracker.runtime_log_store import RuntimeLogStore
from framework.tracker.runtime_logger import RuntimeLogger

import hive_otel.cli.client as client_cli
from devtools.workload import write_workload
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import open_store
from hive_otel.settings import ClientSettings

OLD_MAIN = "d877b64"  # main before issue 11: queens/, colonies/ and HIVE_HOME/sessions/<sid>/logs only
REPO = Path(__file__).resolve().parents[1]
SID = "session_20260115_080000_0ldc0de1"


def _old_files_module() -> ModuleType:
    """hive_otel/client/sources/files.py as main had it, loaded beside the current package.

    Kept as test data (``git show d877b64:hive_otel/client/sources/files.py``) rather than read from git at
    run time, so a shallow clone runs this test too instead of skipping it."""
    source = (REPO / "tests" / "testdata" / "files_d877b64.py.txt").read_text()
    spec = importlib.util.spec_from_loader("hive_otel_old_files", loader=None)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{OLD_MAIN}:hive_otel/client/sources/files.py", "exec"), module.__dict__)
    return module


def _top_level_run(home: Path, steps: range) -> int:
    """L3 steps under HIVE_HOME/sessions/<sid>/logs (RuntimeLogStore(HIVE_HOME)), which both read."""
    set_trace_context(trace_id="ab" * 16, execution_id="cd" * 16, stream_id="default")
    runtime_logger = RuntimeLogger(store=RuntimeLogStore(home), agent_id="legacy_host")
    runtime_logger.start_run(session_id=SID)
    for step in steps:
        runtime_logger.log_step(
            node_id="n", node_type="event_loop", step_index=step, input_tokens=100 + step, output_tokens=7
        )
    asyncio.run(runtime_logger.end_run(status="success", duration_ms=1000))
    return sum(100 + step for step in steps)


def test_old_checkpoints_then_new_discovery_send_nothing_twice_and_lose_nothing(tmp_path: Path, monkeypatch) -> None:
    old = _old_files_module()
    home = tmp_path / "home"
    # No fork and no colony: the old discovery counted every call copied by a fork or create-colony
    # again under the copy's session, and what it sent stays sent; the new one cannot take it back.
    truth = write_workload(home, queens=2, colonies=0, turns_per_session=3, forks=0, seed=9)
    top_input = _top_level_run(home, range(2))
    store = open_store(f"chdb://{tmp_path / 'clickhouse'}")
    server = Collector(store, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    server.start()
    settings = ClientSettings.from_env(
        {"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(tmp_path / "state"), "HIVE_OTEL_ENDPOINT": server.http_url,
         "OTEL_EXPORTER_OTLP_HEADERS": "x-hive-tenant-id=upgrade"}
    )  # fmt: skip
    try:
        with monkeypatch.context() as patched:
            patched.setattr(client_cli, "FileTailer", old.FileTailer)
            assert backfill(settings, timeout_s=120) == EXIT_OK
        before = usage(store, ["model"], tenant="upgrade").as_dict()["totals"]
        graph_calls = sum(1 for c in truth.llm_calls if c.model is None)
        assert before["llm_calls"] == len(truth.llm_calls) - graph_calls + 2  # agents/ was never read
        # The old home grows a step, and the new discovery takes over from the old checkpoints.
        top_input += _top_level_run(home, range(2, 3))
        assert backfill(settings, timeout_s=120) == EXIT_OK
        facts = store.query("SELECT count() FROM usage_facts FINAL WHERE tenant = 'upgrade'")[1][0][0]
        after = usage(store, ["model"], tenant="upgrade").as_dict()["totals"]
    finally:
        server.stop()
        store.close()
    assert facts == len(truth.llm_calls) + len(truth.tool_calls) + 3  # every call once, the three top-level steps
    assert after["llm_calls"] == len(truth.llm_calls) + 3
    assert after["input_tokens"] == truth.totals().input_tokens + top_input
    assert float(after["cost_usd"]) == pytest.approx(truth.totals().cost_usd, abs=1e-6)
    steps = (home / "sessions" / SID / "logs" / "tool_logs.jsonl").read_text().splitlines()
    assert [json.loads(s)["step_index"] for s in steps] == [0, 1, 2]  # the second run appended one step
