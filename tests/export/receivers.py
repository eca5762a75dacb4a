"""Real loopback OTLP receivers (HTTP and gRPC) that record what arrives and answer as scripted.

Both speak the real wire protocol on 127.0.0.1 and can be taken down and brought back up on the
same port, so a test can play "receiver down, then up" against a real exporter. Given a
:class:`ServerTls`, both listen with TLS (``https://`` endpoints), mutual TLS when it names a client CA.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


@dataclass(frozen=True)
class ServerTls:
    """A receiver's TLS: its certificate chain and key (PEM files) and, for mutual TLS, the CA (PEM file) that
    client certificates must chain to: without a client certificate the handshake fails."""

    cert_chain_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_chain_file, self.key_file)
        if self.client_ca_file is not None:
            context.load_verify_locations(self.client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def grpc_credentials(self) -> grpc.ServerCredentials:
        client_ca = self.client_ca_file.read_bytes() if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [(self.key_file.read_bytes(), self.cert_chain_file.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )


class Receiver:
    """What the tests use; one subclass per protocol."""

    protocol: str
    port: int

    def __init__(self, tls: ServerTls | None = None) -> None:
        self._script = _Script()
        self.tls = tls

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

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
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in the connection's thread: a failing client cannot stall accept()
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

    def do_GET(self) -> None:
        """The quota API's decisions, which the collector serves on its OTLP/HTTP port: no budgets."""
        if not self.path.endswith("/decisions"):
            self.send_error(404)
            return
        body = json.dumps({"tenant": "local", "budgets": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
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

    def __init__(self, port: int, script: _Script, tls: ssl.SSLContext | None = None) -> None:
        # Bound but not yet listening: connections are refused, and the port stays ours.
        super().__init__(("127.0.0.1", port), _OtlpHttpHandler, bind_and_activate=False)
        self.script = script
        self.tls = tls
        self.open_connections: set[socket.socket] = set()
        self.server_bind()

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        if self.tls is not None:
            connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (its timeout) closes the socket under the answer, and one the TLS handshake
        # refuses fails it: both are expected.
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class HttpReceiver(Receiver):
    protocol = "http/protobuf"

    def __init__(self, *, up: bool = True, tls: ServerTls | None = None) -> None:
        super().__init__(tls)
        self._server: _HttpServer | None = _HttpServer(0, self._script, self._ssl_context())
        self.port = self._server.server_address[1]
        self._serving = False
        if up:
            self.up()

    def _ssl_context(self) -> ssl.SSLContext | None:
        return self.tls.ssl_context() if self.tls else None

    def up(self) -> None:
        if self._server is None:
            self._server = _HttpServer(self.port, self._script, self._ssl_context())
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

    def __init__(self, *, up: bool = True, tls: ServerTls | None = None) -> None:
        super().__init__(tls)
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
        address = f"127.0.0.1:{self.port}"
        if self.tls is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, self.tls.grpc_credentials())
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
