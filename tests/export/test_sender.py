"""OutboxSender policies that need exact control over outcomes: backoff bounds, an exporter that
breaks its contract, and work written by another outbox handle (as another process would).

The exporter here is a small scripted in-memory one (as the OTel SDK's tests use an in-memory
exporter); the network behaviour is covered against real receivers in test_exporters.py.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_otel.client.export import ExportResult, OutboxSender
from hive_otel.client.export._sender import MIN_RETRY_AFTER_S
from hive_otel.client.outbox import MAX_RETRY_DELAY_S, Outbox, Signal
from tests.client_helpers import decode
from tests.otlp_bodies import logs_request, spans_request, trace_request


class ScriptedExporter:
    """Answers from a script (then success) and records what it was given."""

    def __init__(self, *outcomes: ExportResult | Exception) -> None:
        self._outcomes = list(outcomes)
        self._lock = threading.Lock()
        self.bodies: list[bytes] = []
        self.calls: list[float] = []  # time.monotonic() of every export call
        self.shut_down = 0

    def export(self, signal: Signal, body: bytes) -> ExportResult:
        with self._lock:
            self.calls.append(time.monotonic())
            outcome = self._outcomes.pop(0) if self._outcomes else ExportResult.success()
            if isinstance(outcome, Exception):
                raise outcome
            if outcome.status.value == "success":
                self.bodies.append(body)
            return outcome

    def shutdown(self) -> None:
        self.shut_down += 1


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db")
    yield box
    box.shutdown()


def test_backoff_is_exponential_with_full_jitter_under_the_cap(outbox: Outbox) -> None:
    exporter = ScriptedExporter(*[ExportResult.retryable("HTTP 503") for _ in range(4)])
    sender = OutboxSender(outbox, exporter, initial_backoff_s=0.2, max_backoff_s=0.5, rng=random.Random(7))
    try:
        outbox.enqueue("traces", trace_request(1), 1)
        sender.notify()
        assert sender.force_flush(timeout_millis=5000)
    finally:
        sender.shutdown()

    same_rng = random.Random(7)
    expected = [same_rng.uniform(0, min(0.5, 0.2 * 2**attempt)) for attempt in range(4)]
    gaps = [later - earlier for earlier, later in zip(exporter.calls, exporter.calls[1:], strict=False)]
    assert len(gaps) == 4
    for gap, delay in zip(gaps, expected, strict=True):
        assert delay - 0.01 <= gap <= delay + 0.3
    assert exporter.bodies == [trace_request(1)]


def test_an_exporter_that_raises_loses_nothing(outbox: Outbox) -> None:
    exporter = ScriptedExporter(RuntimeError("bug in exporter"))
    sender = OutboxSender(outbox, exporter, initial_backoff_s=0.01, max_backoff_s=0.02)
    try:
        outbox.enqueue("traces", trace_request(1), 1)
        sender.notify()
        assert sender.force_flush(timeout_millis=5000)
    finally:
        sender.shutdown()

    assert exporter.bodies == [trace_request(1)]
    assert "bug in exporter" in (sender.last_error or "")
    assert exporter.shut_down == 1


def test_work_written_by_another_handle_is_picked_up_by_polling(outbox: Outbox, tmp_path: Path) -> None:
    exporter = ScriptedExporter()
    sender = OutboxSender(outbox, exporter, poll_interval_s=0.1)
    other_process = Outbox(tmp_path / "outbox.db")  # e.g. `hive-otel backfill --no-wait`
    try:
        other_process.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
        deadline = time.monotonic() + 5
        while outbox.depth()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        sender.shutdown()
        other_process.shutdown()

    assert b"".join(exporter.bodies) == b"".join(trace_request(n) for n in range(3))
    assert outbox.depth() == (0, 0)  # totals are shared through the file, not per handle
    assert outbox.counters()["enqueued"] == 3


def test_invalid_settings_are_refused(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="initial_backoff_s"):
        OutboxSender(outbox, ScriptedExporter(), initial_backoff_s=10, max_backoff_s=1)


# ------------------------------------------------------------------ Retry-After bounds


def _first_retry_delay(outbox: Outbox, retry_after_s: float | None) -> float:
    """How far ahead the sender put the request after one retryable answer asking for ``retry_after_s``."""
    # Always refused, so the request is still there to look at however short the delay was.
    exporter = ScriptedExporter(*[ExportResult.retryable("HTTP 503", retry_after_s) for _ in range(1000)])
    sender = OutboxSender(outbox, exporter, initial_backoff_s=0.5, max_backoff_s=2.0)
    try:
        outbox.enqueue("traces", trace_request(1), 1)
        sender.notify()
        deadline = time.monotonic() + 5
        while outbox.counters()["retried"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return (outbox.next_attempt_at() or 0.0) - time.time()
    finally:
        sender.shutdown()


@pytest.mark.parametrize(
    ("retry_after_s", "low", "high"),
    [
        (0.0, MIN_RETRY_AFTER_S - 0.1, MIN_RETRY_AFTER_S + 0.1),  # the floor: "0" cannot spin
        (0.2, MIN_RETRY_AFTER_S - 0.1, MIN_RETRY_AFTER_S + 0.1),
        (3.0, 2.9, 3.1),  # within bounds: exactly what the receiver asked
        (3600.0, MAX_RETRY_DELAY_S - 1, MAX_RETRY_DELAY_S + 0.1),  # the cap
        (1e308, MAX_RETRY_DELAY_S - 1, MAX_RETRY_DELAY_S + 0.1),
        (math.inf, -0.1, 2.1),  # not a delay at all: the sender's own backoff (here at most 2 s)
        (math.nan, -0.1, 2.1),
        (-5.0, -0.1, 2.1),
    ],
)
def test_retry_after_is_kept_between_the_floor_and_the_cap(outbox, retry_after_s, low, high) -> None:
    assert low <= _first_retry_delay(outbox, retry_after_s) <= high


def test_retry_after_zero_does_not_spin(outbox: Outbox) -> None:
    exporter = ScriptedExporter(*[ExportResult.retryable("HTTP 503", 0.0) for _ in range(100)])
    sender = OutboxSender(outbox, exporter)
    try:
        outbox.enqueue("traces", trace_request(1), 1)
        sender.notify()
        time.sleep(1.5)
    finally:
        sender.shutdown()
    assert len(exporter.calls) == 2  # at 0 s and at 1 s, where an unbounded "0" made ~95 a second


# ------------------------------------------------------------------ too large, unauthorized


def test_too_large_splits_until_the_receiver_accepts_in_order(outbox: Outbox) -> None:
    """The receiver takes at most 2 spans a request: 7 spans arrive in 4 requests, in order."""

    class AtMostTwoSpans(ScriptedExporter):
        def export(self, signal: Signal, body: bytes) -> ExportResult:
            if len(decode([(signal, body)]).spans) > 2:
                self.calls.append(time.monotonic())
                return ExportResult.too_large("HTTP 413: body exceeds the limit")
            return super().export(signal, body)

    exporter = AtMostTwoSpans()
    sender = OutboxSender(outbox, exporter)
    try:
        outbox.enqueue("traces", spans_request(range(7)), 7)
        outbox.enqueue("logs", logs_request(1), 1)
        sender.notify()
        assert sender.force_flush(timeout_millis=5000)
    finally:
        sender.shutdown()

    delivered = decode([("traces", b) for b in exporter.bodies[:-1]])
    assert [s.name for _, s in delivered.spans] == [s.name for _, s in decode([("traces", spans_request(range(7)))]).spans]
    assert exporter.bodies[-1] == logs_request(1)
    assert sender.counters()["split_requests"] == 3  # 7 → 3+4 → (1+2)+(2+2)
    assert sender.counters()["exported_items"] == 8
    assert outbox.counters()["dead_letter_count"] == 0


def test_one_item_too_large_is_dead_lettered_alone(outbox: Outbox) -> None:
    # Too large twice: the two requests merged, then the first alone.
    too_large = ExportResult.too_large("HTTP 413: body exceeds the limit")
    exporter = ScriptedExporter(too_large, too_large)
    sender = OutboxSender(outbox, exporter)
    try:
        outbox.enqueue_many([("traces", trace_request(1), 1), ("traces", trace_request(2), 1)])
        sender.notify()
        assert sender.force_flush(timeout_millis=5000)
    finally:
        sender.shutdown()

    (dead,) = outbox.dead_letters()
    assert dead.body == trace_request(1)
    assert "413" in dead.reason and "cannot be split" in dead.reason
    assert exporter.bodies == [trace_request(2)]
    assert sender.counters()["oversized_items"] == 1


class HeldAfterFirstCall(ScriptedExporter):
    """A :class:`ScriptedExporter` whose calls after the first wait for ``release``: a test can look at
    the state the first answer left before the next attempt changes it, however slow the machine."""

    def __init__(self, *outcomes: ExportResult | Exception) -> None:
        super().__init__(*outcomes)
        self.release = threading.Event()

    def export(self, signal: Signal, body: bytes) -> ExportResult:
        if self.calls:
            self.release.wait(30)
        return super().export(signal, body)


def test_unauthorized_keeps_the_request_and_says_so_until_one_gets_through(outbox: Outbox) -> None:
    exporter = HeldAfterFirstCall(ExportResult.unauthorized("HTTP 401: invalid token"))
    sender = OutboxSender(outbox, exporter, initial_backoff_s=0.05, max_backoff_s=0.1)
    try:
        outbox.enqueue_many([("traces", trace_request(1), 1), ("traces", trace_request(2), 1)])
        sender.notify()
        deadline = time.monotonic() + 30  # a bound against hanging, not a speed check
        while sender.auth_failure is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert sender.auth_failure == "HTTP 401: invalid token"
        assert outbox.counters()["dead_lettered"] == 0
        exporter.release.set()
        # The token "was fixed": the next attempt (after the backoff) succeeds and the queue drains.
        # (force_flush() would return False at once while the credentials are refused.)
        while outbox.depth()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        sender.shutdown()

    assert b"".join(exporter.bodies) == trace_request(1) + trace_request(2)
    assert sender.auth_failure is None
    assert sender.counters()["unauthorized_failures"] == 1


# ------------------------------------------------------------------ merging queued requests


def test_queued_requests_of_a_signal_travel_merged_within_the_bounds(outbox: Outbox, monkeypatch) -> None:
    """A backlog goes out as few requests as the bounds allow: one per signal and bound, the bodies
    of one signal in their order, every part acked."""
    monkeypatch.setattr("hive_otel.client.export._sender.MAX_MERGED_ITEMS", 4)
    requests = [("traces", spans_request(range(n, n + 2)), 2) for n in range(0, 10, 2)]  # 5 requests of 2 spans
    requests += [("logs", logs_request(n), 1) for n in range(3)]
    outbox.enqueue_many(requests)  # type: ignore[arg-type]
    exporter = ScriptedExporter()
    sender = OutboxSender(outbox, exporter)
    try:
        assert sender.force_flush(timeout_millis=5000)
    finally:
        sender.shutdown()

    # Groups go out in the order of their oldest part: the traces' three (the bound splits them), then the logs.
    assert [len(decode([("traces", body)]).spans) for body in exporter.bodies[:3]] == [4, 4, 2]
    assert b"".join(exporter.bodies[:3]) == b"".join(body for _, body, _ in requests[:5])
    assert exporter.bodies[3] == b"".join(logs_request(n) for n in range(3))
    assert sender.counters()["exported_requests"] == 8
    assert sender.counters()["exported_items"] == 13
    assert outbox.counters()["acked"] == 8


def test_a_merged_request_that_must_wait_waits_as_its_oldest_part(outbox: Outbox) -> None:
    """Retryable: nothing is acked, the oldest part carries the retry time and the others stay behind it."""
    exporter = ScriptedExporter(ExportResult.retryable("HTTP 503", retry_after_s=60))
    sender = OutboxSender(outbox, exporter)
    try:
        outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(3)])
        sender.notify()
        assert not sender.force_flush(timeout_millis=300)
    finally:
        sender.shutdown()

    assert exporter.bodies == []
    assert len(exporter.calls) == 1  # one merged attempt, not one per part
    assert outbox.depth()[0] == 3
    assert outbox.due(10, time.time()) == []  # the head waits, and nothing overtakes it
    assert outbox.counters()["retried"] == 1


class DepthRecorder(ScriptedExporter):
    """Also records how many requests the outbox holds when each export starts: what a crash there
    would leave to send again."""

    def __init__(self, outbox: Outbox, *outcomes: ExportResult | Exception) -> None:
        super().__init__(*outcomes)
        self._outbox = outbox
        self.depths: list[int] = []

    def export(self, signal: Signal, body: bytes) -> ExportResult:
        self.depths.append(self._outbox.depth()[0])
        return super().export(signal, body)


def test_each_acknowledged_request_is_recorded_before_the_next_is_sent(outbox: Outbox, monkeypatch) -> None:
    """Acks used to be written once per round (up to 64 requests, 256 MiB at 4 MiB each), after it:
    a process killed mid-round sent them all again, and one killed more often than a round takes never
    got anywhere. A merged request's ack covers all its parts; the parts of one refused merged are
    acked one by one as they get through."""
    monkeypatch.setattr("hive_otel.client.export._sender.MAX_MERGED_ITEMS", 2)
    outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(4)] + [("logs", logs_request(9), 1)])
    exporter = DepthRecorder(outbox)
    sender = OutboxSender(outbox, exporter)
    try:
        assert sender.force_flush(timeout_millis=5000)
    finally:
        sender.shutdown()
    assert exporter.depths == [5, 3, 1]  # traces 0+1 merged, traces 2+3 merged, the logs

    refused = ExportResult.permanent("HTTP 400: unknown field")
    outbox.enqueue_many([("traces", trace_request(n), 1) for n in range(2)] + [("logs", logs_request(9), 1)])
    exporter = DepthRecorder(outbox, refused, refused)  # the merged traces, then their first part
    sender = OutboxSender(outbox, exporter)
    try:
        assert sender.force_flush(timeout_millis=5000)
    finally:
        sender.shutdown()
    assert exporter.depths == [3, 3, 2, 1]  # merged, part 1 (dead letter), part 2 (acked), the logs
    assert exporter.bodies == [trace_request(1), logs_request(9)]
    assert outbox.counters()["acked"] == 5 + 2
