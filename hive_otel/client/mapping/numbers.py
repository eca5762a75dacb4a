"""Numbers and names read from Hive's JSON lines, defensively: a corrupt or hand-edited line may carry
anything where a count, a cost, an index or a name is expected, and OTLP can carry only int64s."""

from __future__ import annotations

import math
from typing import Any, TypeVar

__all__ = ["float_or", "int_or_zero", "is_int64", "millis_or_none", "text"]

_INT64_MAX = (1 << 63) - 1
D = TypeVar("D")


def is_int64(value: Any) -> bool:
    """An int OTLP can carry (int64); JSON's true/false are not counts."""
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64_MAX <= value <= _INT64_MAX


def int_or_zero(value: Any) -> int:
    if type(value) is int:  # what JSON gives: decided here, without is_int64's type checks (5 per LLM call)
        return value if -_INT64_MAX <= value <= _INT64_MAX else 0
    return value if is_int64(value) else 0


def float_or(value: Any, default: D) -> float | D:
    """A finite JSON number as a float (true/false are not numbers; NaN, infinities and integers past a
    float's range are no cost, credit or duration Hive wrote), else ``default``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return default
    try:
        number = float(value)
    except OverflowError:
        return default
    return number if math.isfinite(number) else default


def millis_or_none(seconds: Any) -> int | None:
    """A duration in seconds as whole milliseconds, or None when it is no duration (negative, not finite,
    or past an int64 of milliseconds)."""
    number = float_or(seconds, None)
    return int(number * 1000) if number is not None and 0 <= number < 9e15 else None


def text(value: Any) -> str | None:
    """A non-empty JSON string as it is, else None: an object or a list where Hive writes a name or a
    status is not made into text (its ``str()`` could carry anything, past the redaction of strings)."""
    return value if isinstance(value, str) and value else None
