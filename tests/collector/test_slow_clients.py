"""Slow clients (slowloris) against the collector's ports: each request must arrive whole in time.

A real collector on 127.0.0.1 and a real chDB store, with the request deadline cut to a fraction
of a second; the clients are raw sockets that send nothing, or send a request a few bytes at a
time, as an attacker holding the collector's sockets would. Without the deadline (uvicorn alone)
every one of these HTTP connections stays open for as long as the client likes; over gRPC, a
connection past its handshake did, until connections got a maximum age.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

DEADLINE_S = 0.5
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def collector(store: Store) -> Iterator[Collector]:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1, request_timeout_s=DEADLINE_S) as server:
        yield server


def _body(tenant: str, calls: int = 2) -> bytes:
    session = Session(f"{tenant}-s", f"{tenant}-s")
    llm = [LlmCall(f"{tenant}:n:{i}", input_tokens=100 + i) for i in range(calls)]
    return traces_request([SessionBatch(session, [c.span() for c in llm])]).SerializeToString()


def _connect(collector: Collector) -> socket.socket:
    return socket.create_connection(("127.0.0.1", collector.ports.http), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (whatever it sent before closing)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def _trickle(sock: socket.socket, data: bytes, seconds: float) -> bool:
    """Send ``data`` a few bytes at a time, spread over ``seconds``; False once the server has closed."""
    step = max(1, len(data) // 20)
    for start in range(0, len(data), step):
        try:
            sock.sendall(data[start : start + step])
        except (BrokenPipeError, ConnectionResetError):
            return False
        time.sleep(seconds / 20)
    return True


def _timeouts(collector: Collector) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=10)
    try:
        connection.request("GET", "/healthz")
        counters = json.loads(connection.getresponse().read())["counters"]
    finally:
        connection.close()
    return int(counters["bad_requests"].get("request_timeout", 0))


def test_a_connection_that_sends_nothing_is_closed_counted_and_logged(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    before = _timeouts(collector)
    with _connect(collector) as sock:
        assert _closed_within(sock, DEADLINE_S * 10)
    assert _timeouts(collector) == before + 1
    assert "no whole request within" in caplog.text


def test_headers_sent_a_byte_at_a_time_do_not_hold_the_connection(collector: Collector) -> None:
    # Each byte would reset uvicorn's own keep-alive timer; the deadline counts from the connection.
    headers = b"POST /v1/traces HTTP/1.1\r\nHost: collector\r\nContent-Type: application/x-protobuf\r\n" * 3
    with _connect(collector) as sock:
        assert not _trickle(sock, headers, DEADLINE_S * 8) or _closed_within(sock, DEADLINE_S * 4)


def test_a_body_sent_too_slowly_is_cut_off_and_nothing_is_stored(
    collector: Collector, store: Store, tenant: str
) -> None:
    body = _body(tenant)
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: collector\r\nContent-Type: application/x-protobuf\r\n"
        f"x-hive-tenant-id: {tenant}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(collector) as sock:
        sock.sendall(head)
        assert not _trickle(sock, body, DEADLINE_S * 8) or _closed_within(sock, DEADLINE_S * 4)
    assert usage(store, ["model"], tenant=tenant).totals["llm_calls"] == 0


def test_many_idle_connections_do_not_keep_others_out(collector: Collector, tenant: str) -> None:
    idle = [_connect(collector) for _ in range(200)]
    try:
        connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=10)
        connection.request("POST", "/v1/traces", body=_body(tenant), headers={**PROTOBUF, "x-hive-tenant-id": tenant})
        assert connection.getresponse().status == 200
        connection.close()
        assert all(_closed_within(sock, DEADLINE_S * 10) for sock in idle)
    finally:
        for sock in idle:
            sock.close()


class _SlowStore:
    """The real store, answering each ingest a second late (the store behind a long group commit).
    A stand-in for a slow ClickHouse, which cannot be made slow on demand here."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def ingest_traces(self, *args: object, **kwargs: object) -> object:
        time.sleep(DEADLINE_S * 2)
        return self._store.ingest_traces(*args, **kwargs)  # type: ignore[arg-type]


def test_a_request_received_in_time_is_answered_however_long_the_store_takes(store: Store, tenant: str) -> None:
    slow = _SlowStore(store)
    with Collector(slow, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1, request_timeout_s=DEADLINE_S) as server:  # type: ignore[arg-type]
        connection = http.client.HTTPConnection("127.0.0.1", server.ports.http, timeout=10)
        for n in range(2):  # twice on one keep-alive connection: the next request gets a new deadline
            connection.request(
                "POST", "/v1/traces", body=_body(f"{tenant}-{n}"), headers={**PROTOBUF, "x-hive-tenant-id": tenant}
            )
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()
        connection.close()
    assert usage(store, ["model"], tenant=tenant).totals["llm_calls"] == 4


# An HTTP/2 client's connection preface, an empty SETTINGS frame and the ACK of the server's: a
# connection past gRPC's handshake, which then sends nothing.
_HTTP2_IDLE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000") + bytes.fromhex("000000040100000000")


def test_a_grpc_connection_lives_no_longer_than_its_maximum_age(store: Store, tenant: str) -> None:
    options = {"shutdown_grace_s": 1, "request_timeout_s": DEADLINE_S, "grpc_max_connection_age_s": 1.0}
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", **options) as server:
        with socket.create_connection(("127.0.0.1", server.ports.grpc), timeout=10) as idle:
            idle.sendall(_HTTP2_IDLE)
            assert _closed_within(idle, 10)
        # A real exporter sees none of it: its channel reconnects across the ages, every export lands.
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            for n in range(8):
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(_body(f"{tenant}-{n}", calls=1))
                stub.Export(request, metadata=[("x-hive-tenant-id", tenant)], timeout=10)
                time.sleep(0.4)
    assert usage(store, ["model"], tenant=tenant).totals["llm_calls"] == 8
