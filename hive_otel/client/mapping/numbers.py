"""Numbers and names read from Hive's JSON lines, defensively: a corrupt or hand-edited line may carry
anything where a count, a cost, an index or a name is expected, and OTLP can carry only int64s."""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar

__all__ = [
    "INVALID_TOOL_NAME",
    "MAX_MILLIS",
    "float_or",
    "int_or_zero",
    "is_int64",
    "millis_or_none",
    "millis_or_zero",
    "text",
    "tool_name",
]

_INT64_MAX = (1 << 63) - 1
_WHOLE_NUMBER = re.compile(r"([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0+)?")  # the text Pydantic reads as an int
MAX_MILLIS = 10**10
"""The longest duration read as one, in ms (~115 days): past it a latency is no time Hive measured but a
corrupt line, and added to a time in ns it would make a span end past what OTLP's clocks hold (2262)."""
D = TypeVar("D")


def is_int64(value: Any) -> bool:
    """An int OTLP can carry (int64); JSON's true/false are not counts."""
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64_MAX <= value <= _INT64_MAX


def int_or_zero(value: Any) -> int:
    """A count, an index or a duration in JSON as an int, else 0. Read as Hive's own Pydantic models read
    them when they write the L3 lines (a whole-number float, ``"1200"`` or ``"1200.0"``, true as 1), so that
    a bus event and its L3 line carry the same numbers; past an int64, the int64 nearest (the collector
    refuses a token count that large as usage, with a reason, where 0 would be a silent loss)."""
    if type(value) is int:  # what JSON gives: decided here, without the checks below (5 per LLM call)
        return value if -_INT64_MAX <= value <= _INT64_MAX else _INT64_MAX if value > 0 else -_INT64_MAX
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int_or_zero(int(value))
    if isinstance(value, str) and (whole := _WHOLE_NUMBER.fullmatch(value.strip())):
        return int_or_zero(int(whole[1]))
    return 0


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
    or past :data:`MAX_MILLIS`)."""
    number = float_or(seconds, None)
    return int(number * 1000) if number is not None and 0 <= number * 1000 <= MAX_MILLIS else None


def millis_or_zero(millis: Any) -> int:
    """A duration in milliseconds, as :func:`int_or_zero` reads it, or 0 when it is no duration (negative
    or past :data:`MAX_MILLIS`)."""
    number = int_or_zero(millis)
    return number if 0 <= number <= MAX_MILLIS else 0


def text(value: Any) -> str | None:
    """A non-empty JSON string as it is, else None: an object or a list where Hive writes a name or a
    status is not made into text (its ``str()`` could carry anything, past the redaction of strings)."""
    return value if isinstance(value, str) and value else None


# What the providers accept as a tool's name (OpenAI and Anthropic: letters, digits, _ and -, Gemini also
# . and :). A tool call names whatever the model wrote, and Hive publishes it before it checks the tool
# exists: a name outside this is the model's text, which never leaves by default.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
INVALID_TOOL_NAME = "invalid_tool_name"


def tool_name(value: Any) -> str:
    """A tool call's name as it is when it can be a tool's name, :data:`INVALID_TOOL_NAME` when it is
    other text, "" when it is none."""
    name = text(value)
    if name is None:
        return ""
    return name if _TOOL_NAME.fullmatch(name) else INVALID_TOOL_NAME
