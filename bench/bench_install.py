"""What `pip install hive-otel` (the client) adds to a Hive install, on disk and in import time.

    python -m bench.bench_install [--runs 9] [--keep DIR]

Builds the wheel from this checkout, then installs ``<wheel>[hive]`` (the client and aden-hive,
nothing of the ``collector`` extra) with pip into a throwaway venv as a user would: dependencies
resolved from the package index (the pip cache makes it quick), bytecode compiled. Then:

* size: the bytes of the files each installed distribution's RECORD lists (what pip wrote, .pyc
  included), summed over hive-otel's dependency closure, over aden-hive's, and over hive-otel's less
  aden-hive's: what installing the client adds to a Hive install. The ``collector`` extra is sized the
  same way in the project's own venv (the closure of ``hive-otel[collector]`` less the client's).
* import time, each in ``--runs`` fresh processes of that venv, median and fastest: ``import hive_otel``;
  and ``import hive_otel`` + ``instrument()`` on a real aden-hive EventBus with HIVE_OTEL_ENDPOINT set
  (the bus is imported and built first, off the clock: in Hive's process it already is), up to the
  moment ``instrument()`` returns with its export thread running. Each process also reports which
  collector-only packages it loaded (none, or the install profiles leak).

Writes bench/results/install.json. Measured on a shared machine: the fastest run is the least disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench._common import machine, write_result
from hive_otel.cli import COLLECTOR_IMPORTS

REPO = Path(__file__).resolve().parents[1]
GOALS = {"client_beyond_aden_hive_mb": 60.0, "import_ms": 150.0}
MB = 1_000_000

INSTRUMENT = "import hive_otel; live = hive_otel.instrument(bus, session_id='bench-install')"
BUS = "from framework.host.event_bus import EventBus; bus = EventBus()"
# name → (what is loaded before the clock starts, standing for the host process; what is timed).
# Hive's runtime (framework.host.agent_host) loads pydantic, PyYAML, httpx and litellm, which the client
# then finds loaded; the bare bus is the worst case, where the client pays for all of its imports.
SCENARIOS = {
    "import_hive_otel": ("", "import hive_otel"),
    "instrument_in_hive": (f"import framework.host.agent_host; {BUS}", INSTRUMENT),
    "instrument_bare_bus": (BUS, INSTRUMENT),
}
SCRIPT = """
import json, sys, time
{preload}
before = set(sys.modules)
started = time.perf_counter()
{timed}
seconds = time.perf_counter() - started
loaded = sorted(set(sys.modules) - before)
if "live" in globals():
    assert live.enabled
    live.shutdown(timeout_millis=1000)
print(json.dumps({{"seconds": seconds, "loaded": loaded}}))
"""


def build_wheel(out_dir: Path) -> Path:
    """The wheel of this checkout, built with the running venv's setuptools (no build isolation)."""
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip_wheel, "-w", str(out_dir), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = out_dir.glob("hive_otel-*.whl")
    return wheel


def build_client_venv(venv: Path, wheel: Path, *, compile_bytecode: bool = True, timeout_s: float = 600) -> Path:
    """A fresh venv with ``wheel[hive]`` installed by pip (without pip itself); returns its python.

    The running venv's pip installs into it (``pip --python``), so the new venv holds only what
    the client and aden-hive depend on.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check"]
    if not compile_bytecode:
        install.append("--no-compile")
    env = _user_env(os.environ) if compile_bytecode else None
    result = subprocess.run([*install, f"{wheel}[hive]"], capture_output=True, text=True, timeout=timeout_s, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"pip install {wheel.name}[hive] failed:\n{result.stdout}{result.stderr}")
    return python


def _user_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` as on a user's machine: with PYTHONDONTWRITEBYTECODE (set where this project is
    built) pip compiles nothing and Python writes no bytecode, so every import would compile its
    modules from source again (~40 ms more for instrument() in Hive, measured 7 December)."""
    return {k: v for k, v in environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.check_output([python, "-c", code], text=True).strip())


def installed(paths: Iterable[str] | None = None) -> dict[str, metadata.Distribution]:
    """Distributions by canonical name, from ``paths`` (default: this interpreter's)."""
    found = metadata.distributions(path=list(paths)) if paths is not None else metadata.distributions()
    return {canonicalize_name(d.metadata["Name"]): d for d in found}


def closure(dists: dict[str, metadata.Distribution], root: str, extras: Iterable[str] = ()) -> set[str]:
    """``root`` and everything it requires (with ``extras``), transitively, among ``dists``."""
    seen: set[tuple[str, str]] = set()
    todo = [(canonicalize_name(root), extra) for extra in ("", *extras)]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen or name not in dists:
            continue
        seen.add((name, extra))
        for line in dists[name].requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                child = canonicalize_name(requirement.name)
                todo += [(child, e) for e in ("", *requirement.extras)]
    return {name for name, _ in seen}


def dist_bytes(dist: metadata.Distribution) -> int:
    """Bytes of the files the distribution's RECORD lists that exist on disk."""
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def sizes(dists: dict[str, metadata.Distribution], names: Iterable[str]) -> dict[str, float]:
    """MB per distribution, largest first."""
    by_name = {name: dist_bytes(dists[name]) / MB for name in names}
    return {name: round(mb, 2) for name, mb in sorted(by_name.items(), key=lambda kv: -kv[1])}


def measure_sizes(client_site: Path) -> dict[str, object]:
    client = installed([str(client_site)])
    ours, hive = closure(client, "hive-otel"), closure(client, "aden-hive")
    project = installed()  # this venv: the collector extra is installed here
    collector_only = closure(project, "hive-otel", ["collector"]) - closure(project, "hive-otel")
    beyond = sizes(client, ours - hive)
    return {
        "client_beyond_aden_hive_mb": round(sum(beyond.values()), 1),
        "client_beyond_aden_hive": beyond,
        "client_alone_mb": round(sum(sizes(client, ours).values()), 1),
        "aden_hive_mb": round(sum(sizes(client, hive).values()), 1),
        "client_venv_site_packages_mb": round(sum(dist_bytes(d) for d in client.values()) / MB, 1),
        "collector_extra_adds_mb": round(sum(sizes(project, collector_only).values()), 1),
        "collector_extra_adds": sizes(project, collector_only),
    }


class _Acknowledge(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that acknowledges everything, so the instrumented process exits at once."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def time_scenario(python: Path, preload: str, timed: str, runs: int, env: dict[str, str]) -> dict[str, object]:
    """Seconds per fresh process (median, fastest), and the collector-only packages loaded on the clock."""
    script = SCRIPT.format(preload=preload, timed=timed)
    seconds, leaked = [], set()
    for _ in range(runs):
        result = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"{timed!r} failed:\n{result.stderr}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        seconds.append(report["seconds"])
        leaked |= {m.split(".")[0] for m in report["loaded"]} & set(COLLECTOR_IMPORTS)
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "fastest_ms": round(min(seconds) * 1000, 1),
        "runs_ms": [round(s * 1000, 1) for s in seconds],
        "collector_packages_loaded": sorted(leaked),
    }


def measure_imports(python: Path, runs: int, work: Path) -> dict[str, object]:
    env = {k: v for k, v in _user_env(os.environ).items() if not k.startswith(("HIVE_", "OTEL_"))}
    # LITELLM_LOCAL_MODEL_COST_MAP: Hive's LLM layer reads its packaged price list instead of fetching one.
    env |= {"HIVE_HOME": str(work / "hive"), "HIVE_OTEL_STATE_DIR": str(work / "state")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Acknowledge)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env["HIVE_OTEL_ENDPOINT"] = f"http://127.0.0.1:{receiver.server_port}"
    try:
        # One untimed run first: Python writes the bytecode of anything pip did not compile.
        warm = "import framework.host.agent_host, hive_otel.client.client"
        subprocess.run([python, "-c", warm], env=env, timeout=300, check=True, capture_output=True)
        return {name: time_scenario(python, *scenario, runs, env) for name, scenario in SCENARIOS.items()}
    finally:
        receiver.shutdown()
        receiver.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_install", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per import measurement (default 9)")
    parser.add_argument("--keep", type=Path, help="build the venv here and keep it (default: a temporary directory)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hive-otel-install-") as tmp:
        work = args.keep or Path(tmp)
        load_before = os.getloadavg()  # the machine is shared: how busy it was frames the import times
        started = time.perf_counter()
        python = build_client_venv(work / "client-venv", build_wheel(work / "wheel"))
        install_s = time.perf_counter() - started
        result = {
            "name": "install",
            "machine": machine(),
            "goals": GOALS,
            "installed": "hive-otel[hive] from a wheel of this checkout: the client and aden-hive",
            "pip_install_seconds": round(install_s, 1),
            "sizes": measure_sizes(site_packages(python)),
            "imports": measure_imports(python, args.runs, work),
            "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        }
    path = write_result("install", result)
    print(json.dumps({k: result[k] for k in ("sizes", "imports")}, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
