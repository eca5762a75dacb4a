"""The collector's OTLP receiver: gRPC and HTTP in one process, in front of the store.

``CollectorServer`` runs both listeners in background threads so tests and the demo can start it
in-process; ``hive-otel collector`` (registered by :func:`add_collector_command`) runs it in the
foreground until SIGTERM or SIGINT. The receiver keeps no state of its own besides counters: every
acknowledgement follows a finished store ingest, so several collectors can share one ClickHouse
server behind a load balancer.

Tenancy: with ``tokens`` (``--tokens FILE``) each request's bearer token decides its tenant, and a
request without a known token gets 401 / UNAUTHENTICATED with nothing stored; without it the
collector is single-tenant (``local``) and refuses to listen beyond loopback. Resources of the
previous ``hive.schema_version`` are upgraded before the store, newer ones refused.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any, NamedTuple

import grpc
import uvicorn

from hive_otel import environment_variables as ev
from hive_otel.collector.auth.tokens import add_tokens_command
from hive_otel.collector.config import (
    DEFAULT_GRPC_ENDPOINT,
    DEFAULT_HTTP_ENDPOINT,
    DEFAULT_MAX_BODY,
    HostPort,
    ReceiverConfig,
    parse_host_port,
)
from hive_otel.collector.receiver.ingest import Ingestor, IngestResult, IngestStore
from hive_otel.collector.receiver.otlp_grpc import build_grpc_server
from hive_otel.collector.receiver.otlp_http import build_http_app
from hive_otel.settings import SettingsError

__all__ = [
    "BoundPorts",
    "CollectorServer",
    "IngestResult",
    "IngestStore",
    "add_collector_command",
    "run_collector",
]

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 10.0


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
    opened it closes it after ``stop()``. Extra keyword ``options`` are the remaining
    :class:`ReceiverConfig` fields (``tokens``, ``max_inflight_ingests``, ``busy_wait_s``, ...);
    without ``tokens`` both addresses must be loopback (:class:`SettingsError` otherwise).
    """

    def __init__(
        self,
        store: IngestStore,
        grpc_addr: str | HostPort = DEFAULT_GRPC_ENDPOINT,
        http_addr: str | HostPort = DEFAULT_HTTP_ENDPOINT,
        max_body: int = DEFAULT_MAX_BODY,
        **options: Any,
    ) -> None:
        config = ReceiverConfig(
            grpc_endpoint=grpc_addr if isinstance(grpc_addr, HostPort) else parse_host_port(grpc_addr, "--grpc"),
            http_endpoint=http_addr if isinstance(http_addr, HostPort) else parse_host_port(http_addr, "--http"),
            max_body=max_body,
            **options,
        )
        self._init(store, config)

    @classmethod
    def from_config(cls, store: IngestStore, config: ReceiverConfig) -> CollectorServer:
        server = cls.__new__(cls)
        server._init(store, config)
        return server

    def _init(self, store: IngestStore, config: ReceiverConfig) -> None:
        self.config = config
        self._store = store
        self._ingestor = Ingestor(store, config)
        # The status and usage API (seed §6) on the HTTP port: one process owns an embedded store.
        from hive_otel.collector.api.service import ApiService

        self.api = ApiService(store, self._ingestor.auth)
        self._ingestor.listeners.append(self.api.on_ingest)
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
            self.api.start()
            # Readers of an embedded store (hive-otel usage/sql/status) ask us instead of opening it.
            self._store.set_owner_url(self.http_url)
            logger.info("OTLP receiver listening: gRPC %s, HTTP %s", self.grpc_target, self.http_url)
            return self._ports

    def _start_http(self, sock: socket.socket) -> None:
        config = uvicorn.Config(
            build_http_app(self._store, self._ingestor, self.config, self.api.app),
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
            self.api.stop()
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


# --- the `hive-otel collector` command --------------------------------------------------------

# The same codes as the other cloud-side commands (hive_otel.cli.collector), plus 1 for a taken port.
EXIT_OK = 0
EXIT_PORT_TAKEN = 1
EXIT_USAGE = 2  # a flag or environment variable is invalid
EXIT_STORE = 3  # the store cannot be opened, or another process owns the embedded store


def add_collector_command(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hive-otel collector``, and ``hive-otel tokens`` that makes its tokens file."""
    add_tokens_command(sub)
    parser = sub.add_parser(
        "collector",
        help="receive OTLP (gRPC and HTTP) and write it to the store",
        description=(
            "Run the OTLP receiver in the foreground until SIGTERM or SIGINT. Requests are acknowledged "
            "only after the store has ingested them. Without --tokens the collector is single-tenant "
            "('local') and listens on loopback only. Exit codes: 0 after a clean shutdown, 1 when a port "
            "is taken, 2 for invalid settings, 3 when the store cannot be opened or another process owns "
            "the embedded store."
        ),
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"chdb:///path or http(s)://user:pass@host:8123/db (default: ${ev.HIVE_CLICKHOUSE_URL}, "
        "else chdb://$HIVE_HOME/otel/clickhouse)",
    )
    parser.add_argument(
        "--grpc", metavar="HOST:PORT", help=f"OTLP/gRPC listen address (default: {DEFAULT_GRPC_ENDPOINT}; port 0 = any)"
    )
    parser.add_argument(
        "--http", metavar="HOST:PORT", help=f"OTLP/HTTP listen address (default: {DEFAULT_HTTP_ENDPOINT}; port 0 = any)"
    )
    parser.add_argument(
        "--max-body",
        metavar="BYTES",
        type=int,
        help=f"largest request accepted, before and after gzip (default: ${ev.HIVE_OTEL_COLLECTOR_MAX_BODY}, "
        f"else {DEFAULT_MAX_BODY})",
    )
    parser.add_argument(
        "--tokens",
        metavar="FILE",
        help="YAML/JSON file of bearer-token SHA-256 hashes and their tenants; every request then needs a "
        f"listed token, and its tenant overwrites the payload's (default: ${ev.HIVE_OTEL_COLLECTOR_TOKENS}, else "
        "none: single-tenant, loopback only). "
        "Make it with `hive-otel tokens add`",
    )
    parser.set_defaults(func=run_collector)
    return parser


def run_collector(args: argparse.Namespace) -> int:
    """Open the store, serve until SIGTERM/SIGINT, shut down gracefully; returns the exit code."""
    from hive_otel.collector.store.store import StoreError, open_store

    try:
        config = ReceiverConfig.from_env(grpc=args.grpc, http=args.http, max_body=args.max_body, tokens=args.tokens)
    except SettingsError as exc:
        print(f"hive-otel collector: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        store = open_store(args.store)
    except StoreError as exc:  # StoreLockedError included: another process owns the chDB path
        print(f"hive-otel collector: {exc}", file=sys.stderr)
        return EXIT_STORE
    stop_requested = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop_requested.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = CollectorServer.from_config(store, config)
        try:
            server.start()
        except OSError as exc:
            print(f"hive-otel collector: {exc}", file=sys.stderr)
            return EXIT_PORT_TAKEN
        try:
            tenancy = (
                f"{len(config.tokens)} token(s), tenant from the token" if config.tokens else "single-tenant, no tokens"
            )
            print(
                f"hive-otel collector: OTLP/gRPC on {server.grpc_target}, OTLP/HTTP on {server.http_url} "
                f"({tenancy}; pid {os.getpid()})",
                flush=True,
            )
            while not stop_requested.wait(0.5):
                pass  # a timed wait keeps the main thread responsive to signals
            print("hive-otel collector: shutting down", file=sys.stderr, flush=True)
        finally:
            server.stop()
        return EXIT_OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.close()
