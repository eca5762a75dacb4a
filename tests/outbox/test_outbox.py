"""The durable outbox against a real SQLite file: order, retry times, dead letters, the size cap,
the shutdown contract, durability across reopen and across kill -9, and two threads at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hive_otel.client.outbox import MAX_RETRY_DELAY_S, Outbox
from tests.client_helpers import SteppedClock
from tests.otlp_bodies import logs_request, metrics_request, trace_request

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "otel" / "outbox.db"


@pytest.fixture
def outbox(db_path: Path):
    box = Outbox(db_path)
    yield box
    box.shutdown()


def test_due_returns_requests_in_enqueue_order_with_their_fields(outbox: Outbox) -> None:
    bodies = [("traces", trace_request(1), 1), ("metrics", metrics_request(2), 1), ("logs", logs_request(3), 1)]
    for signal_name, body, items in bodies:
        assert outbox.enqueue(signal_name, body, items)

    due = outbox.due(limit=10, now=time.time())

    assert [(i.signal, i.body, i.item_count) for i in due] == bodies
    assert [i.attempts for i in due] == [0, 0, 0]
    assert outbox.depth() == (3, sum(len(b) for _, b, _ in bodies))
    assert outbox.due(limit=2, now=time.time()) == due[:2]


def test_ack_removes_and_counts(outbox: Outbox) -> None:
    outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(5)])
    due = outbox.due(limit=10, now=time.time())

    outbox.ack([due[0].id, due[2].id])
    outbox.ack([due[0].id])  # a second ack of the same request changes nothing

    assert [i.id for i in outbox.due(limit=10, now=time.time())] == [due[1].id, due[3].id, due[4].id]
    assert outbox.counters()["acked"] == 2
    assert outbox.counters()["enqueued"] == 5


def test_retry_later_holds_the_request_and_everything_behind_it(outbox: Outbox) -> None:
    outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
    first = outbox.due(limit=1, now=time.time())[0]

    outbox.retry_later(first.id, delay_s=30, reason="HTTP 503")

    now = time.time()
    assert outbox.due(limit=10, now=now) == []  # in-order delivery: nothing overtakes the head
    later = outbox.due(limit=10, now=now + 31)
    assert [i.id for i in later] == [first.id, first.id + 1, first.id + 2]
    assert later[0].attempts == 1
    assert later[0].last_error == "HTTP 503"
    assert outbox.next_attempt_at() == pytest.approx(now + 30, abs=1)
    assert outbox.counters()["retried"] == 1


def test_dead_letter_keeps_the_reason_and_counts(outbox: Outbox) -> None:
    outbox.enqueue("logs", logs_request(7), 1)
    outbox.enqueue("traces", trace_request(8), 1)
    refused = outbox.due(limit=1, now=time.time())[0]

    outbox.dead_letter(refused.id, "HTTP 400: unknown field")

    assert outbox.depth() == (1, len(trace_request(8)))
    (dead,) = outbox.dead_letters()
    assert (dead.id, dead.signal, dead.body, dead.reason, dead.attempts) == (
        refused.id,
        "logs",
        logs_request(7),
        "HTTP 400: unknown field",
        1,
    )
    counters = outbox.counters()
    assert (counters["dead_lettered"], counters["dead_letter_count"]) == (1, 1)


def test_size_cap_drops_the_oldest_pending_requests_and_counts(db_path: Path) -> None:
    body = trace_request(0)
    box = Outbox(db_path, max_bytes=len(body) * 3)
    try:
        for n in range(5):
            assert box.enqueue("traces", trace_request(n), 1)

        assert [i.body for i in box.due(limit=10, now=time.time())] == [trace_request(n) for n in (2, 3, 4)]
        assert box.depth() == (3, 3 * len(body))
        assert box.counters()["dropped_full"] == 2
    finally:
        box.shutdown()


def test_size_cap_evicts_dead_letters_before_pending_requests(db_path: Path) -> None:
    body_size = len(trace_request(0))
    box = Outbox(db_path, max_bytes=body_size * 2)
    try:
        box.enqueue("traces", trace_request(0), 1)
        box.dead_letter(box.due(limit=1, now=time.time())[0].id, "HTTP 400")
        box.enqueue("traces", trace_request(1), 1)
        box.enqueue("traces", trace_request(2), 1)

        assert box.dead_letters() == []
        assert [i.body for i in box.due(limit=10, now=time.time())] == [trace_request(1), trace_request(2)]
        counters = box.counters()
        assert (counters["dead_letters_evicted"], counters["dropped_full"]) == (1, 0)
    finally:
        box.shutdown()


def test_a_request_larger_than_the_cap_is_refused_without_evicting_anything(db_path: Path) -> None:
    box = Outbox(db_path, max_bytes=200)
    try:
        assert box.enqueue("traces", trace_request(1), 1)
        assert not box.enqueue("traces", b"x" * 201, 1)
        assert box.depth() == (1, len(trace_request(1)))
        assert box.counters()["dropped_full"] == 1
    finally:
        box.shutdown()


def test_after_shutdown_enqueue_is_dropped_and_counted_and_shutdown_is_idempotent(db_path: Path) -> None:
    box = Outbox(db_path)
    box.enqueue("traces", trace_request(1), 1)
    box.shutdown()
    box.shutdown()

    assert not box.enqueue("traces", trace_request(2), 1)
    assert box.enqueue_many([("logs", logs_request(3), 1), ("logs", logs_request(4), 1)]) == 0
    assert box.counters()["dropped_after_shutdown"] == 3
    assert box.depth() == (1, len(trace_request(1)))  # last known depth, still answerable
    assert box.due(limit=10, now=time.time()) == []
    box.ack([1])  # ignored: the request stays stored for the next run


def test_requests_survive_reopening_without_ack(db_path: Path) -> None:
    box = Outbox(db_path)
    box.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
    taken = box.due(limit=10, now=time.time())
    box.retry_later(taken[0].id, delay_s=0, reason="connection refused")
    box.shutdown()

    reopened = Outbox(db_path)
    try:
        again = reopened.due(limit=10, now=time.time())
        assert [i.body for i in again] == [trace_request(n) for n in range(3)]
        assert again[0].attempts == 1
        assert reopened.counters()["enqueued"] == 3  # lifetime counters live in the file
    finally:
        reopened.shutdown()


def test_unknown_signal_is_a_programming_error(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="signal"):
        outbox.enqueue("profiles", b"", 0)  # type: ignore[arg-type]


_ENQUEUE_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from hive_otel.client.outbox import Outbox
    from tests.otlp_bodies import trace_request

    box = Outbox(Path(sys.argv[1]))
    for n in range(int(sys.argv[2])):
        assert box.enqueue("traces", trace_request(n), 1)
        if sys.argv[3] == "report":
            print(n, flush=True)
    if sys.argv[3] == "self-kill":
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        signal.pause()
    """
)


def _run_enqueuer(db_path: Path, count: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _ENQUEUE_SCRIPT, str(db_path), str(count), mode],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


def _stored_bodies(db_path: Path) -> list[bytes]:
    with sqlite3.connect(db_path) as db:
        return [row[0] for row in db.execute("SELECT body FROM outbox ORDER BY id")]


def test_kill_9_right_after_enqueue_loses_nothing(db_path: Path) -> None:
    process = _run_enqueuer(db_path, 500, "self-kill")
    process.communicate(timeout=60)

    assert process.returncode == -signal.SIGKILL
    assert _stored_bodies(db_path) == [trace_request(n) for n in range(500)]


def test_kill_9_from_outside_mid_stream_loses_nothing_that_was_acknowledged(db_path: Path) -> None:
    process = _run_enqueuer(db_path, 100_000, "report")
    assert process.stdout is not None
    returned = [int(process.stdout.readline()) for _ in range(300)]
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)

    stored = _stored_bodies(db_path)
    assert len(stored) >= len(returned)
    assert stored[: len(returned)] == [trace_request(n) for n in returned]


def test_a_writer_and_a_sender_thread_share_the_outbox(outbox: Outbox) -> None:
    total = 400
    delivered: list[bytes] = []

    def writer() -> None:
        for start in range(0, total, 10):
            outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(start, start + 10)])

    def sender() -> None:
        deadline = time.monotonic() + 30
        while len(delivered) < total and time.monotonic() < deadline:
            batch = outbox.due(limit=25, now=time.time())
            delivered.extend(i.body for i in batch)
            outbox.ack([i.id for i in batch])

    threads = [threading.Thread(target=writer), threading.Thread(target=sender)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert delivered == [trace_request(n) for n in range(total)]
    assert outbox.depth() == (0, 0)
    assert outbox.counters()["acked"] == total


# ------------------------------------------------------------------ split, re-queue, retry-time cap


def _due_bodies(outbox: Outbox) -> list[bytes]:
    return [i.body for i in outbox.due(limit=100, now=time.time() + 1000)]


def test_split_parts_take_the_place_of_the_request_in_the_queue(outbox: Outbox) -> None:
    outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
    a, b, c = outbox.due(limit=3, now=time.time())
    outbox.retry_later(b.id, 30, "HTTP 503")

    assert outbox.split(b.id, [(b"b1", 1), (b"b2", 1)], "HTTP 413: too large")
    b1 = outbox.due(limit=3, now=time.time())[1]
    assert outbox.split(b1.id, [(b"b1a", 1), (b"b1b", 1)], "HTTP 413: too large")

    assert _due_bodies(outbox) == [a.body, b"b1a", b"b1b", b"b2", c.body]
    parts = outbox.due(limit=10, now=time.time())  # the parts are due now, not in 30 s
    assert [p.attempts for p in parts] == [0, 0, 0, 0, 0]
    assert parts[1].last_error == "HTTP 413: too large"
    assert outbox.split(b.id, [(b"x", 1)], "gone") is False  # b itself is no longer pending
    assert outbox.counters()["split"] == 2
    assert outbox.depth() == (5, len(a.body) + len(c.body) + len(b"b1ab1bb2"))


def test_split_of_the_last_request_and_new_requests_after_it(outbox: Outbox) -> None:
    outbox.enqueue("traces", trace_request(1), 1)
    (only,) = outbox.due(limit=1, now=time.time())
    outbox.split(only.id, [(b"p1", 1), (b"p2", 1), (b"p3", 1)], "too large")
    outbox.enqueue("logs", logs_request(2), 1)

    assert _due_bodies(outbox) == [b"p1", b"p2", b"p3", logs_request(2)]


def test_dead_letters_are_requeued_at_their_place(outbox: Outbox) -> None:
    outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
    first, second, _ = outbox.due(limit=3, now=time.time())
    outbox.dead_letter(first.id, "HTTP 401")
    outbox.dead_letter(second.id, "HTTP 400")
    outbox.add_dead_letter("logs", logs_request(9), 1, "one item over the limit")

    assert outbox.requeue_dead([second.id, 999]) == [second.id]  # 999 is no dead letter
    assert _due_bodies(outbox) == [trace_request(1), trace_request(2)]
    assert len(outbox.requeue_dead()) == 2
    assert _due_bodies(outbox) == [trace_request(0), trace_request(1), trace_request(2), logs_request(9)]
    counters = outbox.counters()
    assert (counters["dead_letter_count"], counters["requeued"], counters["dead_lettered"]) == (0, 3, 3)
    assert outbox.due(limit=1, now=time.time())[0].last_error == "HTTP 401"


def test_retry_times_are_capped_when_written_and_when_opened(db_path: Path) -> None:
    box = Outbox(db_path)
    box.enqueue_many([("traces", trace_request(n), 1) for n in range(2)])
    first, second = box.due(limit=2, now=time.time())
    box.retry_later(first.id, float("inf"), "Retry-After: inf")
    assert box.next_attempt_at() <= time.time() + MAX_RETRY_DELAY_S
    box.shutdown()
    # What an older version stored: a retry time a century away, and no seq column.
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE outbox SET next_attempt_at = ?", (time.time() + 3e9,))
        db.execute("DROP INDEX outbox_by_seq")
        db.execute("ALTER TABLE outbox DROP COLUMN seq")
        db.execute("PRAGMA user_version = 1")

    reopened = Outbox(db_path)
    try:
        assert reopened.next_attempt_at() <= time.time() + MAX_RETRY_DELAY_S
        assert [i.id for i in reopened.due(limit=5, now=time.time() + MAX_RETRY_DELAY_S)] == [first.id, second.id]
        assert reopened.retry_now() == 2
        assert len(reopened.due(limit=5, now=time.time())) == 2
    finally:
        reopened.shutdown()


def test_a_wall_clock_step_back_holds_a_waiting_request_at_most_the_longest_retry_delay(db_path: Path) -> None:
    """Retry times are wall-clock times: after a step back of an hour, the head's retry time (and the
    enqueue times behind it) lie an hour ahead. No delay the sender asks for is that long, so such a
    request is due at once; a step back within the cap keeps a failed request waiting up to the cap."""
    clock = SteppedClock()
    box = Outbox(db_path, clock=clock)
    try:
        box.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
        first = box.due(limit=1, now=clock())[0]
        box.retry_later(first.id, delay_s=30, reason="HTTP 503")
        assert box.due(limit=10, now=clock()) == []

        clock.offset = -3600.0
        assert [i.id for i in box.due(limit=10, now=clock())] == [first.id, first.id + 1, first.id + 2]
        assert box.next_attempt_at() <= clock()

        clock.offset = -60.0  # a step back within the cap: the failed head waits, no longer than the cap
        assert box.due(limit=10, now=clock()) == []
        assert clock() < box.next_attempt_at() <= clock() + MAX_RETRY_DELAY_S
    finally:
        box.shutdown()


def test_requests_that_never_failed_are_due_whatever_the_wall_clock_did(db_path: Path) -> None:
    """A request is due from the moment it is written until an attempt fails: a clock stepped back
    after it was enqueued (or split, or re-queued) must not hold it, nor what is queued behind it."""
    clock = SteppedClock()
    box = Outbox(db_path, clock=clock)
    try:
        box.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
        clock.offset = -120.0
        box.enqueue("logs", logs_request(9), 1)

        assert _due_bodies_at(box, clock()) == [trace_request(0), trace_request(1), trace_request(2), logs_request(9)]
        assert box.next_attempt_at() <= clock()
    finally:
        box.shutdown()


def _due_bodies_at(outbox: Outbox, now: float) -> list[bytes]:
    return [i.body for i in outbox.due(limit=100, now=now)]
