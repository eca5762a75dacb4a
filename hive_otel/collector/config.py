"""Settings of the collector's OTLP receiver: defaults in one place, checked before anything starts.

Precedence: explicit argument (a CLI flag), then the environment, then the defaults below. Every
error names the flag or variable at fault, so a typo stops the collector instead of being ignored.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from hive_otel import environment_variables as ev
from hive_otel.collector.auth.loopback import is_loopback_bind
from hive_otel.collector.auth.tokens import TokenTable
from hive_otel.settings import SettingsError

__all__ = [
    "DEFAULT_GRPC_ENDPOINT",
    "DEFAULT_HTTP_ENDPOINT",
    "DEFAULT_MAX_BODY",
    "TENANT_HEADER",
    "HostPort",
    "ReceiverConfig",
    "load_tokens",
    "parse_host_port",
]

DEFAULT_MAX_BODY = 16 * 1024 * 1024
"""Largest request accepted, in bytes, both as sent and after decompression (gzip or deflate)."""

DEFAULT_MAX_INFLIGHT_INGESTS = 8
"""Store writes running at once; more requests wait up to ``busy_wait_s`` for a slot."""

DEFAULT_BUSY_WAIT_S = 2.0
"""How long a request waits for an ingest slot before it is turned away with 429 / RESOURCE_EXHAUSTED."""

DEFAULT_RETRY_AFTER_S = 1
"""Seconds sent in ``Retry-After`` (HTTP) and ``RetryInfo`` (gRPC) when the store is busy or down."""

DEFAULT_GRPC_WORKERS = 16
"""Threads serving gRPC calls."""

DEFAULT_SHUTDOWN_GRACE_S = 5.0
"""How long ``stop()`` lets in-flight requests finish before cutting them off."""

DEFAULT_REQUEST_TIMEOUT_S = 30.0
"""How long an OTLP/HTTP client may take to send one whole request, from its connection or its
previous response, before the connection is closed (slow clients; see receiver/request_deadline.py).
Three times what OpenTelemetry's exporters wait for an answer by default (10 s)."""

DEFAULT_GRPC_MAX_CONNECTION_AGE_S = 300.0
"""How long an OTLP/gRPC connection lives before the server sends GOAWAY (calls in flight then get
``request_timeout_s`` to finish): neither an idle connection nor a call whose message never arrives
holds a socket for longer. Clients reconnect on their next export, as behind any gRPC load balancer."""

TENANT_HEADER = "x-hive-tenant-id"
"""Request header (HTTP) / metadata key (gRPC) naming the tenant on a collector without a tokens
file, which only local clients can reach (a label, not an identity). Ignored with ``--tokens``:
there the token alone decides the tenant."""


class HostPort(NamedTuple):
    """A listen address; port 0 asks the OS for a free port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


DEFAULT_GRPC_ENDPOINT = HostPort("127.0.0.1", 4317)
"""OTLP/gRPC listen address; loopback unless the operator opens it up."""

DEFAULT_HTTP_ENDPOINT = HostPort("127.0.0.1", 4318)
"""OTLP/HTTP listen address (also serves ``/healthz`` and ``/hive/v1/query``)."""


def parse_host_port(raw: str, name: str) -> HostPort:
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6); ``name`` is the flag named in errors."""
    text = raw.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise SettingsError(f"{name}: expected [IPV6]:PORT, got {raw!r}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SettingsError(f"{name}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise SettingsError(f"{name}: expected HOST:PORT such as 127.0.0.1:4318, got {raw!r}")
        if ":" in host:
            raise SettingsError(f"{name}: write IPv6 addresses in brackets, e.g. [::1]:4318, got {raw!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise SettingsError(f"{name}: port must be an integer, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{name}: port must be between 0 and 65535, got {port}")
    return HostPort(host, port)





def load_tokens(tokens: str | Path | None, env: Mapping[str, str] | None = None) -> TokenTable | None:
    """The tokens file ``--tokens`` names, else ``HIVE_OTEL_COLLECTOR_TOKENS``; None when neither does.
    Raises :class:`SettingsError` naming whichever of the two gave a bad file."""
    env = os.environ if env is None else env
    path = tokens or env.get(ev.HIVE_OTEL_COLLECTOR_TOKENS, "").strip() or None
    flag = "--tokens" if tokens else f"${ev.HIVE_OTEL_COLLECTOR_TOKENS}"
    return TokenTable.load(path, flag) if path else None


@dataclass(frozen=True)
class ReceiverConfig:
    """Everything the OTLP receiver needs; construct it through :meth:`from_env` or directly."""

    grpc_endpoint: HostPort = DEFAULT_GRPC_ENDPOINT
    http_endpoint: HostPort = DEFAULT_HTTP_ENDPOINT
    max_body: int = DEFAULT_MAX_BODY
    max_inflight_ingests: int = DEFAULT_MAX_INFLIGHT_INGESTS
    busy_wait_s: float = DEFAULT_BUSY_WAIT_S
    retry_after_s: int = DEFAULT_RETRY_AFTER_S
    grpc_workers: int = DEFAULT_GRPC_WORKERS
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    grpc_max_connection_age_s: float = DEFAULT_GRPC_MAX_CONNECTION_AGE_S
    tokens: TokenTable | None = None
    """Bearer tokens → tenants (``--tokens``). None: single-tenant and loopback-only."""

    def __post_init__(self) -> None:
        for name in ("max_body", "max_inflight_ingests", "retry_after_s", "grpc_workers", "request_timeout_s",
                     "grpc_max_connection_age_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name}: must be positive, got {getattr(self, name)}")
        for name in ("busy_wait_s", "shutdown_grace_s"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name}: must not be negative, got {getattr(self, name)}")
        if self.grpc_workers < self.max_inflight_ingests:
            # Otherwise gRPC callers queue in the thread pool, unseen by the busy check.
            raise SettingsError(
                f"grpc_workers ({self.grpc_workers}) must be at least max_inflight_ingests ({self.max_inflight_ingests})"
            )
        if self.tokens is None:
            # Without tokens nobody is authenticated, so nobody but this machine may connect.
            for flag, endpoint in (("--grpc", self.grpc_endpoint), ("--http", self.http_endpoint)):
                if not is_loopback_bind(endpoint.host):
                    raise SettingsError(
                        f"{flag} {endpoint}: without --tokens FILE (${ev.HIVE_OTEL_COLLECTOR_TOKENS}) the collector "
                        "is single-tenant and listens on loopback only (127.0.0.1, [::1] or localhost); give it a "
                        "tokens file (see `hive-otel tokens add`) to accept other machines"
                    )

    @classmethod
    def listening(
        cls, grpc: str | HostPort, http: str | HostPort, max_body: int = DEFAULT_MAX_BODY, **options: Any
    ) -> ReceiverConfig:
        """The config for these addresses (``HOST:PORT`` text or parsed), the other fields as ``options``."""
        return cls(
            grpc_endpoint=grpc if isinstance(grpc, HostPort) else parse_host_port(grpc, "--grpc"),
            http_endpoint=http if isinstance(http, HostPort) else parse_host_port(http, "--http"),
            max_body=max_body,
            **options,
        )

    @classmethod
    def from_env(
        cls,
        env: dict[str, str] | None = None,
        *,
        grpc: str | None = None,
        http: str | None = None,
        max_body: int | None = None,
        tokens: str | Path | None = None,
    ) -> ReceiverConfig:
        """Resolve flags over ``HIVE_OTEL_COLLECTOR_MAX_BODY`` / ``HIVE_OTEL_COLLECTOR_TOKENS`` over defaults."""
        env = os.environ if env is None else env
        table = load_tokens(tokens, env)
        if max_body is None:
            raw = env.get(ev.HIVE_OTEL_COLLECTOR_MAX_BODY, "").strip()
            try:
                max_body = int(raw) if raw else DEFAULT_MAX_BODY
            except ValueError:
                raise SettingsError(f"{ev.HIVE_OTEL_COLLECTOR_MAX_BODY}: expected a size in bytes, got {raw!r}") from None
            if max_body <= 0:
                raise SettingsError(f"{ev.HIVE_OTEL_COLLECTOR_MAX_BODY}: must be positive, got {max_body}")
        elif max_body <= 0:
            raise SettingsError(f"--max-body: must be positive, got {max_body}")
        return cls.listening(grpc or DEFAULT_GRPC_ENDPOINT, http or DEFAULT_HTTP_ENDPOINT, max_body, tokens=table)
