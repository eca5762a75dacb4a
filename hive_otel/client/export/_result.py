"""What an export attempt returns: exporters report outcomes as values and never raise."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import ParseResult, urlparse

from hive_otel.client.outbox import Signal


class ExportStatus(enum.Enum):
    SUCCESS = "success"
    RETRYABLE = "retryable"  # try again later: the receiver is down, busy or throttling
    PERMANENT = "permanent"  # the receiver refused this request; sending it again cannot help
    TOO_LARGE = "too_large"  # the receiver refused this request for its size: send it in parts
    UNAUTHORIZED = "unauthorized"  # the receiver refused our credentials: keep the request, fix the token


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Outcome of sending one request. ``retry_after_s`` is the delay the receiver asked for
    (HTTP ``Retry-After``, gRPC ``RetryInfo``), None when it did not say. ``reason`` is a short
    human-readable explanation for logs, counters and the dead-letter table."""

    status: ExportStatus
    reason: str = ""
    retry_after_s: float | None = None
    rejected_items: int = 0  # a success's partial_success: the items the receiver refused for good

    @classmethod
    def success(cls, reason: str = "", rejected_items: int = 0) -> ExportResult:
        return cls(ExportStatus.SUCCESS, reason, rejected_items=rejected_items)

    @classmethod
    def retryable(cls, reason: str, retry_after_s: float | None = None) -> ExportResult:
        return cls(ExportStatus.RETRYABLE, reason, retry_after_s)

    @classmethod
    def permanent(cls, reason: str) -> ExportResult:
        return cls(ExportStatus.PERMANENT, reason)

    @classmethod
    def too_large(cls, reason: str) -> ExportResult:
        return cls(ExportStatus.TOO_LARGE, reason)

    @classmethod
    def unauthorized(cls, reason: str) -> ExportResult:
        return cls(ExportStatus.UNAUTHORIZED, reason)


class Exporter(Protocol):
    """Sends one already-encoded, uncompressed Export*ServiceRequest. Never raises, never retries:
    retry and backoff live in :class:`hive_otel.client.export.OutboxSender` alone."""

    def export(self, signal: Signal, body: bytes) -> ExportResult: ...

    def shutdown(self) -> None: ...


COMPRESSIONS = ("gzip", "none")


def parse_exporter_args(endpoint: str, compression: str, timeout_s: float, default_port: int) -> ParseResult:
    """Check the arguments every exporter takes; errors name the argument and an example."""
    parsed = urlparse(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"endpoint must be an http(s) base URL like http://127.0.0.1:{default_port}, got {endpoint!r}"
        )
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    return parsed
