"""The store's commands as a user runs them: real ``hive-otel`` processes on a real embedded store.

A command that only reads refuses a store path that holds no store (exit 3) and creates nothing there;
the commands that make the store (`migrate` here) still create it. A malformed store URL or a negative
number is a usage error (exit 2) with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A read of each kind: the command, and its other arguments ({tmp}: the test's temporary directory).
READS = {
    "usage": ["--group-by=model"],
    "sql": ["SELECT 1"],
    "status": [],
    "report": ["--html={tmp}/report.html"],
    "reconcile": [],
    "settle": [],
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HIVE_CLICKHOUSE_URL"}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _hive_otel(*args: str, env: dict[str, str] | None = None, **options: object) -> subprocess.CompletedProcess[str]:
    options = {"cwd": REPO, "text": True, "timeout": 60, "capture_output": True, **options}
    return subprocess.run([sys.executable, "-m", "hive_otel.cli", *args], env=env or _env(), **options)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty store, made as a user makes one: `hive-otel migrate` creates the path."""
    path = tmp_path_factory.mktemp("cli") / "store"
    made = _hive_otel("migrate", f"--store=chdb://{path}")
    assert made.returncode == 0, made.stderr
    return f"chdb://{path}"


@pytest.mark.parametrize("command", list(READS))
def test_a_command_on_a_store_that_does_not_exist_is_exit_3_and_creates_nothing(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "typo" / "store"
    args = [arg.format(tmp=tmp_path) for arg in READS[command]]
    done = _hive_otel(command, f"--store=chdb://{missing}", *args)
    assert done.returncode == 3, done.stderr
    assert f"no store at {missing}" in done.stderr
    assert "hive-otel collector" in done.stderr and "hive-otel migrate" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "typo").exists()


def test_without_store_the_default_path_is_not_created(tmp_path: Path) -> None:
    """A read must not leave ~/.hive behind: `backfill` would then take it for a Hive home."""
    home = tmp_path / "hive"
    done = _hive_otel("usage", "--group-by=model", env=_env(HIVE_HOME=str(home)))
    assert done.returncode == 3
    assert f"no store at {home / 'otel' / 'clickhouse'}" in done.stderr
    assert not home.exists()


def test_a_directory_that_holds_no_store_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = _hive_otel("sql", f"--store=chdb://{tmp_path}", "SELECT 1")
    assert done.returncode == 3
    assert f"no store at {tmp_path}" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_read_of_an_existing_store_answers(store_url: str) -> None:
    done = _hive_otel("usage", f"--store={store_url}", "--group-by=model", "--format=json")
    assert done.returncode == 0, done.stderr
    assert '"rows": []' in done.stdout


@pytest.mark.parametrize("url", ["chdb://relative/path", "mysql://x"])
@pytest.mark.parametrize("command", ["usage", "collector", "api", "migrate"])
def test_a_malformed_store_url_is_a_usage_error(tmp_path: Path, url: str, command: str) -> None:
    args = ["--group-by=model"] if command == "usage" else []
    done = _hive_otel(command, f"--store={url}", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert repr(url) in done.stderr and "chdb:///" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_store_url_from_the_environment_is_a_usage_error_too() -> None:
    done = _hive_otel("status", env=_env(HIVE_CLICKHOUSE_URL="chdb://relative"))
    assert done.returncode == 2
    assert "'chdb://relative'" in done.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["settle", "--every=-1"], "--every"),
        (["settle", "--every=nan"], "--every"),
        (["migrate", "--down-to=-1"], "--down-to"),
        (["migrate", "--ttl-days=-3"], "--ttl-days"),
        (["collector", "--max-body=-1"], "--max-body"),
    ],
)
def test_a_negative_number_is_refused_before_the_store_is_opened(tmp_path: Path, args: list[str], flag: str) -> None:
    """`settle --every -1` settled in a busy loop; `migrate --down-to -1` rolled everything back."""
    done = _hive_otel(*args, f"--store=chdb://{tmp_path / 'store'}", timeout=30)
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr
    assert not (tmp_path / "store").exists()


def test_status_refuses_a_limit_below_one(store_url: str) -> None:
    done = _hive_otel("status", f"--store={store_url}", "--limit=-1")
    assert done.returncode == 2
    assert "limit must be between 1 and" in done.stderr
