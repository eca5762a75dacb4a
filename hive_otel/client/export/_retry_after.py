"""Parse HTTP ``Retry-After``: delay-seconds or an HTTP date (RFC 9110 §10.2.3).

Only parsing: how long the sender really waits (at least 1 s, at most 300 s) is decided in one
place, :class:`hive_otel.client.export.OutboxSender`, for HTTP and gRPC alike.
"""

from __future__ import annotations

import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait, or None when the header is absent or unreadable, negative or not finite
    (``inf``, ``nan``; then the sender backs off on its own). A date in the past means "now" (0).
    Fractional seconds are accepted although the RFC only allows integers, because being lenient
    here costs nothing."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
