"""The client's fault matrix against the real collector (chDB, a tokens file, loopback OTLP), each
case ending in ``hive-otel usage --format json`` equal to the workload's own totals and a checked
exit code:

- a wrong token (HTTP 401 / gRPC UNAUTHENTICATED): the run stops with exit 5, nothing is
  dead-lettered, the summary does not claim delivery; a rerun with the right token delivers it all;
- a poison request in the middle of the queue (the collector answers 400): it alone becomes a dead
  letter with the reason, everything behind it is delivered, exit 1; ``hive-otel outbox`` shows it
  and ``hive-otel outbox retry`` re-queues it;
- the collector unreachable (exit 4, data queued), then reachable: exit 0;
- ``kill -9`` of the client mid-backfill, then a rerun: nothing lost, nothing counted twice;
- 503 with every form of ``Retry-After`` (from a proxy; the scripted loopback receiver plays it):
  seconds, an HTTP date, ``0`` (the 1 s floor), garbage, ``inf``, ``nan``, negative (own backoff),
  ``1e308`` and a far-future date (capped at 5 min; the next run tries again at once).

Covered elsewhere, not repeated: ``kill -9`` of the collector mid-stream and three replays
(tests/test_end_to_end.py), receiver down then up (tests/test_client_cli.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.workload import WorkloadTruth, write_workload
from hive_otel.cli import run
from hive_otel.cli.client import (
    EXIT_DEAD_LETTERS,
    EXIT_OK,
    EXIT_OUTBOX_FULL,
    EXIT_TIMEOUT,
    EXIT_UNAUTHORIZED,
    backfill,
    watch,
)
from hive_otel.client.outbox import MAX_RETRY_DELAY_S, Outbox
from hive_otel.collector.auth.tokens import TokenTable, add_token
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from hive_otel.settings import ClientSettings
from tests.client_helpers import decode, running_collector
from tests.export.receivers import HttpReceiver, Reply
from tests.redaction._otelcol import free_port
from tests.test_end_to_end import KEYS, _actual, _expected

ADMIN_TOKEN = "admin-token-0123456789abcdef"
TENANTS = ("auth-http", "auth-grpc", "poison", "down-up", "kill-client", "small-outbox", "no-room", "kept",
           "watch-full")
POISON = b"\x0a\xff\xff\xff\xff\x0f not an OTLP request"


def _token(tenant: str) -> str:
    return f"token-of-{tenant}-0123456789"


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Collector, str]]:
    root = tmp_path_factory.mktemp("faults")
    tokens = root / "tokens.yaml"
    add_token(tokens, ADMIN_TOKEN, "ops", admin=True)
    for tenant in TENANTS:
        add_token(tokens, _token(tenant), tenant)
    with running_collector(root / "clickhouse", tokens=TokenTable.load(tokens)) as running:
        yield running


def _settings(home: Path, state: Path, endpoint: str, token: str, **env: str) -> ClientSettings:
    return ClientSettings.from_env(
        {"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(state), "HIVE_OTEL_ENDPOINT": endpoint,
         "HIVE_OTEL_TOKEN": token, **env}
    )  # fmt: skip


def _assert_usage_is_exact(capsys, monkeypatch, store_url: str, tenant: str, truth: WorkloadTruth) -> None:
    """``hive-otel usage --format json`` per key (asking the running collector with the admin token)."""
    monkeypatch.setenv("HIVE_OTEL_TOKEN", ADMIN_TOKEN)
    capsys.readouterr()
    for key in KEYS:
        code = run(["usage", "--store", store_url, "--group-by", key, "--tenant", tenant, "--format", "json"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert _actual(json.loads(out), key) == _expected(truth, key), key


def _llm_calls_stored(store: Store, tenant: str) -> int:
    return store.query(f"SELECT count() FROM usage_facts FINAL WHERE tenant = '{tenant}' AND kind = 'llm'")[1][0][0]


def _outbox(state: Path) -> Outbox:
    return Outbox(state / "outbox.db")


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_wrong_token_stops_keeps_everything_then_the_right_token_delivers_it(
    hive_workload, collector, tmp_path, capsys, monkeypatch, protocol
) -> None:
    home, truth = hive_workload
    store, server, store_url = collector
    tenant = "auth-http" if protocol == "http/protobuf" else "auth-grpc"
    endpoint = server.http_url if protocol == "http/protobuf" else f"http://{server.grpc_target}"
    state = tmp_path / "state"
    wrong = _settings(home, state, endpoint, "not-a-known-token-0000", OTEL_EXPORTER_OTLP_PROTOCOL=protocol)

    assert backfill(wrong, timeout_s=60) == EXIT_UNAUTHORIZED
    err = capsys.readouterr().err
    assert "refused the credentials" in err and "kept queued" in err and "delivered to" in err
    assert "nothing left queued" not in err
    box = _outbox(state)
    pending, counters = box.depth()[0], box.counters()
    box.shutdown()
    assert pending > 0 and counters["dead_lettered"] == 0 and counters["dead_letter_count"] == 0
    assert _llm_calls_stored(store, tenant) == 0

    right = _settings(home, state, endpoint, _token(tenant), OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
    assert backfill(right, timeout_s=60) == EXIT_OK  # nothing new to read; the queue goes out
    assert "0 records" in capsys.readouterr().out
    _assert_usage_is_exact(capsys, monkeypatch, store_url, tenant, truth)


def test_watch_stops_with_exit_5_on_a_wrong_token(hive_workload, collector, tmp_path, monkeypatch, capsys) -> None:
    home, _ = hive_workload
    _, server, _ = collector
    for name, value in {"HIVE_OTEL_ENDPOINT": server.http_url, "HIVE_OTEL_TOKEN": "not-a-known-token-0000",
                        "HIVE_OTEL_STATE_DIR": str(tmp_path / "state")}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}  # watch installs its own
    try:
        assert run(["watch", "--hive-home", str(home), "--interval", "0.1"]) == EXIT_UNAUTHORIZED
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert "watch STOPPED" in err and "refused the credentials" in err
    box = _outbox(tmp_path / "state")
    assert box.depth()[0] > 0 and box.counters()["dead_letter_count"] == 0
    box.shutdown()


def test_poison_request_mid_queue_is_dead_lettered_alone(hive_workload, collector, tmp_path, capsys, monkeypatch) -> None:
    home, truth = hive_workload
    _, server, store_url = collector
    state = tmp_path / "state"
    settings = _settings(home, state, server.http_url, _token("poison"))
    assert backfill(settings, no_wait=True) == EXIT_OK
    box = _outbox(state)
    queued = box.due(limit=1000, now=time.time())
    middle = queued[len(queued) // 2]
    # The poison goes right behind the middle request: half the queue before it, half after.
    assert box.split(middle.id, [(middle.body, middle.item_count), (POISON, 1)], "test: poison behind")
    box.shutdown()

    assert backfill(settings, timeout_s=60) == EXIT_DEAD_LETTERS
    assert "1 request refused for good" in capsys.readouterr().err
    _assert_usage_is_exact(capsys, monkeypatch, store_url, "poison", truth)  # everything else arrived

    monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(state))
    assert run(["outbox", "--json"]) == EXIT_OK
    status = json.loads(capsys.readouterr().out)
    assert status["queued"]["requests"] == 0
    assert status["dead_letters"]["requests"] == 1
    (letter,) = status["dead_letters"]["latest"]
    assert letter["bytes"] == len(POISON) and "HTTP 400" in letter["reason"]

    assert run(["outbox", "retry"]) == EXIT_OK
    assert "1 dead letter re-queued" in capsys.readouterr().out
    assert backfill(settings, timeout_s=60) == EXIT_DEAD_LETTERS  # still poison: back to the dead letters
    _assert_usage_is_exact(capsys, monkeypatch, store_url, "poison", truth)


def test_collector_unreachable_then_reachable(hive_workload, collector, tmp_path, capsys, monkeypatch) -> None:
    home, truth = hive_workload
    _, server, store_url = collector
    state = tmp_path / "state"
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    assert backfill(_settings(home, state, nobody, _token("down-up")), timeout_s=3) == EXIT_TIMEOUT
    assert "still queued" in capsys.readouterr().err
    assert backfill(_settings(home, state, server.http_url, _token("down-up")), timeout_s=60) == EXIT_OK
    _assert_usage_is_exact(capsys, monkeypatch, store_url, "down-up", truth)


# The workload's history is ~290 KB of requests: about twice this cap (requests of at most 64 KiB).
SMALL_OUTBOX = {"HIVE_OTEL_OUTBOX_MAX_BYTES": "140000", "HIVE_OTEL_MAX_REQUEST_BYTES": "65536"}


def test_a_history_bigger_than_the_outbox_waits_for_the_receiver_and_arrives_whole(
    hive_workload, collector, tmp_path, capsys, monkeypatch
) -> None:
    """A full outbox drops its oldest requests (a watch through a long outage keeps the newest); a
    backfill waits for the sender to make room instead, so a history larger than the cap arrives whole."""
    home, truth = hive_workload
    _, server, store_url = collector
    state = tmp_path / "state"
    settings = _settings(home, state, server.http_url, _token("small-outbox"), **SMALL_OUTBOX)
    assert backfill(settings, timeout_s=60) == EXIT_OK
    box = _outbox(state)
    counters = box.counters()
    box.shutdown()
    assert counters["dropped_full"] == 0 and counters["acked"] >= 5  # more requests than the cap holds at once
    _assert_usage_is_exact(capsys, monkeypatch, store_url, "small-outbox", truth)


def test_a_history_that_does_not_fit_the_outbox_is_not_checkpointed_and_a_rerun_sends_it(
    hive_workload, collector, tmp_path, capsys, monkeypatch
) -> None:
    """With nobody draining it (--no-wait), the outbox had to drop requests: the backfill says so and
    exits 6 without advancing the checkpoints (it had said "queued", and the history was lost)."""
    home, truth = hive_workload
    _, server, store_url = collector
    state = tmp_path / "state"
    cramped = _settings(home, state, server.http_url, _token("no-room"), **SMALL_OUTBOX)
    assert backfill(cramped, no_wait=True) == EXIT_OUTBOX_FULL
    assert "did not fit the outbox (HIVE_OTEL_OUTBOX_MAX_BYTES=140000)" in capsys.readouterr().err
    assert backfill(_settings(home, state, server.http_url, _token("no-room")), timeout_s=60) == EXIT_OK
    _assert_usage_is_exact(capsys, monkeypatch, store_url, "no-room", truth)


def test_a_watch_through_an_outage_waits_for_room_and_loses_nothing(
    hive_workload, collector, tmp_path, capsys, monkeypatch
) -> None:
    """A watch's outbox at its cap dropped its oldest requests, and the watch committed checkpoints past
    them: the history was lost, and a later backfill found nothing to read. Hive's files keep what is not
    read yet, so reading now waits for room, and a watch stopped meanwhile does not advance its checkpoints."""
    home, truth = hive_workload
    _, server, store_url = collector
    state = tmp_path / "state"
    nobody = f"http://127.0.0.1:{free_port()}"  # the outage: nothing listens there
    down = _settings(home, state, nobody, _token("watch-full"), OTEL_EXPORTER_OTLP_TIMEOUT="500", **SMALL_OUTBOX)
    stop = threading.Event()
    watching = threading.Thread(target=watch, args=(down, stop), kwargs={"interval_s": 0.1})
    watching.start()
    try:
        deadline = time.monotonic() + 30
        while "reading waits for the receiver" not in capsys.readouterr().err:
            assert time.monotonic() < deadline and watching.is_alive()
            time.sleep(0.1)
    finally:
        stop.set()
        watching.join(30)
    assert "the checkpoints were not advanced" in capsys.readouterr().err  # what it could not queue is read again
    assert backfill(_settings(home, state, server.http_url, _token("watch-full")), timeout_s=60) == EXIT_OK
    _assert_usage_is_exact(capsys, monkeypatch, store_url, "watch-full", truth)


def test_a_request_larger_than_the_whole_outbox_is_refused_at_once_not_waited_for(
    hive_workload, collector, tmp_path, capsys
) -> None:
    """No delivery can make room for a request larger than the outbox's cap: the backfill does not wait
    out its timeout for it (a hang bound, not a speed figure), it says the history did not fit. The
    environment cannot ask for such an outbox (tests/test_settings_bounds.py); settings built in code can."""
    home, _ = hive_workload
    _, server, _ = collector
    started = time.monotonic()
    settings = _settings(home, tmp_path / "state", server.http_url, _token("no-room"), HIVE_OTEL_MAX_REQUEST_BYTES="65536")
    settings = dataclasses.replace(settings, outbox_max_bytes=30000)
    assert backfill(settings, timeout_s=120) == EXIT_OUTBOX_FULL
    assert time.monotonic() - started < 60
    assert "did not fit the outbox" in capsys.readouterr().err


def test_client_killed_mid_backfill_then_rerun(large_hive_workload, collector, tmp_path, capsys, monkeypatch) -> None:
    home, truth, _ = large_hive_workload
    store, server, store_url = collector
    state = tmp_path / "state"
    env = {**os.environ, "HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(state),
           "HIVE_OTEL_ENDPOINT": server.http_url, "HIVE_OTEL_TOKEN": _token("kill-client")}  # fmt: skip
    client = subprocess.Popen([sys.executable, "-m", "hive_otel.cli", "backfill"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _llm_calls_stored(store, "kill-client") == 0:  # delivering, not done
            assert client.poll() is None, client.stderr.read() if client.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(30)
    stored_at_kill = _llm_calls_stored(store, "kill-client")
    assert 0 < stored_at_kill < len(truth.llm_calls)

    assert backfill(_settings(home, state, server.http_url, _token("kill-client")), timeout_s=300) == EXIT_OK
    _assert_usage_is_exact(capsys, monkeypatch, store_url, "kill-client", truth)


# --------------------------------------------------------------------------- Retry-After forms


def _delivered_exactly(receiver: HttpReceiver, truth: WorkloadTruth) -> None:
    chat = decode(receiver.delivered()).chat_spans()
    assert sorted(a["hive.call_key"] for _, _, a in chat) == sorted({a["hive.call_key"] for _, _, a in chat})
    assert len(chat) == len(truth.llm_calls)
    assert sum(a["gen_ai.usage.input_tokens"] for _, _, a in chat) == truth.totals().input_tokens


@pytest.mark.parametrize(
    ("header", "min_gap_s", "max_gap_s"),
    [
        ("2", 1.9, 4.0),  # as asked
        ("0", 0.95, 3.0),  # the floor: "0" cannot spin
        ("0.001", 0.95, 3.0),
        ("garbage", 0.0, 3.0),  # unreadable: the sender's own backoff (first attempt: under 1 s)
        ("inf", 0.0, 3.0),
        ("nan", 0.0, 3.0),
        ("-5", 0.0, 3.0),
        ("HTTP_DATE+2", 0.9, 4.0),
    ],
)
def test_503_with_retry_after(hive_workload, tmp_path, header: str, min_gap_s: float, max_gap_s: float) -> None:
    home, truth = hive_workload
    receiver = HttpReceiver()
    try:
        if header == "HTTP_DATE+2":
            receiver.answer(Reply("unavailable", retry_after_s=2, http_date=True))
        else:
            receiver.answer(Reply("unavailable", retry_after=header))
        assert backfill(_settings(home, tmp_path / "state", receiver.endpoint, "t0ken-t0ken"), timeout_s=60) == EXIT_OK
        gap = receiver.arrivals[1].at - receiver.arrivals[0].at
        assert min_gap_s <= gap <= max_gap_s, gap
        _delivered_exactly(receiver, truth)
    finally:
        receiver.down()


@pytest.mark.parametrize("header", ["1e308", "3600", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_503_asking_for_too_long_is_capped_and_the_next_run_retries_at_once(hive_workload, tmp_path, header) -> None:
    home, truth = hive_workload
    receiver = HttpReceiver()
    try:
        receiver.answer(Reply("unavailable", retry_after=header))
        settings = _settings(home, tmp_path / "state", receiver.endpoint, "t0ken-t0ken")
        assert backfill(settings, timeout_s=2) == EXIT_TIMEOUT
        box = _outbox(tmp_path / "state")
        assert time.time() + MAX_RETRY_DELAY_S - 5 < (box.next_attempt_at() or 0) <= time.time() + MAX_RETRY_DELAY_S
        box.shutdown()
        assert backfill(settings, timeout_s=60) == EXIT_OK  # a healthy receiver: no waiting out an old answer
        _delivered_exactly(receiver, truth)
    finally:
        receiver.down()


def test_a_backfill_never_pushes_out_what_an_earlier_run_queued(hive_workload, collector, tmp_path) -> None:
    """Run 1 queues history A (receiver down, --no-wait) and commits its checkpoints. Run 2 reads a new
    history B (receiver still down) that does not fit: the outbox dropped its oldest requests, run 1's,
    and they were lost for good (A's log records never arrived). Now B's newest requests are refused
    instead (exit 6, B's checkpoints not advanced), and run 3 delivers both whole."""
    home_a, truth_a = hive_workload
    home_b = tmp_path / "home_b"
    truth_b = write_workload(home_b, seed=7)
    store, server, _ = collector
    state = tmp_path / "state"
    nobody = f"http://127.0.0.1:{free_port()}"
    assert backfill(_settings(home_a, state, nobody, _token("kept")), no_wait=True) == EXIT_OK
    box = _outbox(state)
    queued = box.depth()
    box.shutdown()
    cramped = _settings(home_b, state, nobody, _token("kept"), HIVE_OTEL_OUTBOX_MAX_BYTES=str(queued[1] * 3 // 2),
                        HIVE_OTEL_MAX_REQUEST_BYTES="65536")  # fmt: skip
    assert backfill(cramped, timeout_s=2) == EXIT_OUTBOX_FULL
    assert backfill(_settings(home_b, state, server.http_url, _token("kept")), timeout_s=60) == EXIT_OK
    expected = [truth.totals() for truth in (truth_a, truth_b)]
    _, rows = store.query("SELECT countIf(kind = 'llm'), sumIf(input_tokens, kind = 'llm'), countIf(kind = 'tool') "
                          "FROM usage_facts FINAL WHERE tenant = 'kept'")  # fmt: skip
    assert rows == [[sum(t.llm_calls for t in expected), sum(t.input_tokens for t in expected),
                     sum(t.tool_calls for t in expected)]]  # fmt: skip
    # What went missing was A's first request of log records: every session with an events file has some.
    with_events = sum(1 for truth in (truth_a, truth_b) for s in truth.sessions.values() if s.events_path is not None)
    _, rows = store.query("SELECT uniqExact(ResourceAttributes['hive.session.id']) FROM otel_logs "
                          "WHERE ResourceAttributes['hive.tenant.id'] = 'kept'")  # fmt: skip
    assert rows == [[with_events]]
