"""The protobuf wire format, written by hand: varints, tags, fixed64 and length-delimited fields.

Nothing here knows OTLP; :mod:`._common` and the per-signal modules build OTLP messages from these
pieces. The output is what ``SerializeToString()`` writes for the same fields (tests/test_encoding.py
compares with it); values the messages would refuse (an int beyond int64, a negative time) raise
``ValueError`` here too.
"""

from __future__ import annotations

import struct
from typing import TypeVar

__all__ = [
    "CACHE_LIMIT", "F64", "FIXED64", "I64", "LEN", "SMALL_VARINTS", "TAG_U64", "TWO_BYTE_VARINTS", "TWO_TAG_U64",
    "UINT64_MAX", "VARINT", "VARINTS", "StringFields", "bytes_field", "enum_varint", "field", "fixed64_field",
    "int64_varint", "remember", "tag", "varint",
]  # fmt: skip

K = TypeVar("K")
V = TypeVar("V")

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
UINT64_MAX = (1 << 64) - 1

# Values repeat (operation names, models, node ids, resources) but some are unique per record
# (call keys), so a cache that fills up is simply started again (``remember``).
CACHE_LIMIT = 16384

VARINT, FIXED64, LEN = 0, 1, 2  # wire types
SMALL_VARINTS = tuple(bytes((n,)) for n in range(128))


def remember(cache: dict[K, V], key: K, value: V, limit: int | None = None) -> V:
    """``cache[key] = value`` in a bounded cache (of ``CACHE_LIMIT`` entries unless told): a full one is cleared."""
    if len(cache) >= (CACHE_LIMIT if limit is None else limit):
        cache.clear()
    cache[key] = value
    return value


def varint(n: int) -> bytes:
    """An unsigned varint (callers map negative int64/enum values to two's complement first)."""
    if n < 0x80:
        return SMALL_VARINTS[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Every one- and two-byte varint (0 to 16383: iterations, token counts, latencies), ready made.
TWO_BYTE_VARINTS = 1 << 14
VARINTS = tuple(varint(n) for n in range(TWO_BYTE_VARINTS))


def tag(field_number: int, wire_type: int) -> bytes:
    return varint((field_number << 3) | wire_type)


def int64_varint(n: int) -> bytes:
    if not INT64_MIN <= n <= INT64_MAX:
        raise ValueError(f"Value out of range: {n}")
    return varint(n if n >= 0 else n + (1 << 64))


def enum_varint(n: int) -> bytes:
    if not INT32_MIN <= n <= INT32_MAX:
        raise ValueError(f"Value out of range: {n}")
    return varint(n if n >= 0 else n + (1 << 64))


I64 = struct.Struct("<q")
F64 = struct.Struct("<d")
TAG_U64 = struct.Struct("<BQ")  # a one-byte tag and a fixed64 value
TWO_TAG_U64 = struct.Struct("<BQBQ")


def fixed64_field(tag: int, n: int) -> bytes:
    if not 0 <= n <= UINT64_MAX:
        raise ValueError(f"Value out of range: {n}")
    return TAG_U64.pack(tag, n)


def field(tag: bytes, payload: bytes) -> bytes:
    """One length-delimited field: tag, length, payload."""
    return tag + varint(len(payload)) + payload


def bytes_field(tag: bytes, value: bytes) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes, {type(value).__name__} found")
    return field(tag, value)


class StringFields:
    """One string field (a name), encoded once per distinct value; the empty string is omitted."""

    __slots__ = ("_cache", "_tag")

    def __init__(self, tag: bytes) -> None:
        self._tag = tag
        self._cache: dict[str, bytes] = {"": b""}

    def __call__(self, value: str) -> bytes:
        encoded = self._cache.get(value)
        if encoded is None:
            encoded = field(self._tag, value.encode())
            if type(value) is str:
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                    self._cache[""] = b""
                self._cache[value] = encoded
        return encoded
