"""Real loopback OTLP receivers (HTTP and gRPC) that record what arrives and answer as scripted.

Both speak the real wire protocol on 127.0.0.1 and can be taken down and brought back up on the
same port, so a test can play "receiver down, then up" against a real exporter.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status

from hive_otel.client.export._grpc import EXPORT_METHODS
from hive_otel.client.export._otlp_responses import RESPONSE_TYPES

PARTIAL_MESSAGE = "span name too long"


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request.

    kind: ok | partial | unavailable (HTTP 503 / gRPC UNAVAILABLE) | throttled (429 /
    RESOURCE_EXHAUSTED) | bad_request (400 / INVALID_ARGUMENT) | unauthenticated (401 /
    UNAUTHENTICATED) | forbidden (403 / PERMISSION_DENIED) | too_large (413 / RESOURCE_EXHAUSTED
    "Received message larger than max") | slow (answers ok after ``delay_s``).
    ``retry_after`` (HTTP only) is sent as the ``Retry-After`` header verbatim, garbage included.
    """

    kind: str = "ok"
    retry_after_s: float | None = None
    retry_after: str | None = None
    message: str = ""
    http_date: bool = False  # send Retry-After as an HTTP date instead of seconds
    delay_s: float = 0.0


@dataclass(frozen=True)
class Arrival:
    signal: str
    body: bytes  # decompressed
    headers: dict[str, str]  # lower-case keys
    at: float  # time.monotonic() on arrival
    reply: Reply
    peer: str = ""  # the client's address and port: one peer for many requests means keep-alive


@dataclass
class _Script:
    replies: deque[Reply] = field(default_factory=deque)
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, signal: str, body: bytes, headers: dict[str, str], peer: str) -> Reply:
        with self.lock:
            reply = self.replies.popleft() if self.replies else Reply()
            self.arrivals.append(Arrival(signal, body, headers, time.monotonic(), reply, peer))
        return reply


class Receiver:
    """What the tests use; one subclass per protocol."""

    protocol: str
    port: int

    def __init__(self) -> None:
        self._script = _Script()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, *replies: Reply) -> None:
        """Queue the next replies; once they are used up the receiver answers ok."""
        with self._script.lock:
            self._script.replies.extend(replies)

    @property
    def arrivals(self) -> list[Arrival]:
        with self._script.lock:
            return list(self._script.arrivals)

    def delivered(self) -> list[tuple[str, bytes]]:
        """(signal, body) of every request that was answered with success, in arrival order."""
        return [(a.signal, a.body) for a in self.arrivals if a.reply.kind in ("ok", "partial", "slow")]

    def up(self) -> None:
        raise NotImplementedError

    def down(self) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------- HTTP


class _OtlpHttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real collector
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        self.server.open_connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            payload = gzip.decompress(payload)
        signal = self.path.rsplit("/", 1)[-1]
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.script.record(signal, payload, headers, f"{self.client_address}")
        if reply.kind == "slow":
            time.sleep(reply.delay_s)
        status, extra_headers, body = _http_answer(signal, reply)
        self.send_response(status)
        for key, value in extra_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _http_answer(signal: str, reply: Reply) -> tuple[int, dict[str, str], bytes]:
    protobuf = {"Content-Type": "application/x-protobuf"}
    if reply.kind in ("ok", "slow"):
        return 200, protobuf, RESPONSE_TYPES[signal]().SerializeToString()  # type: ignore[index]
    if reply.kind == "partial":
        return 200, protobuf, _partial_response(signal)
    if reply.kind in ("unavailable", "throttled"):
        headers = {}
        if reply.retry_after is not None:
            headers["Retry-After"] = reply.retry_after
        elif reply.retry_after_s is not None:
            headers["Retry-After"] = (
                formatdate(time.time() + reply.retry_after_s, usegmt=True)
                if reply.http_date
                else str(int(reply.retry_after_s))
            )
        return (503 if reply.kind == "unavailable" else 429), headers, b""
    status = {"bad_request": 400, "unauthenticated": 401, "forbidden": 403, "too_large": 413}[reply.kind]
    return status, protobuf, Status(code=3, message=reply.message).SerializeToString()


def _partial_response(signal: str) -> bytes:
    response = RESPONSE_TYPES[signal]()  # type: ignore[index]
    rejected_field = {"traces": "rejected_spans", "metrics": "rejected_data_points", "logs": "rejected_log_records"}
    setattr(response.partial_success, rejected_field[signal], 1)
    response.partial_success.error_message = PARTIAL_MESSAGE
    return response.SerializeToString()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, script: _Script) -> None:
        # Bound but not yet listening: connections are refused, and the port stays ours.
        super().__init__(("127.0.0.1", port), _OtlpHttpHandler, bind_and_activate=False)
        self.script = script
        self.open_connections: set[socket.socket] = set()
        self.server_bind()

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (its timeout) closes the socket under the answer; that is expected.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class HttpReceiver(Receiver):
    protocol = "http/protobuf"

    def __init__(self, *, up: bool = True) -> None:
        super().__init__()
        self._server: _HttpServer | None = _HttpServer(0, self._script)
        self.port = self._server.server_address[1]
        self._serving = False
        if up:
            self.up()

    def up(self) -> None:
        if self._server is None:
            self._server = _HttpServer(self.port, self._script)
        self._server.server_activate()
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._serving = True

    def down(self) -> None:
        if self._server is None:
            return
        if self._serving:
            self._server.shutdown()
        # Cut kept-alive connections too, or the client would keep talking to a "down" receiver.
        for connection in list(self._server.open_connections):
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._server = None
        self._serving = False


# ---------------------------------------------------------------------------------------- gRPC

_GRPC_CODES = {
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "throttled": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "bad_request": grpc.StatusCode.INVALID_ARGUMENT,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "too_large": grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_GRPC_MESSAGES = {"too_large": "Received message larger than max (5242880 vs. 4194304)"}


class GrpcReceiver(Receiver):
    protocol = "grpc"

    def __init__(self, *, up: bool = True) -> None:
        super().__init__()
        self._server: grpc.Server | None = None
        if up:
            self.port = 0
            self.up()
        else:
            # Let gRPC pick a free port, then release it: the receiver is down until up().
            probe = grpc.server(ThreadPoolExecutor(max_workers=1))
            self.port = probe.add_insecure_port("127.0.0.1:0")
            probe.stop(None)

    def up(self) -> None:
        server = grpc.server(ThreadPoolExecutor(max_workers=4))
        for signal, method in EXPORT_METHODS.items():
            service, _, name = method.strip("/").partition("/")
            handler = grpc.unary_unary_rpc_method_handler(
                self._handler(signal), request_deserializer=None, response_serializer=None
            )
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {name: handler}),))
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        self._server = server

    def down(self) -> None:
        if self._server is not None:
            self._server.stop(None).wait()
            self._server = None

    def _handler(self, signal: str):
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            headers = {key.lower(): value for key, value in context.invocation_metadata()}
            reply = self._script.record(signal, request, headers, context.peer())  # type: ignore[arg-type]
            if reply.kind == "slow":
                time.sleep(reply.delay_s)
            if reply.kind in ("ok", "slow"):
                return RESPONSE_TYPES[signal]().SerializeToString()  # type: ignore[index]
            if reply.kind == "partial":
                return _partial_response(signal)
            code = _GRPC_CODES[reply.kind]
            message = reply.message or _GRPC_MESSAGES.get(reply.kind, code.name)
            status = Status(code=code.value[0], message=message)
            if reply.retry_after_s is not None:
                detail = AnyProto()
                delay = Duration()
                delay.FromNanoseconds(int(reply.retry_after_s * 1e9))
                detail.Pack(RetryInfo(retry_delay=delay))
                status.details.append(detail)
            context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(code, message)
            raise AssertionError("unreachable: abort raises")

        return handle


RECEIVERS: dict[str, type[Receiver]] = {"http/protobuf": HttpReceiver, "grpc": GrpcReceiver}
