"""The client's OTLP bytes for a frozen Hive home, pinned by their sha256: speed work must not change them.

tests/testdata/hive_home_golden/ is a home written once by devtools.workload (2 queens, a chain of 2
forks, a colony with 2 workers, the last one failing, a graph agent's L1-L3 runs, canaries in the
content; conversations removed, as the client does not read them). It is frozen rather than written
per run because Hive stamps clock-made ids and times into it.

The whole client path runs: FileTailer → ClientPipeline (mapping, GenAI conventions, redaction,
encoding) → the real SQLite outbox, whose requests are hashed per signal in enqueue order, once
under the packaged policy and once under a policy that lets every kind of content out (the
include-content mapping, masking, the debug summary, status messages and log bodies). It runs in a
subprocess with TZ=UTC (Hive's naive times are read as local time) and PYTHONHASHSEED=0 (a metrics
request lists its resources in set order, as the reference encoder does).

An intended change of the output (a new attribute, a policy change) updates these hashes in the
same commit, saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

GOLDEN_HOME = Path(__file__).parent / "testdata" / "hive_home_golden"
PACKAGED_POLICY = Path(__file__).resolve().parents[1] / "collector" / "redaction.yaml"
NOW_NS = 1_790_000_000_000_000_000  # the pipeline's clock, fixed
MTIME_NS = 1_768_467_600_000_000_000  # every file's mtime: a meta.json record is dated by it

EXPECTED = {
    "packaged": {
        "traces": "6085213c0c418ded5e291fb5ad439a7c52c28e7e2fdac50fc9545dcb8fd68356",
        "metrics": "b6704911b1433c501d57d732d16aef963ff84910668ffedaa1786718df5a988d",
        "logs": "3fcd523b5647e3815eeb96d3119520d5873c2d1ec8b2136c1d8436d8c863f8c0",
    },
    "content": {
        "traces": "cfdbe938d3baf5835752f56ed557549ce2fa96abd7eafc996516117f4a44cb97",
        "metrics": "b6704911b1433c501d57d732d16aef963ff84910668ffedaa1786718df5a988d",
        "logs": "414bcd0844a0d3000707bc02141c2346caa148cf9f518f440c74ee665a07ed8b",
    },
}


def content_policy(packaged: str) -> str:
    """The packaged policy with every opt-in switched on and the debug summary."""
    return (
        packaged.replace("summary: silent", "summary: debug")
        .replace("allowed_keys: []", "allowed_keys:")
        .replace("  #  - ", "    - ")
        .replace("status_messages: false", "status_messages: true")
        .replace("log_bodies: false", "log_bodies: true")
    )


def pipeline_digests(home: Path, policy_path: Path, state: Path) -> dict[str, str]:
    """sha256 per signal of the requests the client pipeline enqueues for ``home`` (dead letters as their own)."""
    from hive_otel.client.outbox import Outbox
    from hive_otel.client.pipeline import ClientPipeline
    from hive_otel.client.redaction import RedactionPolicy, RedactionProcessor
    from hive_otel.client.sources.files import Checkpoints, FileTailer
    from hive_otel.settings import ClientSettings

    settings = ClientSettings(hive_home=home, state_dir=state, endpoint=None)
    outbox = Outbox(state / "outbox.sqlite")
    checkpoints = Checkpoints(state)
    try:
        pipeline = ClientPipeline(
            settings,
            outbox,
            RedactionProcessor(RedactionPolicy.load(policy_path)),
            join_window_ns=None,
            clock=lambda: NOW_NS,
        )
        pipeline.consume(FileTailer(home, checkpoints).poll())
        pipeline.finish()
        digests = {signal: hashlib.sha256() for signal in ("traces", "metrics", "logs")}
        for item in outbox.due(limit=1_000_000, now=float("inf")):
            digests[item.signal].update(item.body)
        out = {signal: digest.hexdigest() for signal, digest in digests.items()}
        out["dead_letters"] = str(len(outbox.dead_letters()))
        return out
    finally:
        checkpoints.close()
        outbox.shutdown()


def frozen_copy(target: Path) -> Path:
    """The golden home at ``target`` with every file's mtime fixed."""
    home = target / "hive"
    shutil.copytree(GOLDEN_HOME, home)
    for path in home.rglob("*"):
        os.utime(path, ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    return home


def _digests_in_subprocess(tmp_path: Path, policy: Path) -> dict[str, str]:
    env = {**os.environ, "TZ": "UTC", "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "tests.test_pipeline_golden", str(tmp_path), str(policy)],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return json.loads(out.splitlines()[-1])


@pytest.mark.parametrize("policy", ["packaged", "content"])
def test_the_client_writes_the_same_bytes_as_before(tmp_path: Path, policy: str) -> None:
    policy_path = PACKAGED_POLICY
    if policy == "content":
        policy_path = tmp_path / "content.yaml"
        policy_path.write_text(content_policy(PACKAGED_POLICY.read_text()))
    digests = _digests_in_subprocess(tmp_path, policy_path)
    assert digests.pop("dead_letters") == "0"
    assert digests == EXPECTED[policy]


if __name__ == "__main__":  # the subprocess: python -m tests.test_pipeline_golden <tmp dir> <policy>
    work, policy_file = Path(sys.argv[1]), Path(sys.argv[2])
    with tempfile.TemporaryDirectory(dir=work) as state:
        print(json.dumps(pipeline_digests(frozen_copy(work), policy_file, Path(state))))
