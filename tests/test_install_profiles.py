"""Two install profiles: ``pip install hive-otel`` is the client only; ``hive-otel[collector]`` adds the rest.

In a fresh venv that pip fills with ``hive-otel[hive]`` (a wheel of this checkout, the client and the
real aden-hive, nothing of the collector extra; the pip cache makes it quick): ``hive-otel backfill``
delivers a Hive home written by the real runtime to a real loopback OTLP receiver, ``watch`` tails it,
``doctor`` reports, ``instrument()`` exports a real EventBus, and none of these loads a collector-only
package; a collector command says what to install and exits 2. In this (the project's) venv, where the
collector side is installed, the client commands still do not import it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.bench_install import build_client_venv, build_wheel, site_packages
from devtools.workload import WorkloadTruth
from hive_otel.cli import COLLECTOR_COMMANDS, COLLECTOR_IMPORTS, build_parser
from tests.client_helpers import decode
from tests.export.receivers import HttpReceiver

# What only the collector side imports: the extra's packages, and what chDB loads with it.
COLLECTOR_ONLY = {*COLLECTOR_IMPORTS, "pandas", "hive_otel.collector", "hive_otel.collector.api",
                  "hive_otel.collector.report", "hive_otel.collector.dashboards",
                  "devtools.workload", "devtools.demo", "devtools.stack"}  # fmt: skip
# Runs the CLI (or instrument() on a real bus) in-process, then prints which COLLECTOR_ONLY modules it loaded.
DRIVER = """
import asyncio, json, sys
only = json.loads(sys.argv[1])
if sys.argv[2] == "instrument":
    from framework.host.event_bus import EventBus
    import hive_otel
    bus = EventBus()
    live = hive_otel.instrument(bus, session_id="s-live", queen_id="q1")
    async def turn():
        await bus.emit_llm_turn_complete("queen", "queen_node", "end_turn", "gpt-4o", 120, 8, execution_id="e1")
    asyncio.run(turn())
    code = 0 if live.enabled and live.shutdown(timeout_millis=10_000) else 1
else:
    from hive_otel.cli import run
    code = run(sys.argv[2:])
loaded = sorted(m for m in sys.modules if any(m == o or m.startswith(o + ".") for o in only))
print("LOADED " + json.dumps(loaded), file=sys.stderr)
sys.exit(code)
"""


def _env(home: Path, state: Path, endpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIVE_", "OTEL_"))}
    env |= {"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(state)}
    return env | ({"HIVE_OTEL_ENDPOINT": endpoint} if endpoint else {})


def _drive(python: Path, args: list[str], env: dict[str, str], timeout: float = 180) -> tuple[int, str, list[str]]:
    """Exit code, stdout, and the collector-only modules the process had loaded when it ended."""
    done = subprocess.run(
        [python, "-c", DRIVER, json.dumps(sorted(COLLECTOR_ONLY)), *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=env["HIVE_OTEL_STATE_DIR"],
    )  # fmt: skip
    loaded_lines = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    assert loaded_lines, done.stderr
    return done.returncode, done.stdout, json.loads(loaded_lines[-1].removeprefix("LOADED "))


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("client_profile")
    return build_client_venv(work / "venv", build_wheel(work / "wheel"), compile_bytecode=False, timeout_s=420)


@pytest.fixture
def receiver():
    r = HttpReceiver()
    yield r
    r.down()


@pytest.mark.timeout(600)
def test_client_only_install_has_none_of_the_collector_extra(client_python: Path) -> None:
    found = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions(path=[str(site_packages(client_python))])}
    assert {"hive-otel", "aden-hive", "grpcio", "opentelemetry-proto"} <= found
    assert not found & {"chdb-core", "pyarrow", "pandas", "plotly", "fastapi", "clickhouse-connect", "genai-prices"}


@pytest.mark.timeout(600)
def test_client_commands_and_instrument_in_the_client_only_venv(
    client_python: Path, hive_workload: tuple[Path, WorkloadTruth], tmp_path: Path, receiver: HttpReceiver
) -> None:
    home, truth = hive_workload
    (tmp_path / "backfill").mkdir()
    code, out, loaded = _drive(client_python, ["backfill"], _env(home, tmp_path / "backfill", receiver.endpoint))
    assert code == 0 and loaded == [], out  # 0: the receiver acknowledged everything
    assert len(decode(receiver.delivered()).chat_spans()) == len(truth.llm_calls)

    code, out, loaded = _drive(client_python, ["doctor", "--json"], _env(home, tmp_path / "backfill", receiver.endpoint))
    assert code == 0 and loaded == []
    assert json.loads(out)["endpoint"]["reachable"].startswith("yes")

    (tmp_path / "live").mkdir()
    before = len(receiver.delivered())
    code, _, loaded = _drive(client_python, ["instrument"], _env(home, tmp_path / "live", receiver.endpoint))
    assert code == 0 and loaded == []
    live = decode(receiver.delivered()[before:]).chat_spans()
    assert [(r["hive.session.id"], a["gen_ai.usage.input_tokens"]) for r, _, a in live] == [("s-live", 120)]


@pytest.mark.timeout(600)
def test_watch_in_the_client_only_venv(
    client_python: Path, hive_workload: tuple[Path, WorkloadTruth], tmp_path: Path, receiver: HttpReceiver
) -> None:
    home, truth = hive_workload
    env = _env(home, tmp_path, receiver.endpoint)
    watch = subprocess.Popen(
        [client_python, "-c", DRIVER, json.dumps(sorted(COLLECTOR_ONLY)), "watch", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(decode(receiver.delivered()).chat_spans()) < len(truth.llm_calls) and time.monotonic() < deadline:
            assert watch.poll() is None, watch.communicate()
            time.sleep(0.2)
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=60)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    assert len(decode(receiver.delivered()).chat_spans()) == len(truth.llm_calls)
    assert json.loads(err.splitlines()[-1].removeprefix("LOADED ")) == []


@pytest.mark.timeout(600)
@pytest.mark.parametrize("command", ["collector", "usage", "report"])
def test_a_collector_command_names_the_extra_and_exits_2(client_python: Path, command: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [client_python.parent / "hive-otel", command, "--help"],
        capture_output=True, text=True, env=_env(tmp_path, tmp_path), timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"hive-otel {command} needs: pip install 'hive-otel[collector]'"), done.stderr
    listed = subprocess.run([client_python.parent / "hive-otel", "--help"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and command in listed.stdout and "backfill" in listed.stdout


def test_client_commands_do_not_import_the_installed_collector_side(
    hive_workload: tuple[Path, WorkloadTruth], tmp_path: Path, receiver: HttpReceiver
) -> None:
    """Here every collector package is installed: the client still loads none of it."""
    home, _ = hive_workload
    env = _env(home, tmp_path, receiver.endpoint)
    for args in (["backfill"], ["doctor"], ["doctor", "--show-payload"], ["instrument"]):
        code, _, loaded = _drive(Path(sys.executable), args, env)
        assert (code, loaded) == (0, []), args


def test_the_collector_extra_and_commands_are_listed_whole() -> None:
    """COLLECTOR_IMPORTS names each package of the `collector` extra; COLLECTOR_COMMANDS every cloud command."""
    extra = {
        canonicalize_name(r.name)
        for r in map(Requirement, metadata.requires("hive-otel") or [])
        if r.marker is not None and r.marker.evaluate({"extra": "collector"}) and not r.marker.evaluate({"extra": ""})
    }
    assert extra == {canonicalize_name(d) for d in COLLECTOR_IMPORTS.values()}
    providers = metadata.packages_distributions()
    for name, dist in COLLECTOR_IMPORTS.items():
        assert canonicalize_name(dist) in {canonicalize_name(d) for d in providers.get(name, [])}, name
    client = set(build_parser("backfill")._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    everything = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert everything - client == set(COLLECTOR_COMMANDS)



def test_the_http_client_path_loads_neither_grpc_nor_protobuf() -> None:
    """They are most of the client's import time (bench/bench_install.py); only gRPC, a response body to
    read or a request to split needs them, so they load then."""
    code = "import json, sys, hive_otel.client.client, hive_otel.client.sources.live; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert not [m for m in loaded if m.split(".")[0] in ("grpc", "google", "opentelemetry")]
