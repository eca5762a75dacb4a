"""``make stack``: the services of deploy/docker-compose.yml as local processes on 127.0.0.1.

Without Docker, the same wiring runs for real on this machine:

1. a Hive workload is written by the real aden-hive runtime (the compose ``demo`` service does the same);
2. ``hive-otel collector`` starts in its own process on the embedded ClickHouse store (chDB), with a
   tokens file, as the compose collector does on the ClickHouse server;
3. the real OpenTelemetry Collector agent (``otelcol-hive`` built by ``make otelcol``) runs
   collector/agent.yaml: loopback receivers, redaction, a disk queue, upstream to the collector with a
   bearer token;
4. ``hive-otel backfill`` exports the workload to the agent (the client holds no token, so whatever the
   collector stores came through the agent), and the collector's counters are watched until the agent
   has forwarded everything;
5. the agent and the collector are stopped (SIGTERM), and the usage is read from the store, checked
   against what the workload counted, printed, and rendered with ``hive-otel report``.

``python -m devtools.stack demo-client`` is the compose ``demo`` service's command: write the workload
once into ``$HIVE_HOME``, wait for the agent's health endpoint, backfill through it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devtools.workload import UsageTotals, write_workload
from hive_otel import environment_variables as ev
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.auth.tokens import add_token
from hive_otel.settings import ClientSettings

__all__ = ["demo_client", "main", "otelcol_binary", "run_stack"]

REPO = Path(__file__).resolve().parents[1]
AGENT_CONFIG = REPO / "collector" / "agent.yaml"
BUILDER_CONFIG = REPO / "collector" / "builder-config.yaml"
DEMO_MARKER = ".hive-otel-demo"
"""Written into a Hive home after the demo workload is complete; its presence means "do not write again"."""

STACK_TENANT = "stack"
QUIET_S = 3.0
"""How long the collector's counters must stay unchanged before the agent counts as drained: three
times the agent's batch timeout (collector/agent.yaml), and longer than its first retry interval."""

EXIT_MISMATCH, EXIT_USAGE_ERROR, EXIT_FAILED = 1, 2, 3


def _say(text: str) -> None:
    print(text, flush=True)


# --- the demo client (also the compose demo service) ---------------------------------------------


def _ensure_workload(home: Path, turns: int) -> UsageTotals | None:
    """Write the demo workload into an empty ``home``; None when it was written before (the marker)."""
    if (home / DEMO_MARKER).exists():
        _say(f"     {home} already holds the demo workload; not writing it again")
        return None
    if home.exists() and any(home.iterdir()):
        raise SystemExit(f"{home} is not empty and holds no demo workload: refusing to write one into it")
    truth = write_workload(home, queens=2, colonies=2, workers_per_colony=3, turns_per_session=turns)
    (home / DEMO_MARKER).write_text(json.dumps(truth.totals().as_dict()) + "\n", encoding="utf-8")
    totals = truth.totals()
    _say(f"     {len(truth.sessions)} sessions, {totals.llm_calls} LLM calls, {totals.tool_calls} tool calls")
    return totals


def _wait_http_ok(url: str, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the process serving {url} exited")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f}s")


def _backfill(home: Path, state_dir: Path, endpoint: str, timeout_s: float) -> int:
    settings = ClientSettings.from_env({**os.environ, ev.HIVE_HOME: str(home), ev.HIVE_OTEL_ENDPOINT: endpoint,
                                        ev.HIVE_OTEL_STATE_DIR: str(state_dir)})  # fmt: skip
    return backfill(settings, timeout_s=timeout_s)


def demo_client(
    home: Path, state_dir: Path, endpoint: str, *, agent_health: str | None, timeout_s: float, turns: int
) -> int:
    """Write the workload once, wait for the agent, backfill through it; ``backfill``'s exit code."""
    _say(f"demo: Hive workload in {home}")
    _ensure_workload(home, turns)
    if agent_health:
        _say(f"demo: waiting for the agent at {agent_health}")
        _wait_http_ok(agent_health, timeout_s)
    _say(f"demo: hive-otel backfill → {endpoint}")
    return _backfill(home, state_dir, endpoint, timeout_s)


# --- local processes -----------------------------------------------------------------------------


def otelcol_binary() -> Path:
    """The agent `make otelcol` builds: $HIVE_OTEL_CACHE/otelcol-<version>/otelcol-hive (see the Makefile)."""
    version = yaml.safe_load(BUILDER_CONFIG.read_text(encoding="utf-8"))["dist"]["version"]
    cache = os.environ.get(ev.HIVE_OTEL_CACHE)
    root = Path(cache) if cache else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hive-otel"
    return root / f"otelcol-{version}" / "otelcol-hive"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Process:
    """A child process logging to a file, stopped with SIGTERM (then SIGKILL after ``grace_s``)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.log_path = name, log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (match := re.search(pattern, self.log_tail(20000))) is not None:
                return match
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start within {timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self, grace_s: float) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


def _counters(collector_http: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{collector_http}/healthz", timeout=5) as response:
        return json.load(response)["counters"]


def _wait_until_drained(collector_http: str, agent: _Process, timeout_s: float) -> dict[str, Any]:
    """Poll the collector until what it accepted has not changed for QUIET_S: the agent is drained.

    Called once ``backfill`` returned, i.e. once the agent acknowledged everything; when nothing at all
    arrives for twice QUIET_S (a re-run whose checkpoints left nothing to send), there was nothing to forward.
    """
    deadline = time.monotonic() + timeout_s
    first = last = _counters(collector_http)
    since = started = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if not agent.alive():
            raise RuntimeError(f"the agent exited with {agent.process.returncode}:\n{agent.log_tail()}")
        now = _counters(collector_http)
        if now != last:
            last, since = now, time.monotonic()
        quiet = time.monotonic() - since >= QUIET_S
        if quiet and (last != first or time.monotonic() - started >= 2 * QUIET_S):
            return last
    raise RuntimeError(f"the collector was still receiving after {timeout_s:.0f}s")


# --- make stack ----------------------------------------------------------------------------------

_SHOWN = ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "cost_estimated_usd",
          "unpriced_calls", "tool_calls", "tool_errors")  # fmt: skip


def _mismatches(got: dict[str, Any], expected: UsageTotals) -> list[str]:
    problems = [f"{name}: store {got.get(name)} != emitted {getattr(expected, name)}"
                for name in ("llm_calls", "input_tokens", "output_tokens", "cached_tokens", "tool_calls", "tool_errors")
                if got.get(name) != getattr(expected, name)]  # fmt: skip
    if not math.isclose(float(got.get("cost_usd", 0)), expected.cost_usd, abs_tol=1e-6):
        problems.append(f"cost_usd: store {got.get('cost_usd')} != emitted {expected.cost_usd}")
    return problems


@dataclass(frozen=True)
class _Delivered:
    """Where the stack ran and what the collector had accepted once the agent was drained."""

    collector_http: str
    agent_endpoint: str
    counters: dict[str, Any]


def _start_collector(work: Path, store_url: str, env: dict[str, str]) -> tuple[_Process, str]:
    """``hive-otel collector`` on loopback with a fresh tokens file; the process and the agent's token."""
    token = secrets.token_urlsafe(32)
    tokens_file = work / "tokens.yaml"
    tokens_file.unlink(missing_ok=True)
    add_token(tokens_file, token, STACK_TENANT, label="make stack agent")
    _say(f"2/5  hive-otel collector on 127.0.0.1 → {store_url} (tokens: {tokens_file})")
    collector = _Process(
        "hive-otel collector",
        [sys.executable, "-m", "hive_otel.cli", "collector", "--store", store_url, "--grpc", "127.0.0.1:0",
         "--http", "127.0.0.1:0", "--tokens", str(tokens_file)],
        env, work / "logs" / "collector.log",
    )  # fmt: skip
    return collector, token


def _start_agent(binary: Path, work: Path, collector_http: str, token: str, env: dict[str, str]) -> tuple[_Process, str]:
    """The otelcol-hive agent forwarding to the collector with ``token``; the process and its OTLP/HTTP URL."""
    http_port, grpc_port, health_port = _free_port(), _free_port(), _free_port()
    _say(f"3/5  otelcol-hive agent ({binary}) with {AGENT_CONFIG.relative_to(REPO)}: OTLP/HTTP 127.0.0.1:{http_port}, "
         f"upstream {collector_http}")  # fmt: skip
    agent = _Process(
        "otelcol-hive",
        [str(binary), "--config", str(AGENT_CONFIG)],
        {**env, "HIVE_OTEL_UPSTREAM": collector_http, "HIVE_OTEL_UPSTREAM_TOKEN": token,
         "HIVE_OTEL_AGENT_STATE_DIR": str(work / "agent-queue"), "HIVE_OTEL_AGENT_HTTP_PORT": str(http_port),
         "HIVE_OTEL_AGENT_GRPC_PORT": str(grpc_port), "HIVE_OTEL_AGENT_HEALTH_PORT": str(health_port)},
        work / "logs" / "agent.log",
    )  # fmt: skip
    _wait_http_ok(f"http://127.0.0.1:{health_port}/", 30, agent.alive)
    return agent, f"http://127.0.0.1:{http_port}"


def _deliver(binary: Path, work: Path, home: Path, store_url: str, timeout_s: float) -> _Delivered | int:
    """Collector, agent, backfill through the agent, drain; stops both processes. An exit code on failure."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("HIVE_", "OTEL_"))}
    collector, token = _start_collector(work, store_url, child_env)
    agent: _Process | None = None
    try:
        collector_http = collector.wait_for_line(r"OTLP/HTTP on (http://\S+) ", 120)[1]
        _wait_http_ok(f"{collector_http}/healthz", 30, collector.alive)
        agent, agent_endpoint = _start_agent(binary, work, collector_http, token, child_env)
        _say(f"4/5  hive-otel backfill → the agent at {agent_endpoint} (the client has no collector token)")
        code = _backfill(home, work / "client-state", agent_endpoint, timeout_s)
        if code != EXIT_OK:
            print(f"backfill failed with exit code {code}", file=sys.stderr)
            return code
        counters = _wait_until_drained(collector_http, agent, timeout_s)
        accepted = counters["items_accepted"]
        _say(f"     the collector accepted {accepted.get('traces', 0)} spans, {accepted.get('logs', 0)} log records and "
             f"{accepted.get('metrics', 0)} metric data points from the agent")  # fmt: skip
        return _Delivered(collector_http, agent_endpoint, counters)
    except RuntimeError as exc:
        print(f"make stack: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        _say("5/5  stopping the agent and the collector")
        if agent is not None:
            agent.stop(grace_s=15)
        collector.stop(grace_s=30)


def _read_back(store_url: str, report_path: Path) -> Any:
    """Print usage by model and by colony from the stopped collector's store, write the HTML report;
    the usage by model."""
    from hive_otel.collector.queries.text_table import render_table
    from hive_otel.collector.queries.usage import usage
    from hive_otel.collector.report import write_report
    from hive_otel.collector.store.store import open_store

    store = open_store(store_url)
    try:
        by_model = usage(store, ["model"])
        by_colony = usage(store, ["colony"])
        write_report(store, report_path, since=None, until=None, source=store_url)
    finally:
        store.close()
    for title, report, key in (("Usage by model", by_model, "model"), ("Usage by colony", by_colony, "colony")):
        rows = [[row[key], *(row[c] for c in _SHOWN)] for row in report.rows]
        rows.append(["TOTAL", *(report.totals[c] for c in _SHOWN)])
        _say(f"\n{title} (tenant {STACK_TENANT!r}, from the rollups)")
        _say(render_table([key, *_SHOWN], rows, numeric=set(_SHOWN)))
    return by_model


def run_stack(work: Path, *, hive_home: Path | None, turns: int, json_out: Path | None, timeout_s: float) -> int:
    started = time.monotonic()
    binary = otelcol_binary()
    if not os.access(binary, os.X_OK):
        print(f"{binary} is not built: run `make otelcol` first (`make stack` does)", file=sys.stderr)
        return EXIT_USAGE_ERROR
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    store_url = f"chdb://{work / 'clickhouse'}"
    home = hive_home or work / "hive"
    _say(f"1/5  Hive workload in {home} (real aden-hive EventBus and RuntimeLogger, scripted turns)")
    expected = _ensure_workload(home, turns) if hive_home is None else None
    delivered = _deliver(binary, work, home, store_url, timeout_s)
    if isinstance(delivered, int):
        return delivered
    report_path = work / "report.html"
    by_model = _read_back(store_url, report_path)

    elapsed = time.monotonic() - started
    if json_out is not None:
        json_out.write_text(json.dumps({
            "store": store_url, "collector_http": delivered.collector_http, "agent_endpoint": delivered.agent_endpoint,
            "collector_counters": delivered.counters, "usage_by_model": by_model.as_dict(), "report": str(report_path),
            "elapsed_s": round(elapsed, 1),
        }, indent=2, default=str) + "\n", encoding="utf-8")  # fmt: skip
    _say(f"\nData landed in {store_url} (tenant {STACK_TENANT!r}); logs in {logs}; the agent's disk queue in "
         f"{work / 'agent-queue'}.\nReport: {report_path}")  # fmt: skip
    if expected is not None:
        problems = _mismatches(by_model.totals, expected)
        if problems:
            _say("\nMISMATCH between the store and what the workload emitted:\n  " + "\n  ".join(problems))
            return EXIT_MISMATCH
        _say(f"The rollups equal the totals the workload counted itself ({expected.llm_calls} calls, "
             f"${expected.cost_usd:.4f} runtime cost).")  # fmt: skip
    exe = Path(sys.executable).with_name("hive-otel")
    _say(f"Done in {elapsed:.1f}s. Next:\n  {exe if exe.exists() else 'hive-otel'} usage --store {store_url} "
         f"--group-by day,model\n  {exe if exe.exists() else 'hive-otel'} status --store {store_url}")  # fmt: skip
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="work directory (default: a new temporary directory)")
    parser.add_argument("--hive-home", type=Path, help="export this existing Hive home instead of writing a workload")
    parser.add_argument("--turns", type=int, default=8, help="LLM turns per session of the workload (default 8)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the result (usage, counters) as JSON")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for each wait (default 300)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    demo = actions.add_parser("demo-client", help="the compose demo service: workload once, then backfill via the agent")
    demo.add_argument("--agent-health", metavar="URL", help="wait until this answers 200 before sending")
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the agent and for delivery")
    demo.add_argument("--turns", type=int, default=8, help="LLM turns per session of the workload (default 8)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "demo-client":
        settings = ClientSettings.from_env()
        if settings.endpoint is None:
            print(f"demo-client: set {ev.HIVE_OTEL_ENDPOINT} (the agent's OTLP/HTTP address)", file=sys.stderr)
            return EXIT_USAGE_ERROR
        return demo_client(settings.hive_home, settings.state_dir, settings.endpoint, agent_health=args.agent_health,
                           timeout_s=args.timeout, turns=args.turns)  # fmt: skip
    work = (args.dir or Path(tempfile.mkdtemp(prefix="hive-otel-stack-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    return run_stack(work, hive_home=args.hive_home, turns=args.turns, json_out=args.json, timeout_s=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
