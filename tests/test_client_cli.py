"""End to end on the client side: a Hive home written by the real aden-hive runtime pieces →
``hive-otel backfill`` / ``watch`` → a real OTLP receiver on 127.0.0.1 (HTTP and gRPC)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from devtools.workload import CANARIES, WorkloadTruth, write_workload
from hive_otel.cli import EXIT_BROKEN_PIPE, run
from hive_otel.cli.client import EXIT_CONFIG, EXIT_DEAD_LETTERS, EXIT_OK, EXIT_TIMEOUT, backfill, doctor_report, watch
from hive_otel.client.mapping.ids import derive_span_id, llm_call_key, session_span_id, session_trace_id
from hive_otel.client.outbox import Outbox
from hive_otel.settings import ClientSettings
from tests.client_helpers import Delivered, attrs, decode
from tests.export.receivers import GrpcReceiver, HttpReceiver, Reply

REPO = Path(__file__).resolve().parents[1]


def _settings(home: Path, state: Path, endpoint: str, **env: str) -> ClientSettings:
    return ClientSettings.from_env(
        {"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(state), "HIVE_OTEL_ENDPOINT": endpoint, **env}
    )


@pytest.fixture
def receiver():
    r = HttpReceiver()
    yield r
    r.down()


@pytest.fixture(scope="module")
def canary_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth]:
    home = tmp_path_factory.mktemp("canary_home")
    return home, write_workload(home, canaries=True, seed=3)


def _backfilled(home: Path, tmp_path: Path, receiver: HttpReceiver, **kw: object) -> Delivered:
    assert backfill(_settings(home, tmp_path / "state", receiver.endpoint), timeout_s=60, **kw) == EXIT_OK
    return decode(receiver.delivered())


def test_every_llm_call_once_with_exact_totals(hive_workload, tmp_path, receiver) -> None:
    home, truth = hive_workload
    got = _backfilled(home, tmp_path, receiver)
    chat = got.chat_spans()
    keys = Counter(a["hive.call_key"] for _, _, a in chat)
    assert len(chat) == len(truth.llm_calls) and max(keys.values()) == 1
    # 1.0.12 keeps L3 only for graph agents, which log no events: a call is seen one way or the other
    graph_runs = {s.session_id for s in truth.sessions.values() if s.kind == "graph"}
    sources = Counter((r["hive.session.id"] in graph_runs, a["hive.call.source"]) for r, _, a in chat)
    only_l3 = sum(1 for c in truth.llm_calls if c.session_id in graph_runs)
    assert sources == {(False, "event"): len(truth.llm_calls) - only_l3, (True, "log"): only_l3}
    t = truth.totals()
    assert sum(a["gen_ai.usage.input_tokens"] for _, _, a in chat) == t.input_tokens
    assert sum(a["gen_ai.usage.output_tokens"] for _, _, a in chat) == t.output_tokens
    assert sum(a.get("gen_ai.usage.cache_read.input_tokens", 0) for _, _, a in chat) == t.cached_tokens
    assert sum(a.get("hive.cost_usd", 0.0) for _, _, a in chat) == pytest.approx(t.cost_usd)
    by_model = Counter(a.get("gen_ai.request.model") for _, _, a in chat)
    assert by_model == Counter(c.model for c in truth.llm_calls)
    tools = [attrs(s.attributes) for _, s in got.spans if s.name.startswith("execute_tool")]
    assert len(tools) == len(truth.tool_calls)
    assert sum(bool(a["hive.tool.is_error"]) for a in tools) == sum(c.is_error for c in truth.tool_calls)


def test_metric_totals_agree_with_spans(hive_workload, tmp_path, receiver) -> None:
    home, truth = hive_workload
    got = _backfilled(home, tmp_path, receiver)
    token_sums: Counter[str] = Counter()
    for _, metric in got.metrics:
        if metric.name == "gen_ai.client.token.usage":
            for dp in metric.histogram.data_points:
                token_sums[attrs(dp.attributes)["gen_ai.token.type"]] += dp.sum
    t = truth.totals()
    assert token_sums == {"input": t.input_tokens, "output": t.output_tokens}


def test_hive_ids_are_kept_where_the_bus_can_have_them_too_and_the_tree_resolves(hive_workload, tmp_path, receiver) -> None:
    home, truth = hive_workload
    got = _backfilled(home, tmp_path, receiver)
    ids = {(s.trace_id, s.span_id) for _, s in got.spans}
    node_ids, call_ids = set(), set()
    for sess in (s for s in truth.sessions.values() if s.logs_dir):
        for line in (sess.logs_dir / "details.jsonl").read_text().splitlines():
            node = json.loads(line)
            node_ids.add((bytes.fromhex(node["trace_id"]), bytes.fromhex(node["span_id"])))
        for line in (sess.logs_dir / "tool_logs.jsonl").read_text().splitlines():
            step = json.loads(line)
            if step["input_tokens"] or step["output_tokens"]:
                key = llm_call_key(sess.session_id, step["node_id"], step["step_index"], step["input_tokens"],
                                   step["output_tokens"])  # fmt: skip
                call_ids.add((session_trace_id(sess.session_id), derive_span_id(key)))
    assert node_ids and node_ids <= ids  # L2 trace and span ids verbatim
    # A graph agent's L3 ids are random and never on its bus: its calls take the ids their bus halves take.
    assert call_ids and call_ids <= ids
    # Every parent is a span we sent, in the same trace, but for the spans of sessions Hive has not
    # ended (a queen waiting for the user, a stalled one): their session and execution spans are open.
    open_sessions = {s.session_id for s in truth.sessions.values() if s.health in ("idle", "stalled")}
    orphans = {r["hive.session.id"] for r, s in got.spans if s.parent_span_id and (s.trace_id, s.parent_span_id) not in ids}
    assert orphans <= open_sessions
    sessions = {attrs(s.attributes)["gen_ai.agent.id"]: (r, s) for r, s in got.spans if s.name.startswith("invoke_agent")}
    # a session span marks the end Hive reported: workers and graph runs here; queens wait or stall
    assert set(sessions) == {s.session_id for s in truth.sessions.values() if s.health in ("done", "failed")}
    resources = {r["hive.session.id"]: r for r, _ in got.spans}
    assert set(resources) == set(truth.sessions)
    for sess in truth.sessions.values():
        resource = resources[sess.session_id]
        assert resource["hive.root_session.id"] == sess.root_session_id
        assert resource["hive.agent.role"] == sess.agent_role
        if sess.parent_session_id and sess.session_id in sessions:
            assert [link.span_id for link in sessions[sess.session_id][1].links] == [session_span_id(sess.parent_session_id)]


def test_no_delta_and_no_secret_leaves(canary_home, tmp_path, receiver) -> None:
    home, truth = canary_home
    got = _backfilled(home, tmp_path, receiver)
    raw = b"".join(got.bodies)
    assert truth.canaries and all(c.encode() not in raw for c in CANARIES)
    assert b"delta" not in raw
    assert not any("delta" in r.event_name for _, r in got.logs)
    assert str(home).encode() not in raw  # no file path of the user's


def test_replay_yields_identical_ids(hive_workload, tmp_path, receiver) -> None:
    home, _ = hive_workload
    first = _backfilled(home, tmp_path, receiver)
    second_receiver = HttpReceiver()
    try:
        settings = _settings(home, tmp_path / "state", second_receiver.endpoint)
        assert backfill(settings, replay=True, timeout_s=60) == EXIT_OK
        second = decode(second_receiver.delivered())
    finally:
        second_receiver.down()
    ids = sorted((s.trace_id, s.span_id) for _, s in first.spans)
    assert ids == sorted((s.trace_id, s.span_id) for _, s in second.spans)


def test_checkpoints_resume_and_only_new_lines_are_sent(hive_workload, tmp_path, receiver) -> None:
    home = tmp_path / "home"
    shutil.copytree(hive_workload[0], home)
    first = _backfilled(home, tmp_path, receiver)
    assert first.spans
    before = len(receiver.delivered())
    assert backfill(_settings(home, tmp_path / "state", receiver.endpoint), timeout_s=30) == EXIT_OK
    assert len(receiver.delivered()) == before  # nothing new, nothing sent
    events = next(home.glob("queens/*/sessions/*/events.jsonl"))
    with events.open("a") as f:
        f.write(
            json.dumps(
                {
                    "type": "queen_phase_changed",
                    "stream_id": "queen",
                    "data": {"phase": "colony"},
                    "timestamp": "2026-01-01T00:00:00",
                    "seq": 99999,
                }
            )
            + "\n"
        )
    assert backfill(_settings(home, tmp_path / "state", receiver.endpoint), timeout_s=30) == EXIT_OK
    new = decode(receiver.delivered()[before:])
    assert not new.spans or all(s.name.startswith("invoke_agent") for _, s in new.spans)
    assert [attrs(r.attributes).get("hive.event.seq") for _, r in new.logs] == [99999]


def test_bad_input_is_counted_and_skipped(hive_workload, tmp_path, receiver) -> None:
    home = tmp_path / "home"
    shutil.copytree(hive_workload[0], home)
    truth = hive_workload[1]
    events = next(home.glob("queens/*/sessions/*/events.jsonl"))
    with events.open("a") as f:
        f.write("{this is not json\n")
        f.write(json.dumps({"type": "from_the_future", "stream_id": "queen", "data": {"x": 1}, "seq": 1}) + "\n")
        f.write('{"type": "execution_started", "stream_')  # truncated last line, no newline yet
    got = _backfilled(home, tmp_path, receiver)
    assert len(got.chat_spans()) == len(truth.llm_calls)
    unknown = [attrs(r.attributes) for _, r in got.logs if r.event_name == "hive.from_the_future"]
    assert unknown and unknown[0]["hive.unknown_event"] is True
    report = doctor_report(_settings(home, tmp_path / "state", receiver.endpoint))
    assert report["outbox"]["pending requests"] == 0


def test_receiver_down_then_up_delivers_everything(hive_workload, tmp_path) -> None:
    home, truth = hive_workload
    receiver = HttpReceiver(up=False)
    try:
        settings = _settings(home, tmp_path / "state", receiver.endpoint)
        assert backfill(settings, no_wait=True) == EXIT_OK
        assert receiver.delivered() == []
        receiver.up()
        assert backfill(settings, timeout_s=60) == EXIT_OK  # nothing new to read; drains the outbox
        assert len(decode(receiver.delivered()).chat_spans()) == len(truth.llm_calls)
    finally:
        receiver.down()


def test_retry_after_is_honoured(hive_workload, tmp_path, receiver) -> None:
    home, truth = hive_workload
    receiver.answer(Reply("unavailable", retry_after_s=1.0))
    started = time.monotonic()
    got = _backfilled(home, tmp_path, receiver)
    assert time.monotonic() - started >= 1.0
    assert len(got.chat_spans()) == len(truth.llm_calls)


def test_grpc_protocol(hive_workload, tmp_path) -> None:
    home, truth = hive_workload
    receiver = GrpcReceiver()
    try:
        settings = _settings(home, tmp_path / "state", receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        assert backfill(settings, timeout_s=60) == EXIT_OK
        assert len(decode(receiver.delivered()).chat_spans()) == len(truth.llm_calls)
    finally:
        receiver.down()


def test_identity_and_resource_settings_are_on_every_resource(hive_workload, tmp_path, receiver) -> None:
    home, _ = hive_workload
    settings = _settings(
        home,
        tmp_path / "state",
        receiver.endpoint,
        HIVE_OTEL_USER_ID="u-42",
        HIVE_OTEL_TENANT_ID="acme",
        OTEL_SERVICE_NAME="hive-desktop",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=dev",
        HIVE_OTEL_TOKEN="t0ken",
    )
    assert backfill(settings, timeout_s=60) == EXIT_OK
    got = decode(receiver.delivered())
    for resource, _ in got.spans + got.logs:
        assert resource["hive.user.id"] == "u-42" and resource["hive.tenant.id"] == "acme"
        assert resource["service.name"] == "hive-desktop" and resource["deployment.environment.name"] == "dev"
        assert resource["hive.schema_version"] == "1"
    assert all(a.headers.get("authorization") == "Bearer t0ken" for a in receiver.arrivals)


def test_no_endpoint_means_nothing_is_built(hive_workload, tmp_path, monkeypatch) -> None:
    home, _ = hive_workload
    monkeypatch.delenv("HIVE_OTEL_ENDPOINT", raising=False)
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
    assert run(["backfill", "--hive-home", str(home)]) == EXIT_CONFIG
    assert not (tmp_path / "state").exists()


def test_watch_tails_new_sessions(tmp_path, receiver) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = _settings(home, tmp_path / "state", receiver.endpoint, HIVE_OTEL_JOIN_WINDOW_S="0.2")
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(settings, stop), kwargs={"interval_s": 0.1})
    thread.start()
    try:
        truth = write_workload(home, queens=1, colonies=0, turns_per_session=3)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(decode(receiver.delivered()).chat_spans()) < len(truth.llm_calls):
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
    chat = decode(receiver.delivered()).chat_spans()
    assert len({a["hive.call_key"] for _, _, a in chat}) == len(truth.llm_calls)


def test_a_second_reader_of_one_state_directory_is_refused_naming_the_first(tmp_path, receiver) -> None:
    """Two watches (or a watch and a backfill) on one state directory each sent what the other sent (an
    audit counted 783 requests through one outbox for a history one run sends in 26)."""
    home = tmp_path / "home"
    write_workload(home, queens=1, colonies=0, turns_per_session=1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(tmp_path / "state"),
           "HIVE_OTEL_ENDPOINT": receiver.endpoint}  # fmt: skip
    watching = subprocess.Popen([sys.executable, "-m", "hive_otel.cli", "watch"], env=env, cwd=REPO, text=True,
                                stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert watching.stderr is not None and "watching" in watching.stderr.readline()
        second = subprocess.run([sys.executable, "-m", "hive_otel.cli", "backfill"], env=env, cwd=REPO, text=True,
                                capture_output=True, timeout=60)  # fmt: skip
    finally:
        watching.send_signal(signal.SIGTERM)
        watching.communicate(timeout=60)
    assert second.returncode == EXIT_CONFIG
    assert f"another watch or backfill (pid {watching.pid}) reads Hive's files into" in second.stderr
    assert watching.returncode == 0


@pytest.mark.parametrize("command", ["backfill", "watch"])
def test_a_hive_home_that_does_not_exist_is_exit_2(tmp_path, monkeypatch, capsys, command) -> None:
    """A typo in the path must not look like an empty history that was "all delivered"."""
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")
    missing = tmp_path / "no-such-hive"
    assert run([command, "--hive-home", str(missing)]) == EXIT_CONFIG
    assert f"Hive home {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()  # nothing created under it (no state dir, no outbox)


def test_outbox_command_without_an_outbox_and_with_one(hive_workload, tmp_path, monkeypatch, capsys) -> None:
    home, _ = hive_workload
    state = tmp_path / "state"
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(state))
    assert run(["outbox"]) == EXIT_OK
    assert "no outbox" in capsys.readouterr().out
    receiver = HttpReceiver(up=False)
    try:
        assert backfill(_settings(home, state, receiver.endpoint), timeout_s=1) == EXIT_TIMEOUT
    finally:
        receiver.down()
    capsys.readouterr()

    assert run(["outbox"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "queued" in out and "last error" in out and "dead letters  0 requests" in out
    assert run(["outbox", "--json"]) == EXIT_OK
    status = json.loads(capsys.readouterr().out)
    assert status["queued"]["requests"] > 0 and status["queued"]["last_error"]
    assert run(["outbox", "retry"]) == EXIT_OK  # nothing dead: nothing to do, still fine
    assert "0 dead letters re-queued" in capsys.readouterr().out


def test_backfill_waits_as_long_as_its_flag_else_its_variable_says(hive_workload, tmp_path, monkeypatch, capsys) -> None:
    home, _ = hive_workload
    receiver = HttpReceiver(up=False)  # nothing is ever acknowledged: each run waits its whole timeout
    try:
        monkeypatch.setenv("HIVE_HOME", str(home))
        monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("HIVE_OTEL_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("HIVE_OTEL_BACKFILL_TIMEOUT_S", "1")
        assert run(["backfill"]) == EXIT_TIMEOUT
        assert "still queued after 1s" in capsys.readouterr().err
        assert run(["backfill", "--timeout", "0"]) == EXIT_TIMEOUT  # the flag wins over the variable
        assert "still queued after 0s" in capsys.readouterr().err
    finally:
        receiver.down()


def test_backfill_with_no_time_to_wait_counts_what_its_last_flush_delivered(
    hive_workload, tmp_path, monkeypatch, capsys
) -> None:
    """--timeout 0 waits for nothing, but the shutdown's flush still delivers: the summary said "0 requests
    delivered ... nothing left queued" while the receiver had everything."""
    receiver = HttpReceiver()
    try:
        monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
        monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("HIVE_OTEL_ENDPOINT", receiver.endpoint)
        code = run(["backfill", "--timeout", "0"])
        out, err = capsys.readouterr()
        assert receiver.delivered()
    finally:
        receiver.down()
    if code == EXIT_TIMEOUT:  # the flush ran out of time on a slow machine: then the summary says what is queued
        assert "still queued after 0s" in err
        return
    assert code == EXIT_OK, err
    box = Outbox(tmp_path / "outbox.db")
    acked = box.counters()["acked"]  # what `hive-otel outbox` shows
    box.shutdown()
    assert acked > 1 and f"; {acked} requests delivered to" in out, out


def test_counts_of_one_are_singular(tmp_path, monkeypatch, capsys) -> None:
    session = tmp_path / "home" / "queens" / "default" / "sessions" / "session_20260101_000000_abc"
    session.mkdir(parents=True)
    event = {"type": "queen_phase_changed", "stream_id": "queen", "timestamp": "2026-01-01T00:00:00",
             "data": {"phase": "working"}}  # fmt: skip
    (session / "events.jsonl").write_text(json.dumps(event) + "\n")  # one record: one request of one log record
    receiver = HttpReceiver()
    receiver.answer(Reply("bad_request", message="refused once"))
    try:
        monkeypatch.setenv("HIVE_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("HIVE_OTEL_ENDPOINT", receiver.endpoint)
        assert run(["backfill", "--timeout", "60"]) == EXIT_DEAD_LETTERS
    finally:
        receiver.down()
    err = capsys.readouterr().err
    assert "hive-otel: 1 record → 0 spans, 1 log record; 0 requests delivered to" in err, err
    assert "; 1 request refused for good and kept as a dead letter" in err, err


def test_a_watch_interval_that_is_not_positive_is_refused_naming_where_it_came_from(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HIVE_HOME", str(tmp_path))
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HIVE_OTEL_WATCH_INTERVAL_S", "0")
    assert run(["watch"]) == EXIT_CONFIG
    assert "HIVE_OTEL_WATCH_INTERVAL_S: must be positive" in capsys.readouterr().err
    for bad in ("-1", "nan", "1e300"):  # NaN busy-looped; 1e300 overflowed the wait
        with pytest.raises(SystemExit) as exited:
            run(["watch", "--interval", bad])
        assert exited.value.code == EXIT_CONFIG
        assert "--interval: expected seconds (more than 0, at most 1e+09)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("break_it", "words"),
    [
        (lambda state: (state / "checkpoints.db").write_bytes(b"not a database" * 100), "cannot be used"),
        (lambda state: (state / "outbox.db").write_bytes(b"not a database" * 100), "cannot be used"),
        (lambda state: (state.rmdir(), state.write_text("a file where the state directory goes")), "cannot be used"),
    ],
    ids=["garbage checkpoints", "garbage outbox", "state dir is a file"],
)
def test_a_state_directory_the_client_cannot_use_is_exit_2_with_what_to_do(
    hive_workload, tmp_path, monkeypatch, capsys, break_it, words
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    break_it(state)
    monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(state))
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")
    assert run(["backfill", "--no-wait"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert words in err and "move it aside" in err and "Traceback" not in err


def test_a_policy_the_client_cannot_read_is_exit_2(hive_workload, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HIVE_OTEL_POLICY", str(tmp_path / "missing.yaml"))
    assert run(["backfill", "--no-wait"]) == EXIT_CONFIG
    assert "missing.yaml" in capsys.readouterr().err


def test_checkpoints_without_their_outbox_are_warned_about(hive_workload, tmp_path, monkeypatch, capsys) -> None:
    """An outbox deleted by hand (say, to get past a broken one) took its undelivered requests with it,
    while the checkpoints still say they were queued: the next run says so and how to send them again."""
    state = tmp_path / "state"
    monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(state))
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")
    assert run(["backfill", "--no-wait"]) == EXIT_OK
    assert "checkpoints but no outbox" not in capsys.readouterr().err
    for leftover in state.glob("outbox.db*"):
        leftover.unlink()
    assert run(["backfill", "--no-wait"]) == EXIT_OK
    err = capsys.readouterr().err
    assert "has checkpoints but no outbox" in err and "--replay" in err


def test_a_full_disk_is_exit_2_with_free_space_not_move_the_state_aside(
    hive_workload, tmp_path, monkeypatch, capsys
) -> None:
    """No disk can be filled here: the outbox's write is made to fail as SQLite fails on a full disk."""

    def full(*_args: object, **_kwargs: object) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Outbox, "enqueue_many", full)
    monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")
    assert run(["backfill", "--no-wait"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "no space left" in err and "move it aside" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        ("missing policy", "missing.yaml"),
        ("bad regex", "bad.yaml"),
        ("no hive home", "does not exist"),
    ],
)
def test_doctor_finds_what_backfill_would_refuse_and_exits_2(
    hive_workload, tmp_path, monkeypatch, capsys, breakage, words
) -> None:
    """doctor listed a missing policy file, a policy with an invalid regex and a Hive home that does not
    exist as a fine setup (exit 0), and backfill refused each."""
    monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")
    if breakage == "missing policy":
        monkeypatch.setenv("HIVE_OTEL_POLICY", str(tmp_path / "missing.yaml"))
    elif breakage == "bad regex":
        (tmp_path / "bad.yaml").write_text("blocked_values:\n  - '(unclosed'\n")
        monkeypatch.setenv("HIVE_OTEL_POLICY", str(tmp_path / "bad.yaml"))
    else:
        monkeypatch.setenv("HIVE_HOME", str(tmp_path / "no-such-hive"))
    assert run(["backfill", "--no-wait"]) == EXIT_CONFIG
    refused = capsys.readouterr().err
    assert words in refused

    assert run(["doctor"]) == EXIT_CONFIG
    out = capsys.readouterr().out
    assert "problems:" in out and words in out, out
    assert run(["doctor", "--json"]) == EXIT_CONFIG
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert len(problems) == 1 and words in problems[0]


def test_doctor_of_a_sound_setup_lists_no_problems(hive_workload, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
    assert run(["doctor", "--json"]) == EXIT_OK
    assert "problems" not in json.loads(capsys.readouterr().out)


def test_doctor_refuses_a_session_without_show_payload(hive_workload, tmp_path, monkeypatch, capsys) -> None:
    """`doctor --session ID` alone printed the usual report, silently ignoring the session."""
    monkeypatch.setenv("HIVE_HOME", str(hive_workload[0]))
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
    assert run(["doctor", "--session", "nope"]) == EXIT_CONFIG
    assert "--session needs --show-payload" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [[], ["--show-payload"]], ids=["doctor", "show-payload"])
def test_a_reader_that_closes_the_pipe_ends_doctor_quietly(hive_workload, tmp_path, flags) -> None:
    """`hive-otel doctor --show-payload | head -1` said the client's state "cannot be used" and to move it
    aside. The reader is gone before the first write here, which makes the broken pipe certain."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HIVE_HOME": str(hive_workload[0]),
           "HIVE_OTEL_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "hive_otel.cli", "doctor", *flags], env=env, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == EXIT_BROKEN_PIPE
    assert "cannot be used" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr


def test_outbox_retry_says_which_ids_are_no_dead_letter(tmp_path, monkeypatch, capsys) -> None:
    """`outbox retry --id 999` said "0 dead letters re-queued" and exit 0."""
    state = tmp_path / "state"
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(state))
    assert run(["outbox", "retry", "--id", "7"]) == EXIT_CONFIG  # no outbox at all: no dead letter 7 either
    assert "no dead letter #7" in capsys.readouterr().err
    state.mkdir()
    outbox = Outbox(state / "outbox.db")
    outbox.add_dead_letter("logs", b"refused", 1, "HTTP 400")
    (dead,) = outbox.dead_letters()
    outbox.shutdown()

    assert run(["outbox", "retry", "--id", "999"]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert "no dead letter #999" in captured.err and "re-queued" not in captured.out
    assert run(["outbox", "retry", "--id", str(dead.id), "--id", "999"]) == EXIT_CONFIG  # the one that is, is
    captured = capsys.readouterr()
    assert "1 dead letter re-queued" in captured.out and "no dead letter #999" in captured.err
    assert run(["outbox", "retry"]) == EXIT_OK  # all of them, however many: none is fine


def test_outbox_status_refuses_an_id_it_would_ignore(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
    assert run(["outbox", "status", "--id", "2"]) == EXIT_CONFIG
    assert "--id is for `hive-otel outbox retry`" in capsys.readouterr().err
