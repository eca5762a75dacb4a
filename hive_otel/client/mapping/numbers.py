"""Numbers read from Hive's JSON lines, defensively: a corrupt or hand-edited line may carry anything
where a count, a cost or an index is expected, and OTLP can carry only int64s."""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["float_or", "int_or_zero", "is_int64"]

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
    """A JSON number as a float (true/false are not numbers), else ``default``."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
