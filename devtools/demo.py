"""``make demo``: the whole main job on this machine, in about a minute.

1. The real aden-hive EventBus and RuntimeLogger write a realistic Hive home (queens, colonies with
   workers, several models, tool calls, stalls) into a temporary directory: scripted turns, no keys.
2. The cloud collector starts on 127.0.0.1 with the embedded ClickHouse store (chDB).
3. ``hive-otel backfill`` reads the Hive files and delivers them over OTLP to it.
4. Usage by model and by colony is read back from the ClickHouse rollups, checked against the
   totals the workload itself counted while emitting, and printed with the SQL to try next.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from devtools.workload import WorkloadTruth, write_workload
from hive_otel.cli.client import backfill
from hive_otel.collector.queries.text_table import render_table
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import open_store
from hive_otel.settings import ClientSettings

_COLUMNS = ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "cost_estimated_usd",
            "unpriced_calls", "tool_calls")  # fmt: skip

NEXT_STEPS = """\
Try next (the store is at {store}):
  {exe} usage --store {url} --group-by root_session,agent_role
  {exe} usage --store {url} --group-by day,model --format json
  {exe} status --store {url}
  {exe} sql --store {url} "SELECT model, sum(llm_calls), sum(cost_usd) FROM usage_daily GROUP BY model"
  {exe} sql --store {url} "SELECT SpanName, count() FROM otel_traces GROUP BY SpanName ORDER BY 2 DESC"
"""


def _print_report(title: str, report: dict, keys: list[str]) -> None:
    columns = [*keys, *_COLUMNS]
    rows = [[row.get(c) for c in columns] for row in report["rows"]]
    rows.append(["TOTAL", *([""] * (len(keys) - 1)), *(report["totals"].get(c) for c in _COLUMNS)])
    print(f"\n{title}")
    print(render_table(columns, rows, numeric=set(_COLUMNS)))


def _check(report: dict, truth: WorkloadTruth) -> list[str]:
    """Compare the rollup totals with what the workload counted while it emitted."""
    expected = truth.totals()
    got = report["totals"]
    problems = []
    for field in ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "tool_calls"):
        if got.get(field) != getattr(expected, field):
            problems.append(f"{field}: store {got.get(field)} != emitted {getattr(expected, field)}")
    if abs(float(got.get("cost_usd", 0)) - expected.cost_usd) > 1e-6:
        problems.append(f"cost_usd: store {got.get('cost_usd')} != emitted {expected.cost_usd}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="work directory (default: a new temporary directory)")
    parser.add_argument("--turns", type=int, default=12, help="LLM turns per session (default 12)")
    args = parser.parse_args(argv)
    work = args.dir or Path(tempfile.mkdtemp(prefix="hive-otel-demo-"))
    home, store_path = work / "hive_home", work / "clickhouse"
    store_url = f"chdb://{store_path}"

    started = time.monotonic()
    print(f"1/4  writing a Hive workload with the real aden-hive runtime into {home} …")
    truth = write_workload(home, queens=2, colonies=2, workers_per_colony=3, turns_per_session=args.turns)
    totals = truth.totals()
    print(f"     {len(truth.sessions)} sessions, {totals.llm_calls} LLM calls, {totals.tool_calls} tool calls")

    print(f"2/4  starting the collector on 127.0.0.1 with the embedded ClickHouse store at {store_path} …")
    store = open_store(store_url)
    server = Collector(store, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    server.start()
    try:
        endpoint = server.http_url
        print(f"3/4  hive-otel backfill → HIVE_OTEL_ENDPOINT={endpoint}")
        settings = ClientSettings.from_env(
            {"HIVE_HOME": str(home), "HIVE_OTEL_ENDPOINT": endpoint, "HIVE_OTEL_STATE_DIR": str(work / "otel-state")}
        )
        code = backfill(settings, timeout_s=300)
        if code != 0:
            print(f"backfill failed with exit code {code}", file=sys.stderr)
            return code

        print("4/4  usage from the ClickHouse rollups")
        by_model = usage(store, ["model"]).as_dict()
        by_colony = usage(store, ["colony"]).as_dict()
        _print_report("Usage by model", by_model, ["model"])
        _print_report("Usage by colony", by_colony, ["colony"])
    finally:
        server.stop()
        store.close()

    problems = _check(by_model, truth)
    if problems:
        print("\nMISMATCH between the store and what the workload emitted:\n  " + "\n  ".join(problems))
        return 1
    print(
        f"\nThe rollups equal the totals the workload counted itself ({totals.llm_calls} calls, "
        f"${totals.cost_usd:.4f} runtime cost). cost_estimated_usd is genai-prices' estimate for calls the "
        f"runtime did not price, kept apart from runtime cost. Done in {time.monotonic() - started:.1f}s.\n"
    )
    installed = Path(sys.executable).with_name("hive-otel")
    exe = str(installed) if installed.exists() else "hive-otel"
    print(NEXT_STEPS.format(store=store_path, url=store_url, exe=exe))
    return 0


if __name__ == "__main__":
    sys.exit(main())
