"""Hive timestamps → Unix nanoseconds.

Hive writes two kinds: bus events carry *naive local* times (``datetime.now().isoformat()``), L1
summaries and L3 tool calls carry UTC with an offset. A naive time is read as the local zone of the
machine doing the mapping (Python's ``astimezone()``), which is the machine that wrote it when the
client runs beside Hive, as it is meant to. The zone offset is cached per hour of wall time.
"""

from __future__ import annotations

from datetime import datetime

_offset_by_hour: dict[str, int] = {}


def to_unix_ns(value: object) -> int | None:
    """Parse an ISO-8601 string (naive = local time) or a Unix-seconds number; None if unusable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1_000_000_000)
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is not None:
        return int(dt.timestamp() * 1_000_000) * 1000
    hour = value[:13]
    offset = _offset_by_hour.get(hour)
    if offset is None:
        offset = int(dt.astimezone().utcoffset().total_seconds())  # type: ignore[union-attr]
        _offset_by_hour[hour] = offset
    naive_utc_seconds = (dt - _EPOCH).total_seconds() - offset
    return round(naive_utc_seconds * 1_000_000) * 1000


_EPOCH = datetime(1970, 1, 1)
