"""What an export attempt returns: exporters report outcomes as values and never raise."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from hive_otel.outbox import Signal


class ExportStatus(enum.Enum):
    SUCCESS = "success"
    RETRYABLE = "retryable"  # try again later: the receiver is down, busy or throttling
    PERMANENT = "permanent"  # the receiver refused this request; sending it again cannot help


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Outcome of sending one request. ``retry_after_s`` is the delay the receiver asked for
    (HTTP ``Retry-After``, gRPC ``RetryInfo``), None when it did not say. ``reason`` is a short
    human-readable explanation for logs, counters and the dead-letter table."""

    status: ExportStatus
    reason: str = ""
    retry_after_s: float | None = None

    @classmethod
    def success(cls, reason: str = "") -> ExportResult:
        return cls(ExportStatus.SUCCESS, reason)

    @classmethod
    def retryable(cls, reason: str, retry_after_s: float | None = None) -> ExportResult:
        return cls(ExportStatus.RETRYABLE, reason, retry_after_s)

    @classmethod
    def permanent(cls, reason: str) -> ExportResult:
        return cls(ExportStatus.PERMANENT, reason)


class Exporter(Protocol):
    """Sends one already-encoded, uncompressed Export*ServiceRequest. Never raises, never retries:
    retry and backoff live in :class:`hive_otel.export.OutboxSender` alone."""

    def export(self, signal: Signal, body: bytes) -> ExportResult: ...

    def shutdown(self) -> None: ...
