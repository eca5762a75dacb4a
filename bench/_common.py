"""What the client benchmarks share: the machine, a cached Hive workload, pre-read records, results."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from hive_otel.client.sources.files import Checkpoints, FileTailer
from hive_otel.client.sources.records import HiveRecord

RESULTS_DIR = Path(__file__).parent / "results"
# Workloads take seconds to minutes to write with the real runtime; they are kept between runs here.
WORKLOAD_CACHE = Path(os.environ.get("HIVE_OTEL_BENCH_CACHE", Path(tempfile.gettempdir()) / "hive-otel-bench"))


def machine() -> dict[str, object]:
    """The machine a result was measured on."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(name: str, result: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


@dataclass(frozen=True)
class Workload:
    """A Hive home written by the real aden-hive runtime (devtools.workload), with its ground truth."""

    hive_home: Path
    queens: int
    colonies: int
    workers_per_colony: int
    turns_per_session: int
    sessions: int
    llm_calls: int
    tool_calls: int
    events_published: int

    def describe(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("hive_home")
        return d


def workload(*, queens: int, colonies: int, workers_per_colony: int, turns_per_session: int) -> Workload:
    """The workload of these dimensions, written once and then reused from WORKLOAD_CACHE."""
    from devtools.workload import write_workload

    name = f"v2-q{queens}-c{colonies}-w{workers_per_colony}-t{turns_per_session}"  # v2: homes Hive 1.0.12 writes
    home = WORKLOAD_CACHE / name
    truth_file = WORKLOAD_CACHE / f"{name}.json"  # written last: its presence means the home is complete
    if truth_file.exists():
        return Workload(hive_home=home, **json.loads(truth_file.read_text()))
    shutil.rmtree(home, ignore_errors=True)
    truth = write_workload(
        home,
        queens=queens,
        colonies=colonies,
        workers_per_colony=workers_per_colony,
        turns_per_session=turns_per_session,
        seed=1,
    )
    described = {
        "queens": queens,
        "colonies": colonies,
        "workers_per_colony": workers_per_colony,
        "turns_per_session": turns_per_session,
        "sessions": len(truth.sessions),
        "llm_calls": len(truth.llm_calls),
        "tool_calls": len(truth.tool_calls),
        "events_published": sum(truth.events_published.values()),
    }
    truth_file.write_text(json.dumps(described))
    return Workload(hive_home=home, **described)  # type: ignore[arg-type]


def read_records(hive_home: Path) -> list[HiveRecord]:
    """Every record under ``hive_home``, read once by the real FileTailer (fresh checkpoints)."""
    with tempfile.TemporaryDirectory() as state:
        checkpoints = Checkpoints(Path(state))
        try:
            return list(FileTailer(hive_home, checkpoints).poll())
        finally:
            checkpoints.close()
