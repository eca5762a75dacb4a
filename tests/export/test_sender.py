"""OutboxSender policies that need exact control over outcomes: backoff bounds, an exporter that
breaks its contract, and work written by another outbox handle (as another process would).

The exporter here is a small scripted in-memory one (as the OTel SDK's tests use an in-memory
exporter); the network behaviour is covered against real receivers in test_exporters.py.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_otel.export import ExportResult, OutboxSender
from hive_otel.outbox import Outbox, Signal
from tests.otlp_bodies import trace_request


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
        while len(exporter.bodies) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        sender.shutdown()
        other_process.shutdown()

    assert exporter.bodies == [trace_request(n) for n in range(3)]
    assert outbox.depth() == (0, 0)  # totals are shared through the file, not per handle
    assert outbox.counters()["enqueued"] == 3


def test_invalid_settings_are_refused(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="initial_backoff_s"):
        OutboxSender(outbox, ScriptedExporter(), initial_backoff_s=10, max_backoff_s=1)
