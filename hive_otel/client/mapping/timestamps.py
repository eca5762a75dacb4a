"""Hive timestamps → Unix nanoseconds.

Hive writes two kinds: bus events carry *naive local* times (``datetime.now().isoformat()``), L1
summaries and L3 tool calls carry UTC with an offset. A naive time is read as the local zone of the
machine doing the mapping (Python's ``astimezone()``), which is the machine that wrote it when the
client runs beside Hive, as it is meant to. The zone offset is cached per hour of wall time (date and
hour), for hours with one offset throughout: a zone may change mid-hour (Pacific/Chatham at 03:45).

A wall time that happens twice (the hour a DST change repeats) reads as its first pass, as
``astimezone()`` reads it: a bus event carries nothing that tells the two apart (README, Timestamps).
"""

from __future__ import annotations

import math
import re
from datetime import datetime

_offset_by_hour: dict[str, int] = {}
_OFFSET_CACHE_HOURS = 4096  # ~170 days of hours; emptied when full, so a long watch or backfill stays small


# OTLP times are unsigned 64-bit nanoseconds; a time at or before the epoch or past the largest signed
# one (year 2262) is not a time Hive wrote, and would make the whole request unencodable.
_MAX_NS = (1 << 63) - 1


def to_unix_ns(value: object) -> int | None:
    """Parse an ISO-8601 string (naive = local time) or a Unix-seconds number; None if unusable
    (unparseable, not finite, at or before 1970, after 2262)."""
    ns = _parse_iso_ns(value) if type(value) is str else _parse_ns(value)  # str: every event's time
    return ns if ns is not None and 0 < ns <= _MAX_NS else None


def _parse_ns(value: object) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        return int(seconds * 1_000_000_000) if math.isfinite(seconds) else None
    if not isinstance(value, str):
        return None
    return _parse_iso_ns(value)


def _parse_iso_ns(value: str) -> int | None:
    try:
        dt = _fromisoformat(value)
    except ValueError:  # "" included
        return None
    if not 1970 <= dt.year < 2262:
        return None  # outside what OTLP nanoseconds can carry (and astimezone() may overflow)
    if dt.tzinfo is not None:
        return int(dt.timestamp() * 1_000_000) * 1000
    offset = _offset_by_hour.get(value[:13])
    if offset is None:
        offset = _local_offset(dt, value[:13])
    naive_utc_seconds = (dt - _EPOCH).total_seconds() - offset
    return round(naive_utc_seconds * 1_000_000) * 1000


def _local_offset(dt: datetime, key: str) -> int:
    """The local zone's offset at naive ``dt``, cached under ``key`` if its whole wall-clock hour has it."""
    offset = _utc_offset(dt)
    hour = dt.replace(minute=0, second=0, microsecond=0)
    if _utc_offset(hour) == offset == _utc_offset(hour.replace(minute=59, second=59, microsecond=999999)):
        if len(_offset_by_hour) >= _OFFSET_CACHE_HOURS:
            _offset_by_hour.clear()
        _offset_by_hour[key] = offset
    return offset


def _utc_offset(dt: datetime) -> int:
    return int(dt.astimezone().utcoffset().total_seconds())  # type: ignore[union-attr]


_fromisoformat = datetime.fromisoformat
_EPOCH = datetime(1970, 1, 1)
_SESSION_ID = re.compile(r"session_(\d{8})_(\d{6})_")
_LEGACY_RUN_ID = re.compile(r"(\d{8})T(\d{6})_")


def run_id_time_ns(run_id: str) -> int | None:
    """When a run or session id was made, from the id itself: ``session_YYYYMMDD_HHMMSS_x`` is local
    time (``datetime.now()``), a legacy run id ``YYYYMMDDTHHMMSS_x`` is UTC. None for other ids.

    L2 lines and L3 steps without tool calls carry no time of their own; this is the time Hive wrote
    nearest to them, where the time of reading would change on every read."""
    match = _SESSION_ID.match(run_id)
    if match:
        return to_unix_ns(f"{match[1][:4]}-{match[1][4:6]}-{match[1][6:]}T{match[2][:2]}:{match[2][2:4]}:{match[2][4:]}")
    match = _LEGACY_RUN_ID.match(run_id)
    if match:
        return to_unix_ns(
            f"{match[1][:4]}-{match[1][4:6]}-{match[1][6:]}T{match[2][:2]}:{match[2][2:4]}:{match[2][4:]}+00:00"
        )
    return None
