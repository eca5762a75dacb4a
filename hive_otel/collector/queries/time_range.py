"""The one time grammar of every read: ``hive-otel usage --since/--until``, ``POST /hive/v1/usage``, the
API's ``range`` parameter, ``hive-otel report --since/--until`` and the dashboards' time range.

An instant (:func:`parse_time`) is

* ISO: a date or a date and time, naive meaning UTC (``2026-03-01``, ``2026-03-01T09:30:00+02:00``);
* or Grafana's relative form: ``now``, ``now-7d``, ``now+1h``, ``now/d``, ``now-1M/M`` (units ``s m h d w M
  y``; weeks start on Monday, the dashboards' time zone is UTC). ``/unit`` rounds down to the start of
  the unit; for the end of a Grafana range (``end=True``) up to its last millisecond, as Grafana does.

A range (:func:`parse_range`, the API's ``range``) is ``all``, ``today``, ``month`` (to date), ``Nh`` /
``Nd`` / ``Nw`` (the last N whole hours, days or weeks, the current one included, so the rollups answer
them) or ``START/END`` in ISO, half-open. Every bound lies in the store's time range [1970, 2149):
anything else is a :class:`ValueError` that names the text, never a failed query.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

__all__ = ["EARLIEST", "LATEST", "RANGE_PATTERN", "TimeRange", "in_store_range", "parse_range", "parse_time"]

# The times every table of the store can compare against (its Date columns end in 2149).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2149, 1, 1, tzinfo=UTC)

_ISO = r"\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?"
RANGE_PATTERN = rf"^(all|today|month|\d{{1,4}}[hdw]|{_ISO}/{_ISO})$"
"""What :func:`parse_range` reads, for the API's OpenAPI document (its schema tells clients up front)."""

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"^now(?:(?P<sign>[+-])(?P<amount>\d+)(?P<unit>[smhdwMy]))?(?:/(?P<round>[smhdwMy]))?$")
_LAST_N = re.compile(r"^(\d{1,4})([hdw])$")


class TimeRange(NamedTuple):
    """``[since, until)``; ``None`` is open on that side."""

    since: datetime | None
    until: datetime | None

    def checked(self) -> TimeRange:
        """This range, or ValueError when it is empty."""
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"the start ({self.since.isoformat()}) must be before the end ({self.until.isoformat()})")
        return self


_OUTSIDE = "{} is outside the store's time range (1970-01-01 to 2148-12-31)"


def in_store_range(moment: datetime) -> datetime:
    """``moment`` (aware), or ValueError when it lies outside [1970, 2149)."""
    if not EARLIEST <= moment < LATEST:
        raise ValueError(_OUTSIDE.format(moment.isoformat()))
    return moment


def parse_time(value: str | datetime | None, now: datetime | None = None, *, end: bool = False) -> datetime | None:
    """An ISO or Grafana-relative instant (see the module) → aware UTC datetime; None or "" → None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return in_store_range(_utc(value))
    text = value.strip()
    match = _RELATIVE.match(text)
    if match is None:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO date or time, nor now[-N unit][/unit]: {value!r}") from None
        try:
            return in_store_range(_utc(parsed))
        except OverflowError:  # year 9999 with a negative offset is past datetime's own range in UTC
            raise ValueError(_OUTSIDE.format(repr(value))) from None
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        if match["amount"]:
            moment = _shift(moment, int(match["amount"]) * (-1 if match["sign"] == "-" else 1), match["unit"])
        if match["round"]:
            start = _start_of(moment, match["round"])
            moment = _shift(start, 1, match["round"]) - timedelta(milliseconds=1) if end else start
    except (OverflowError, ValueError):  # now-9999999999d: past datetime's own range
        raise ValueError(_OUTSIDE.format(repr(value))) from None
    return in_store_range(moment)


def parse_range(text: str, now: datetime | None = None) -> TimeRange:
    """The API's ``range`` (see the module) → :class:`TimeRange`; ValueError names what is wrong."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if text == "all":
        return TimeRange(None, None)
    if text in ("today", "month"):
        return TimeRange(_start_of(now, "d" if text == "today" else "M"), None)
    match = _LAST_N.match(text)
    if match:
        count, unit = max(int(match[1]), 1), match[2]
        if unit == "h":
            return TimeRange(_start_of(now, "h") - timedelta(hours=count - 1), None)
        days = count * (7 if unit == "w" else 1)
        return TimeRange(_start_of(now, "d") - timedelta(days=days - 1), None)
    start, slash, stop = text.partition("/")
    if not slash or not re.fullmatch(_ISO, start) or not re.fullmatch(_ISO, stop):
        raise ValueError(f"range {text!r}: expected all, today, month, Nh, Nd, Nw or START/END in ISO")
    try:
        return TimeRange(parse_time(start), parse_time(stop)).checked()
    except ValueError as exc:
        raise ValueError(f"range {text!r}: {exc}") from None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in _UNITS:
        return moment + timedelta(**{_UNITS[unit]: amount})
    months = moment.month - 1 + amount * (12 if unit == "y" else 1)
    return moment.replace(year=moment.year + months // 12, month=months % 12 + 1)


def _start_of(moment: datetime, unit: str) -> datetime:
    if unit == "s":
        return moment.replace(microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    if unit == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=day.weekday())  # Grafana's default week starts on Monday in UTC
    if unit == "M":
        return day.replace(day=1)
    return day.replace(month=1, day=1)
