"""The store's commands as a user runs them: real ``hive-otel`` processes on a real embedded store.

A command that only reads refuses a store path that holds no store (exit 3) and creates nothing there;
the commands that make the store (`migrate` here) still create it. A malformed store URL, a negative
number or a statement that ClickHouse or the console refuses is a usage error (exit 2) with a short
reason, whether the command opens the store or asks the collector that owns it. A reader that closes the pipe
early ends the command quietly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_otel.cli import EXIT_BROKEN_PIPE
from hive_otel.collector.store.console import refuses_the_statement, statement_reason
from hive_otel.collector.store.migrations import load_migrations
from hive_otel.collector.store.store import read_owner

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


STATEMENTS = [
    ("SELECT count() FROM nonexistent_table", "UNKNOWN_TABLE"),
    ("SELEC 1", "Syntax error"),
    ("DROP TABLE usage_facts", "only one SELECT is allowed"),
]


@pytest.mark.parametrize(("statement", "reason"), STATEMENTS)
def test_a_bad_statement_is_exit_2_with_clickhouses_reason(store_url: str, statement: str, reason: str) -> None:
    done = _hive_otel("sql", f"--store={store_url}", statement)
    assert done.returncode == 2, done.stderr
    assert reason in done.stderr
    assert len(done.stderr) < 400 and "Traceback" not in done.stderr


def test_a_damaged_store_is_exit_3_not_a_bad_statement(tmp_path: Path) -> None:
    """A read that meets a damaged part (here: otel_traces' data file overwritten) is the store's failure
    (exit 3), not the statement's (it was exit 2, a usage error)."""
    url = f"chdb://{tmp_path / 'store'}"
    ingest = (  # one span, as the collector stores it; prints where its part is
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from hive_otel.collector.store.store import open_store\n"
        "from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request\n"
        f"store = open_store({url!r})\n"
        "store.ingest_traces(traces_request([SessionBatch(Session('s', 's'), [LlmCall('k').span()])]))\n"
        "print(store.query(\"SELECT path FROM system.parts WHERE table = 'otel_traces' AND active\")[1][0][0])\n"
        "store.close()\n"
    )
    part = Path(subprocess.run([sys.executable, "-c", ingest], check=True, timeout=120, capture_output=True,
                               text=True).stdout.strip())  # fmt: skip
    for data in part.glob("*.bin"):
        data.write_bytes(b"\xff" * data.stat().st_size)
    done = _hive_otel("sql", f"--store={url}", "SELECT TraceId, StatusMessage FROM otel_traces")
    assert done.returncode == 3, (done.returncode, done.stderr)


@pytest.fixture
def collector_owning(store_url: str) -> Iterator[str]:
    """A collector that owns ``store_url``: readers then ask it over loopback."""
    path = Path(store_url.removeprefix("chdb://"))
    process = subprocess.Popen(
        [sys.executable, "-m", "hive_otel.cli", "collector", f"--store={store_url}", "--grpc=127.0.0.1:0",
         "--http=127.0.0.1:0"], cwd=REPO, env=_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (read_owner(path) or {}).get("owner_url"):
            assert process.poll() is None and time.monotonic() < deadline, "the collector did not start"
            time.sleep(0.05)
        yield store_url
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_through_the_collector_a_bad_statement_is_exit_2_and_a_read_answers(collector_owning: str) -> None:
    for statement, reason in STATEMENTS:
        done = _hive_otel("sql", f"--store={collector_owning}", statement)
        assert done.returncode == 2, done.stderr
        assert reason in done.stderr and len(done.stderr) < 400
    done = _hive_otel("sql", f"--store={collector_owning}", "SELECT count() AS n FROM usage_facts", "--format=csv")
    assert (done.returncode, done.stdout) == (0, "n\n0\n"), done.stderr


@pytest.mark.parametrize(
    "args", [["sql", "SELECT number FROM numbers(100000)"], ["status", "--format=json"]], ids=["sql", "status"]
)
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(store_url: str, args: list[str]) -> None:
    """`hive-otel sql ... | head -2`: the reader is gone before the first write (deterministic)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _hive_otel(args[0], f"--store={store_url}", *args[1:], stdout=write_end, stderr=subprocess.PIPE,
                          capture_output=False)  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == EXIT_BROKEN_PIPE
    assert done.stderr == ""


SERVER_ERRORS = [  # as clickhouse-connect raises them from a ClickHouse server: its version at the end
    (
        "HTTPDriver for http://db:8123 received ClickHouse error code 62\n Code: 62. DB::Exception: Syntax error: failed "
        "at position 1 ('SELEC'). (SYNTAX_ERROR) (version 25.3.1.1 (official build))",
        True,
        "(SYNTAX_ERROR)",
    ),
    ("Code: 432. DB::Exception: Unknown codec family code: 255. (UNKNOWN_CODEC) (version 25.3.1.1)", False, None),
]


@pytest.mark.parametrize(("message", "the_statement", "reason_ends"), SERVER_ERRORS)
def test_a_server_s_error_is_told_apart_by_its_name_before_the_version(
    message: str, the_statement: bool, reason_ends: str | None
) -> None:
    """A server's errors end with "(version …)" after the name: a syntax error read as the store failing."""
    assert refuses_the_statement(message) is the_statement
    if reason_ends:
        assert statement_reason(message).endswith(reason_ends) and "version" not in statement_reason(message)


def test_a_command_that_migrates_a_store_says_which_migrations_it_applied(tmp_path: Path) -> None:
    """Every command that opens a store migrates it; at the default verbosity this was said nowhere."""
    url = f"chdb://{tmp_path / 'store'}"
    assert _hive_otel("migrate", f"--store={url}").returncode == 0
    assert _hive_otel("migrate", f"--store={url}", "--down-to=29").returncode == 0
    done = _hive_otel("usage", f"--store={url}", "--group-by=model")
    assert done.returncode == 0, done.stderr
    applied = [line.split(": ", 1)[1] for line in done.stderr.splitlines() if "applied migration" in line]
    assert applied == [f"applied migration {m.version:04d}_{m.name}" for m in load_migrations() if m.version > 29]
