"""The collector's OTLP receiver: gRPC and HTTP in one process, in front of the store.

``CollectorServer`` runs both listeners in background threads. It builds no other component: what
else its HTTP port serves (``mount``, an ASGI app for the paths under ``API_PATHS``) and who hears
of each acknowledged ingest (``listeners``) are arguments; :mod:`hive_otel.collector.service`
assembles it with the API, and ``hive-otel collector`` runs that in the foreground. The receiver
keeps no state of its own besides counters: every acknowledgement follows a finished store ingest,
so several collectors can share one ClickHouse server behind a load balancer.

Tenancy: with ``tokens`` (``--tokens FILE``) each request's bearer token decides its tenant, and a
request without a known token gets 401 / UNAUTHENTICATED with nothing stored; without it the
collector is single-tenant (``local``) and refuses to listen beyond loopback. Resources of the
previous ``hive.schema_version`` are upgraded before the store, newer ones refused.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import grpc
import uvicorn
from starlette.types import ASGIApp

from hive_otel.collector.config import (
    DEFAULT_GRPC_ENDPOINT,
    DEFAULT_HTTP_ENDPOINT,
    DEFAULT_MAX_BODY,
    HostPort,
    ReceiverConfig,
)
from hive_otel.collector.receiver.ingest import Ingestor, IngestResult, IngestStore
from hive_otel.collector.receiver.otlp_grpc import build_grpc_server
from hive_otel.collector.receiver.otlp_http import build_http_app
from hive_otel.collector.receiver.request_deadline import RequestDeadlineProtocol

__all__ = [
    "BoundPorts",
    "CollectorServer",
    "IngestListener",
    "IngestResult",
    "IngestStore",
]

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 10.0

IngestListener = Callable[[str, Any, str], None]
"""Called as ``listener(signal name, request, tenant)`` after each acknowledged ingest."""


class BoundPorts(NamedTuple):
    """The ports actually listened on (differs from the configured ones when those were 0)."""

    grpc: int
    http: int


def _listen_socket(endpoint: HostPort) -> socket.socket:
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    # create_server sets SO_REUSEADDR (fast restarts) but not SO_REUSEPORT: a second collector on
    # the same port fails here instead of sharing it.
    return socket.create_server((endpoint.host, endpoint.port), family=family, backlog=1024)


class CollectorServer:
    """OTLP/gRPC + OTLP/HTTP receiver writing to ``store``.

    ``start()`` binds and returns :class:`BoundPorts`; ``stop()`` lets in-flight requests finish
    (up to ``shutdown_grace_s``) and is safe to call twice. The store is not closed here: whoever
    opened it closes it after ``stop()``. ``mount`` answers the HTTP requests under ``API_PATHS``
    (404 without it); each of ``listeners`` is called after every acknowledged ingest. Extra keyword
    ``options`` are the remaining :class:`ReceiverConfig` fields (``tokens``, ``max_inflight_ingests``,
    ``busy_wait_s``, ...); without ``tokens`` both addresses must be loopback (:class:`SettingsError`
    otherwise).
    """

    def __init__(
        self,
        store: IngestStore,
        grpc_addr: str | HostPort = DEFAULT_GRPC_ENDPOINT,
        http_addr: str | HostPort = DEFAULT_HTTP_ENDPOINT,
        max_body: int = DEFAULT_MAX_BODY,
        *,
        mount: ASGIApp | None = None,
        listeners: Sequence[IngestListener] = (),
        **options: Any,
    ) -> None:
        config = ReceiverConfig.listening(grpc_addr, http_addr, max_body, **options)
        self._init(store, config, mount, listeners)

    @classmethod
    def from_config(
        cls,
        store: IngestStore,
        config: ReceiverConfig,
        *,
        mount: ASGIApp | None = None,
        listeners: Sequence[IngestListener] = (),
    ) -> CollectorServer:
        server = cls.__new__(cls)
        server._init(store, config, mount, listeners)
        return server

    def _init(
        self, store: IngestStore, config: ReceiverConfig, mount: ASGIApp | None, listeners: Sequence[IngestListener]
    ) -> None:
        self.config = config
        self._store = store
        self._ingestor = Ingestor(store, config)
        self._ingestor.listeners.extend(listeners)
        self._mount = mount
        self._grpc_server: grpc.Server | None = None
        self._http_server: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._ports: BoundPorts | None = None
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> BoundPorts:
        """Bind both listeners and start serving; raises ``OSError`` if a port is taken."""
        with self._lock:
            if self._ports is not None:
                return self._ports
            http_socket = _listen_socket(self.config.http_endpoint)
            try:
                grpc_server = build_grpc_server(self._ingestor, self.config)
                try:
                    grpc_port = grpc_server.add_insecure_port(str(self.config.grpc_endpoint))
                except RuntimeError as exc:
                    raise OSError(f"cannot listen for OTLP/gRPC on {self.config.grpc_endpoint}: {exc}") from exc
                grpc_server.start()
                self._grpc_server = grpc_server
                self._start_http(http_socket)
            except BaseException:
                http_socket.close()
                self._stop_listeners(grace_s=0)
                raise
            self._ports = BoundPorts(grpc=grpc_port, http=http_socket.getsockname()[1])
            # Readers of an embedded store (hive-otel usage/sql/status) ask us instead of opening it.
            self._store.set_owner_url(self.http_url)
            logger.info("OTLP receiver listening: gRPC %s, HTTP %s", self.grpc_target, self.http_url)
            return self._ports

    def _start_http(self, sock: socket.socket) -> None:
        config = uvicorn.Config(
            build_http_app(self._store, self._ingestor, self.config, self._mount),
            http=functools.partial(  # type: ignore[arg-type]  # uvicorn calls it as the protocol class
                RequestDeadlineProtocol,
                timeout_s=self.config.request_timeout_s,
                on_timeout=self._ingestor.request_timed_out,
            ),
            lifespan="off",
            log_config=None,  # leave logging to the application
            access_log=False,
            proxy_headers=False,  # the loopback check on /hive/v1/query must see the real peer
            server_header=False,
            timeout_graceful_shutdown=max(1, round(self.config.shutdown_grace_s)),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="otlp-http", daemon=True)
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise OSError(f"OTLP/HTTP server failed to start on {self.config.http_endpoint}")
            time.sleep(0.01)
        self._http_server, self._http_thread = server, thread

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, then return. Idempotent."""
        with self._lock:
            if self._ports is not None:
                self._store.set_owner_url(None)  # readers stop asking us before the listener goes away
            self._stop_listeners(self.config.shutdown_grace_s)
            self._ports = None

    def _stop_listeners(self, grace_s: float) -> None:
        grpc_stopped = self._grpc_server.stop(grace_s) if self._grpc_server is not None else None
        if self._http_server is not None and self._http_thread is not None:
            self._http_server.should_exit = True
            self._http_thread.join(grace_s + 2.0)
        if grpc_stopped is not None:
            grpc_stopped.wait(grace_s + 2.0)
        self._grpc_server = self._http_server = self._http_thread = None

    def __enter__(self) -> CollectorServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- addresses and counters ----------------------------------------------------------------

    @property
    def ports(self) -> BoundPorts:
        if self._ports is None:
            raise RuntimeError("the collector is not running; call start() first")
        return self._ports

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP listener, usable from this machine (a wildcard bind maps to loopback)."""
        return f"http://{_local_host(self.config.http_endpoint.host)}:{self.ports.http}"

    @property
    def grpc_target(self) -> str:
        """``host:port`` of the gRPC listener, usable from this machine."""
        return f"{_local_host(self.config.grpc_endpoint.host)}:{self.ports.grpc}"

    def counters(self) -> dict[str, dict[str, int]]:
        """Requests, accepted/rejected items per signal, bad requests by reason, busy/unavailable."""
        return self._ingestor.counters.snapshot()


def _local_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
