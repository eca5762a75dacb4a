"""OTLP values the store's input tables cannot carry, written as their JSON text instead.

ClickHouse parses each request with a fixed schema (:mod:`hive_otel.collector.store.otlp_schema`)
that stops one level down: an attribute's value, and the elements of an array value. A key-value list
(a structured log body, a map-valued attribute) or an array inside an array does not fit it, and the
input tables refuse a request holding one (constraint ``values_are_flat``, migration 0025). The store
then calls :func:`flatten_nested_values` and inserts the request again, so only such requests pay for
a walk in Python.

The text is what the flattening views write for an array, extended to any depth: each scalar as its
string (as it is in an attribute map), arrays as JSON arrays, key-value lists as JSON objects (a key
given twice keeps its last value).
"""

from __future__ import annotations

import base64
import json

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

MAX_REWRITTEN_BYTES = 64 * 1024 * 1024
"""The largest a request may grow to once its nested values are JSON text; past it, it is refused.
JSON escapes a control character in six bytes, so 16 MiB of them became a 100 MB log body."""

_ANY_VALUE = AnyValue.DESCRIPTOR.full_name
_NESTED = ("array_value", "kvlist_value")


def flatten_nested_values(message: Message) -> int:
    """Make, in place, every value of ``message`` that holds a key-value list, or an array inside an
    array, a string value holding its JSON text. Returns how many values were rewritten."""
    rewritten = 0
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in value if field.is_repeated else (value,):
            if field.message_type.full_name != _ANY_VALUE:
                rewritten += flatten_nested_values(item)
            elif _is_nested(item):
                item.string_value = json.dumps(_plain(item), ensure_ascii=False, separators=(",", ":"))
                rewritten += 1
    return rewritten


def _is_nested(value: AnyValue) -> bool:
    kind = value.WhichOneof("value")
    if kind == "kvlist_value":
        return True
    return kind == "array_value" and any(x.WhichOneof("value") in _NESTED for x in value.array_value.values)


def _plain(value: AnyValue) -> object:
    """``value`` as JSON-ready Python: strings for scalars (as the views convert them), lists, dicts."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(x) for x in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _double_text(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return ""  # no value set


def _double_text(number: float) -> str:
    """ClickHouse's ``toString`` of a Float64 for the common cases: ``3``, ``0.5``, ``1e100``, ``nan``."""
    text = repr(number).replace("e+", "e")
    return text[:-2] if text.endswith(".0") else text
