"""Exporters and the outbox sender against real loopback receivers, over real sockets.

One contract suite runs over both protocols (OTLP/HTTP and OTLP/gRPC): success, Retry-After
honoured, permanent refusal to the dead-letter table, receiver down then up. Protocol-specific
details (HTTP dates, gRPC RetryInfo, timeouts) follow.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from signal import SIGKILL

import pytest

from hive_otel import environment_variables as ev
from hive_otel.client.export import (
    Exporter,
    ExportResult,
    ExportStatus,
    OtlpGrpcExporter,
    OtlpHttpExporter,
    OutboxSender,
    create_exporter,
    parse_retry_after,
)
from hive_otel.client.outbox import Outbox
from hive_otel.settings import ClientSettings
from tests.client_helpers import SteppedClock
from tests.export.receivers import PARTIAL_MESSAGE, RECEIVERS, HttpReceiver, Receiver, Reply
from tests.otlp_bodies import REQUEST_BUILDERS, by_signal, logs_request, metrics_request, trace_request

TOKEN = "s3cret-token"
REPO_ROOT = Path(__file__).resolve().parents[2]
MakeReceiver = Callable[..., Receiver]


@pytest.fixture(params=["http/protobuf", "grpc"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_receiver(protocol: str) -> Iterator[MakeReceiver]:
    started: list[Receiver] = []

    def make(*, up: bool = True) -> Receiver:
        receiver = RECEIVERS[protocol](up=up)
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.down()


@pytest.fixture
def receiver(make_receiver: MakeReceiver) -> Receiver:
    return make_receiver()


def exporter_for(receiver: Receiver, tmp_path: Path, timeout_ms: int = 2000) -> Exporter:
    """The exporter the client would build from its environment for this receiver."""
    settings = ClientSettings.from_env(
        env={
            ev.HIVE_OTEL_ENDPOINT: receiver.endpoint,
            ev.OTEL_EXPORTER_OTLP_PROTOCOL: receiver.protocol,
            ev.HIVE_OTEL_TOKEN: TOKEN,
            ev.OTEL_EXPORTER_OTLP_TIMEOUT: str(timeout_ms),
        },
        hive_home=tmp_path,
    )
    return create_exporter(settings)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "otel" / "outbox.db")
    yield box
    box.shutdown()


@pytest.fixture
def start_sender(outbox: Outbox) -> Iterator[Callable[..., OutboxSender]]:
    senders: list[OutboxSender] = []

    def start(exporter: Exporter, **options: float) -> OutboxSender:
        sender = OutboxSender(outbox, exporter, **options)  # type: ignore[arg-type]
        senders.append(sender)
        return sender

    yield start
    for sender in senders:
        sender.shutdown(timeout_millis=5000)


def enqueue(outbox: Outbox, sender: OutboxSender | None, requests: list[tuple[str, bytes]]) -> None:
    outbox.enqueue_many([(signal, body, 1) for signal, body in requests])  # type: ignore[misc]
    if sender is not None:
        sender.notify()


def mixed_requests(count: int) -> list[tuple[str, bytes]]:
    signals = ["traces", "metrics", "logs"]
    return [(signals[n % 3], REQUEST_BUILDERS[signals[n % 3]](n)) for n in range(count)]


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# ------------------------------------------------------------------------ the contract suite


def test_delivers_every_signal_with_auth_and_acks(receiver, tmp_path, outbox, start_sender) -> None:
    sender = start_sender(exporter_for(receiver, tmp_path))
    requests = [("traces", trace_request(1)), ("metrics", metrics_request(2)), ("logs", logs_request(3))]

    enqueue(outbox, sender, requests)

    assert sender.force_flush(timeout_millis=5000)
    assert receiver.delivered() == requests
    assert {a.headers["authorization"] for a in receiver.arrivals} == {f"Bearer {TOKEN}"}
    assert outbox.counters()["acked"] == 3
    assert sender.counters() == {
        "exported_requests": 3,
        "exported_items": 3,
        "rejected_items": 0,
        "retryable_failures": 0,
        "permanent_failures": 0,
        "split_requests": 0,
        "oversized_items": 0,
        "unauthorized_failures": 0,
    }


def test_retry_after_from_the_receiver_is_waited_for(receiver, tmp_path, outbox, start_sender) -> None:
    receiver.answer(Reply("unavailable", retry_after_s=1))
    sender = start_sender(exporter_for(receiver, tmp_path), initial_backoff_s=0.01, max_backoff_s=0.02)

    enqueue(outbox, sender, [("traces", trace_request(1)), ("logs", logs_request(2))])

    assert sender.force_flush(timeout_millis=5000)
    first, second, third = receiver.arrivals
    assert first.reply.kind == "unavailable"
    assert second.body == first.body  # the same request again, nothing overtook it
    assert second.at - first.at >= 1.0
    assert receiver.delivered() == [("traces", trace_request(1)), ("logs", logs_request(2))]
    assert third.body == logs_request(2)
    assert outbox.counters()["retried"] == 1


def test_throttling_without_retry_after_backs_off_and_delivers(receiver, tmp_path, outbox, start_sender) -> None:
    receiver.answer(Reply("throttled"), Reply("throttled"))
    sender = start_sender(exporter_for(receiver, tmp_path), initial_backoff_s=0.05, max_backoff_s=0.1)

    enqueue(outbox, sender, [("metrics", metrics_request(5))])

    assert sender.force_flush(timeout_millis=5000)
    assert receiver.delivered() == [("metrics", metrics_request(5))]
    assert sender.counters()["retryable_failures"] == 2


def test_permanent_refusal_goes_to_dead_letter_with_reason(receiver, tmp_path, outbox, start_sender) -> None:
    # Refused twice: the two requests merged, then the first alone (the sender retries the parts of a
    # merged request one by one to find the one the receiver refuses).
    receiver.answer(Reply("bad_request", message="unknown field 42"), Reply("bad_request", message="unknown field 42"))
    sender = start_sender(exporter_for(receiver, tmp_path))

    enqueue(outbox, sender, [("traces", trace_request(1)), ("traces", trace_request(2))])

    assert sender.force_flush(timeout_millis=5000)  # a dead letter is no longer deliverable
    (dead,) = outbox.dead_letters()
    assert dead.body == trace_request(1)
    assert "unknown field 42" in dead.reason
    assert ("400" if receiver.protocol == "http/protobuf" else "INVALID_ARGUMENT") in dead.reason
    assert receiver.delivered() == [("traces", trace_request(2))]
    assert outbox.counters()["dead_lettered"] == 1
    assert sender.counters()["permanent_failures"] == 1
    assert sender.last_error == dead.reason


def test_receiver_down_then_up_delivers_everything_once_in_order(
    make_receiver, tmp_path, outbox, start_sender
) -> None:
    receiver = make_receiver(up=False)
    sender = start_sender(exporter_for(receiver, tmp_path), initial_backoff_s=0.05, max_backoff_s=0.2)
    requests = mixed_requests(30)

    enqueue(outbox, sender, requests)
    wait_for(lambda: sender.counters()["retryable_failures"] >= 2)
    assert not sender.force_flush(timeout_millis=100)
    receiver.up()

    assert sender.force_flush(timeout_millis=10_000)
    assert by_signal(receiver.delivered()) == by_signal(requests)  # each once, in order within its signal
    assert outbox.depth() == (0, 0)
    assert outbox.counters()["acked"] == 30


def test_receiver_going_down_midway_loses_nothing(receiver, tmp_path, outbox, start_sender) -> None:
    sender = start_sender(exporter_for(receiver, tmp_path), initial_backoff_s=0.05, max_backoff_s=0.2)
    enqueue(outbox, sender, mixed_requests(5))
    assert sender.force_flush(timeout_millis=5000)

    receiver.down()
    enqueue(outbox, sender, mixed_requests(10)[5:])
    wait_for(lambda: sender.counters()["retryable_failures"] >= 1)
    receiver.up()

    assert sender.force_flush(timeout_millis=10_000)
    assert by_signal(receiver.delivered()) == by_signal(mixed_requests(10))


def test_notify_delivers_without_waiting_for_the_poll(receiver, tmp_path, outbox, start_sender) -> None:
    sender = start_sender(exporter_for(receiver, tmp_path), poll_interval_s=30)
    time.sleep(0.05)  # the worker is idle, asleep for up to 30 s

    started = time.monotonic()
    enqueue(outbox, sender, mixed_requests(200))
    wait_for(lambda: outbox.depth()[0] == 0, timeout_s=10)

    assert time.monotonic() - started < 5
    assert by_signal(receiver.delivered()) == by_signal(mixed_requests(200))


def test_force_flush_honours_its_timeout(make_receiver, tmp_path, outbox, start_sender) -> None:
    receiver = make_receiver(up=False)
    sender = start_sender(exporter_for(receiver, tmp_path), initial_backoff_s=5, max_backoff_s=5)
    enqueue(outbox, sender, [("traces", trace_request(1))])

    started = time.monotonic()
    flushed = sender.force_flush(timeout_millis=300)
    elapsed = time.monotonic() - started

    assert not flushed
    assert 0.3 <= elapsed < 1.5
    assert outbox.depth()[0] == 1


def test_shutdown_is_idempotent_and_keeps_undelivered_requests(
    make_receiver, tmp_path, outbox, start_sender
) -> None:
    receiver = make_receiver(up=False)
    sender = start_sender(exporter_for(receiver, tmp_path), initial_backoff_s=5, max_backoff_s=5)
    enqueue(outbox, sender, [("logs", logs_request(1))])
    wait_for(lambda: sender.counters()["retryable_failures"] >= 1)

    started = time.monotonic()
    sender.shutdown(timeout_millis=2000)
    sender.shutdown(timeout_millis=2000)

    assert time.monotonic() - started < 2
    assert not sender.force_flush(timeout_millis=100)
    assert [i.body for i in outbox.due(limit=10, now=time.time() + 60)] == [logs_request(1)]


@pytest.mark.parametrize("step_s", [-3600.0, 3600.0])
def test_a_wall_clock_step_while_a_request_waits_does_not_park_the_queue(receiver, tmp_path, step_s) -> None:
    """The head failed and waits for the receiver's Retry-After, the rest queued behind it; then the wall
    clock steps back an hour (the retry and enqueue times now lie an hour ahead: the audit's queue waited
    for the hour) or forward (everything is due). Either way delivery goes on, in order, within seconds."""
    clock = SteppedClock()
    outbox = Outbox(tmp_path / "otel" / "outbox.db", clock=clock)
    receiver.answer(Reply("unavailable", retry_after_s=30))
    sender = OutboxSender(outbox, exporter_for(receiver, tmp_path), clock=clock, poll_interval_s=0.2)
    try:
        enqueue(outbox, sender, [("traces", trace_request(1))])
        wait_for(lambda: sender.counters()["retryable_failures"] == 1)
        enqueue(outbox, sender, [("traces", trace_request(2)), ("logs", logs_request(3))])
        assert not sender.force_flush(timeout_millis=300)  # the head waits its 30 s, the rest behind it

        clock.offset = step_s
        assert sender.force_flush(timeout_millis=5000)
        assert by_signal(receiver.delivered()) == by_signal(  # each once, in order (the traces may go merged)
            [("traces", trace_request(1)), ("traces", trace_request(2)), ("logs", logs_request(3))]
        )
    finally:
        sender.shutdown(timeout_millis=5000)
        outbox.shutdown()


_SENDER_SCRIPT = """
import sys, time
from pathlib import Path
from hive_otel.client.export import OtlpHttpExporter, OutboxSender
from hive_otel.client.outbox import Outbox

# max_request_bytes=1: every request travels alone, so each answer acks one request.
OutboxSender(Outbox(Path(sys.argv[1])), OtlpHttpExporter(sys.argv[2]), max_request_bytes=1)
time.sleep(60)
"""


def test_a_sender_killed_mid_round_has_recorded_every_request_the_receiver_acknowledged(tmp_path) -> None:
    """The audit's repro: acks were written once per round of up to 64 requests, after the round, so a
    backfill killed every 3 s had the collector take 420 requests while its outbox recorded none. Here a
    sender in its own process delivers 40 requests (one round) to a receiver that answers each in 0.1 s,
    and is killed with SIGKILL once the receiver has answered a few: the outbox holds exactly the
    requests after those it recorded as acknowledged, and it recorded at least all but the one in flight."""
    receiver = HttpReceiver()
    db_path = tmp_path / "outbox.db"
    requests = [trace_request(n) for n in range(40)]
    box = Outbox(db_path)
    box.enqueue_many([("traces", body, 1) for body in requests])
    box.shutdown()
    receiver.answer(*[Reply("slow", delay_s=0.1)] * len(requests))
    child = subprocess.Popen(
        [sys.executable, "-c", _SENDER_SCRIPT, str(db_path), receiver.endpoint],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        wait_for(lambda: len(receiver.arrivals) >= 6, timeout_s=30)
        os.kill(child.pid, SIGKILL)
        child.wait(timeout=10)
        arrived = len(receiver.arrivals)  # each arrival after the first: the previous one was answered
    finally:
        if child.poll() is None:
            child.kill()
        receiver.down()

    box = Outbox(db_path)
    try:
        acked = box.counters()["acked"]
        assert arrived - 1 <= acked <= arrived
        assert arrived < len(requests)  # killed mid-round, or the test proves nothing
        assert [item.body for item in box.due(limit=100, now=time.time())] == requests[acked:]
        assert [body for _, body in receiver.delivered()[:acked]] == requests[:acked]
    finally:
        box.shutdown()


def test_partial_success_is_success_and_is_logged(receiver, tmp_path, caplog) -> None:
    receiver.answer(Reply("partial"))
    exporter = exporter_for(receiver, tmp_path)
    try:
        with caplog.at_level(logging.WARNING):
            result = exporter.export("traces", trace_request(1))
    finally:
        exporter.shutdown()

    assert result.status is ExportStatus.SUCCESS
    assert result.reason == f"partial success: 1 spans rejected: {PARTIAL_MESSAGE}"
    assert result.rejected_items == 1
    assert PARTIAL_MESSAGE in caplog.text


def test_items_a_partial_success_refused_are_counted_apart(receiver, tmp_path, outbox, start_sender) -> None:
    """They were counted as exported, with only a log line saying otherwise."""
    receiver.answer(Reply("partial"))  # each answer: 1 span rejected
    outbox.enqueue_many([("traces", trace_request(1), 1), ("traces", trace_request(2), 5)])
    sender = start_sender(exporter_for(receiver, tmp_path))
    assert sender.force_flush(timeout_millis=5000)
    counters = sender.counters()
    answers = len(receiver.arrivals)  # 1 when the sender merged the two requests, else 2
    assert (counters["exported_items"], counters["rejected_items"]) == (6 - answers, answers)


def test_unreachable_receiver_is_retryable(make_receiver, tmp_path) -> None:
    exporter = exporter_for(make_receiver(up=False), tmp_path)
    try:
        result = exporter.export("metrics", metrics_request(1))
    finally:
        exporter.shutdown()

    assert result.status is ExportStatus.RETRYABLE
    assert result.retry_after_s is None


def test_a_receiver_slower_than_the_timeout_is_retryable(receiver, tmp_path) -> None:
    receiver.answer(Reply("slow", delay_s=1.0))
    exporter = exporter_for(receiver, tmp_path, timeout_ms=200)
    try:
        started = time.monotonic()
        result = exporter.export("traces", trace_request(1))
        elapsed = time.monotonic() - started
    finally:
        exporter.shutdown()

    assert result.status is ExportStatus.RETRYABLE
    assert elapsed < 0.9


def test_unauthenticated_is_unauthorized_not_permanent(receiver, tmp_path) -> None:
    """A wrong token is the client's configuration, not the data's fault: the sender keeps the request."""
    receiver.answer(Reply("unauthenticated", message="bad token"))
    exporter = exporter_for(receiver, tmp_path)
    try:
        result = exporter.export("logs", logs_request(1))
    finally:
        exporter.shutdown()

    assert result.status is ExportStatus.UNAUTHORIZED
    assert "bad token" in result.reason


@pytest.mark.parametrize(
    ("kind", "status"),
    [("forbidden", ExportStatus.UNAUTHORIZED), ("too_large", ExportStatus.TOO_LARGE)],
)
def test_refusals_the_sender_treats_apart(receiver, tmp_path, kind: str, status: ExportStatus) -> None:
    """403 / PERMISSION_DENIED keep the data like 401; 413 / RESOURCE_EXHAUSTED "larger than max"
    without RetryInfo split the request (a RESOURCE_EXHAUSTED with RetryInfo stays retryable, below)."""
    receiver.answer(Reply(kind))
    exporter = exporter_for(receiver, tmp_path)
    try:
        result = exporter.export("traces", trace_request(1))
    finally:
        exporter.shutdown()

    assert result.status is status


def test_retry_delay_given_by_the_receiver_is_reported(receiver, tmp_path) -> None:
    receiver.answer(Reply("throttled", retry_after_s=7))
    exporter = exporter_for(receiver, tmp_path)
    try:
        result = exporter.export("traces", trace_request(1))
    finally:
        exporter.shutdown()

    assert result == ExportResult.retryable(result.reason, 7.0)


def test_export_after_shutdown_is_retryable_not_lost(receiver, tmp_path) -> None:
    exporter = exporter_for(receiver, tmp_path)
    exporter.shutdown()

    assert exporter.export("traces", trace_request(1)).status is ExportStatus.RETRYABLE
    assert receiver.arrivals == []


# ------------------------------------------------------------------------ protocol specifics


def test_http_sends_gzip_protobuf_to_the_signal_path(tmp_path) -> None:
    receiver = HttpReceiver()
    exporter = OtlpHttpExporter(receiver.endpoint, headers={"x-tenant": "t1"}, timeout_s=2)
    try:
        assert exporter.export("logs", logs_request(1)).status is ExportStatus.SUCCESS
        assert exporter.export("logs", logs_request(2)).status is ExportStatus.SUCCESS
    finally:
        exporter.shutdown()
        receiver.down()

    headers = receiver.arrivals[0].headers
    assert (headers["content-type"], headers["content-encoding"], headers["x-tenant"]) == (
        "application/x-protobuf",
        "gzip",
        "t1",
    )
    assert headers["user-agent"].startswith("hive-otel/")
    assert receiver.delivered() == [("logs", logs_request(1)), ("logs", logs_request(2))]
    assert receiver.arrivals[0].peer == receiver.arrivals[1].peer  # one kept-alive connection


def test_http_without_compression_sends_the_body_as_is() -> None:
    receiver = HttpReceiver()
    exporter = OtlpHttpExporter(receiver.endpoint, compression="none", timeout_s=2)
    try:
        assert exporter.export("traces", trace_request(3)).status is ExportStatus.SUCCESS
    finally:
        exporter.shutdown()
        receiver.down()

    assert "content-encoding" not in receiver.arrivals[0].headers
    assert receiver.delivered() == [("traces", trace_request(3))]


def test_http_retry_after_as_a_date() -> None:
    receiver = HttpReceiver()
    receiver.answer(Reply("unavailable", retry_after_s=30, http_date=True))
    exporter = OtlpHttpExporter(receiver.endpoint, timeout_s=2)
    try:
        result = exporter.export("traces", trace_request(1))
    finally:
        exporter.shutdown()
        receiver.down()

    assert result.status is ExportStatus.RETRYABLE
    assert result.retry_after_s == pytest.approx(30, abs=2)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("1.5", 1.5),
        ("-3", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
        ("1e308", 1e308),  # parsed as given; the sender caps what it waits (test_sender.py)
        ("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799.0 - 1445412480.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now=now) == expected


def test_create_exporter_picks_the_protocol_and_refuses_without_opt_in(tmp_path) -> None:
    def settings(**env: str) -> ClientSettings:
        return ClientSettings.from_env(env=env, hive_home=tmp_path)

    http = create_exporter(settings(HIVE_OTEL_ENDPOINT="http://127.0.0.1:9"))
    grpc_exporter = create_exporter(
        settings(HIVE_OTEL_ENDPOINT="http://127.0.0.1:9", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    )
    try:
        assert isinstance(http, OtlpHttpExporter)
        assert isinstance(grpc_exporter, OtlpGrpcExporter)
    finally:
        http.shutdown()
        grpc_exporter.shutdown()
    with pytest.raises(ValueError, match=ev.HIVE_OTEL_ENDPOINT):
        create_exporter(settings())
    with pytest.raises(ValueError, match=ev.OTEL_SDK_DISABLED):
        create_exporter(settings(HIVE_OTEL_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true"))
