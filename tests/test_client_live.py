"""Live export: hive_otel.instrument() on a real aden-hive EventBus → a real OTLP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from framework.host.event_bus import EventBus

import hive_otel
from hive_otel.client import quota
from hive_otel.client.outbox import Outbox
from hive_otel.settings import ClientSettings, SettingsError
from tests.client_helpers import Delivered, attrs, decode
from tests.export.receivers import HttpReceiver

REPO = Path(__file__).resolve().parents[1]


async def _one_turn(bus: EventBus, execution: str = "exec-1") -> None:
    await bus.emit_execution_started("queen", execution)
    await bus.emit_node_loop_started("queen", "queen_node", execution_id=execution)
    await bus.emit_llm_text_delta("queen", "queen_node", "SECRET-DELTA", "SECRET-DELTA", execution_id=execution)
    await bus.emit_llm_turn_complete(
        "queen", "queen_node", "end_turn", "claude-sonnet-4-5", 1200, 80,
        cached_tokens=1000, cost_usd=0.0123, execution_id=execution, iteration=0,
    )
    await bus.emit_tool_call_started("queen", "queen_node", "tu-1", "web_search", {"q": "SECRET-ARG"}, execution)
    await bus.emit_tool_call_completed("queen", "queen_node", "tu-1", "web_search", "SECRET-RESULT", False, execution)
    await bus.emit_node_loop_completed("queen", "queen_node", 1, execution_id=execution)
    await bus.emit_execution_completed("queen", execution)


@pytest.mark.parametrize("via", ["subscribe", "publish"])
def test_live_bus_is_exported(tmp_path: Path, via: str) -> None:
    receiver = HttpReceiver()
    try:
        settings = ClientSettings.from_env(
            {"HIVE_OTEL_ENDPOINT": receiver.endpoint, "HIVE_OTEL_STATE_DIR": str(tmp_path), "HIVE_HOME": str(tmp_path)}
        )
        bus = EventBus()
        live = hive_otel.instrument(bus, session_id="session_live", queen_id="q1", settings=settings, via=via)
        assert live.enabled
        asyncio.run(_one_turn(bus))
        assert live.shutdown(timeout_millis=10_000)
        assert live.shutdown()  # idempotent
        got = decode(receiver.delivered())
    finally:
        receiver.down()
    [(resource, _span, a)] = got.chat_spans()
    assert resource["hive.session.id"] == "session_live" and resource["hive.queen.id"] == "q1"
    usage = (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.cache_read.input_tokens"], a["hive.cost_usd"])
    assert usage == (1200, 1000, 0.0123)
    assert a["gen_ai.provider.name"] == "anthropic"
    names = {s.name for _, s in got.spans}
    assert {"hive.execution", "hive.node queen_node", "execute_tool web_search", "invoke_agent q1"} <= names
    assert b"SECRET" not in b"".join(got.bodies)
    assert {attrs(r.attributes)["hive.event.type"] for _, r in got.logs} >= {"execution_started", "execution_completed"}


def _delivered_by_a_hive_process(script: str, tmp_path: Path) -> Delivered:
    """What a Python process running ``script`` (a real Hive bus, instrumented) delivered to a receiver."""
    receiver = HttpReceiver()
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO), "HIVE_OTEL_ENDPOINT": receiver.endpoint,
               "HIVE_OTEL_STATE_DIR": str(tmp_path), "HIVE_HOME": str(tmp_path), "HIVE_OTEL_HEARTBEAT_S": "0"}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return decode(receiver.delivered())
    finally:
        receiver.down()


# A Hive process that instruments its bus, runs one turn and exits without shutdown().
_EXITS_WITHOUT_SHUTDOWN = """
import asyncio
from framework.host.event_bus import EventBus
import hive_otel
from tests.test_client_live import _one_turn
bus = EventBus()
live = hive_otel.instrument(bus, session_id="session_exit", queen_id="q1")
asyncio.run(_one_turn(bus))
"""


def test_a_process_that_exits_without_shutdown_still_sends_its_calls(tmp_path: Path) -> None:
    """The calls wait for their other half (HIVE_OTEL_JOIN_WINDOW_S) in memory: an exit without
    shutdown() lost the last window of them (an audit stored 65 of 195 LLM calls of such a run)."""
    [(resource, _span, a)] = _delivered_by_a_hive_process(_EXITS_WITHOUT_SHUTDOWN, tmp_path).chat_spans()
    assert resource["hive.session.id"] == "session_exit" and a["gen_ai.usage.input_tokens"] == 1200


# The same process forks a child (a daemonising helper, a plain os.fork) that exits normally.
_FORKS_A_CHILD = """
import asyncio, os, sys
from framework.host.event_bus import EventBus
import hive_otel
from tests.test_client_live import _one_turn
bus = EventBus()
live = hive_otel.instrument(bus, session_id="session_fork", queen_id="q1")
asyncio.run(_one_turn(bus))
child = os.fork()
if child == 0:
    sys.exit(0)  # runs the atexit handlers it inherited
os.waitpid(child, 0)
live.shutdown()
"""


def test_a_forked_child_does_not_send_its_parents_calls_again_at_exit(tmp_path: Path) -> None:
    """A child forked from an instrumented process inherits the exit handler with the parent's pipeline and
    outbox connection (not its threads): it queued the parent's waiting calls a second time."""
    assert len(_delivered_by_a_hive_process(_FORKS_A_CHILD, tmp_path).chat_spans()) == 1


def test_a_killed_hive_process_has_already_queued_its_finished_calls(tmp_path: Path) -> None:
    """The bus carries no L3 lines, yet each live call waited the whole join window for one, in memory: a
    Hive process killed within it lost its last calls (144 of 748 in an audit's 30 s run). With a window
    of 60 s, the finished call must reach the outbox long before it, and survive a SIGKILL."""
    script = """
import asyncio, time
from framework.host.event_bus import EventBus
import hive_otel
from tests.test_client_live import _one_turn
bus = EventBus()
live = hive_otel.instrument(bus, session_id="session_killed", queen_id="q1")
asyncio.run(_one_turn(bus))
print("turn done", flush=True)
time.sleep(120)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HIVE_OTEL_ENDPOINT": "http://127.0.0.1:9",  # nobody listens
           "HIVE_OTEL_STATE_DIR": str(tmp_path), "HIVE_HOME": str(tmp_path), "HIVE_OTEL_HEARTBEAT_S": "0",
           "HIVE_OTEL_JOIN_WINDOW_S": "60"}  # fmt: skip
    hive = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert hive.stdout is not None and hive.stdout.readline().strip() == "turn done"
        deadline = time.monotonic() + 30
        while not _queued_chat_spans(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        hive.kill()
        hive.wait(30)
    assert _queued_chat_spans(tmp_path) == 1


def _queued_chat_spans(state: Path) -> int:
    """The chat spans in the outbox's queued trace requests."""
    path = state / "outbox.db"
    if not path.exists():
        return 0
    outbox = Outbox(path)
    try:
        bodies = [("traces", item.body) for item in outbox.due(10_000, time.time() + 3600) if item.signal == "traces"]
    finally:
        outbox.shutdown()
    return len(decode(bodies).chat_spans())


def test_without_endpoint_nothing_subscribes(tmp_path: Path) -> None:
    settings = ClientSettings.from_env({"HIVE_HOME": str(tmp_path)})
    bus = EventBus()
    live = hive_otel.instrument(bus, session_id="s", settings=settings)
    assert not live.enabled
    assert bus._subscriptions == {}  # no subscription at all: the runtime pays nothing
    assert live.shutdown()
    assert not (tmp_path / "otel").exists()


def test_other_programs_otel_variables_do_not_fail_a_process_that_did_not_opt_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_* variables are shared by every instrumented program of an environment: values hive-otel does
    not take (OTLP/JSON, another program's CA file) failed instrument() without HIVE_OTEL_ENDPOINT."""
    monkeypatch.delenv("HIVE_OTEL_ENDPOINT", raising=False)
    monkeypatch.delenv("HIVE_OTEL_QUOTA_URL", raising=False)
    monkeypatch.setenv("HIVE_HOME", str(tmp_path))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(tmp_path / "theirs.pem"))
    bus = EventBus()
    live = hive_otel.instrument(bus, session_id="s")
    assert not live.enabled and bus._subscriptions == {}
    assert quota.start() is None and quota.check(session="s", model="gpt-4o").action == "allow"
    monkeypatch.setenv("HIVE_OTEL_ENDPOINT", "http://127.0.0.1:9")  # opted in: the same values are refused
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        hive_otel.instrument(bus, session_id="s")


def test_an_outbox_that_fails_for_a_while_loses_no_live_record(tmp_path: Path) -> None:
    """The live worker drains Hive's events, then moves them into the outbox. With the outbox's disk
    full (SQLite's max_page_count on its own connection: no other way to fill a disk here), the drained
    batch was dropped with a log line and no counter. Now it is kept and stored once there is room."""
    receiver = HttpReceiver()
    try:
        settings = ClientSettings.from_env(
            {"HIVE_OTEL_ENDPOINT": receiver.endpoint, "HIVE_OTEL_STATE_DIR": str(tmp_path), "HIVE_HOME": str(tmp_path),
             "HIVE_OTEL_HEARTBEAT_S": "0"}
        )  # fmt: skip
        bus = EventBus()
        live = hive_otel.instrument(bus, session_id="session_full", queen_id="q1", settings=settings)
        outbox = live.client.outbox
        with outbox._lock:
            pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
            outbox._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here
        for turn in range(200):  # more than the free pages the outbox file still has
            asyncio.run(_one_turn(bus, f"exec-{turn}"))
        pipeline = live.client.counters()["pipeline"]
        deadline = time.monotonic() + 30
        while pipeline["outbox_errors"] == 0 and time.monotonic() < deadline:  # the worker met the full disk
            time.sleep(0.05)
            pipeline = live.client.counters()["pipeline"]
        assert pipeline["outbox_errors"] >= 1
        with outbox._lock:
            outbox._db.execute("PRAGMA max_page_count = 1073741823")  # room again
        assert live.shutdown(timeout_millis=10_000)
        got = decode(receiver.delivered())
    finally:
        receiver.down()
    started = [attrs(r.attributes) for _, r in got.logs if attrs(r.attributes)["hive.event.type"] == "execution_started"]
    assert len(started) == 200
    assert {a["gen_ai.usage.input_tokens"] for _, _, a in got.chat_spans()} == {1200}
    assert live.client.counters()["pipeline"]["dropped_requests"] == 0
