"""The OTLP messages every signal shares (common.proto, resource.proto and the request envelope).

Attributes (KeyValue/AnyValue), the Resource, the InstrumentationScope and the
``Export*ServiceRequest`` → ``Resource*`` → ``Scope*`` nesting, written with :mod:`._wire`. Repeated
pieces (attribute key/value pairs, resources) are encoded once and kept in bounded caches; the caches
hold only immutable bytes, so sharing them between threads is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from hive_otel import __version__
from hive_otel import attributes as A
from hive_otel.client.encoding._wire import (
    F64,
    FIXED64,
    LEN,
    SMALL_VARINTS,
    TWO_BYTE_VARINTS,
    VARINT,
    VARINTS,
    field,
    int64_varint,
    remember,
    tag,
    varint,
)
from hive_otel.client.mapping.telemetry import AttrValue, LogRecord, Resource, SpanRecord

__all__ = [
    "ANY_STRING", "SCHEMA_URL_FIELD", "SCOPE_FIELD", "SCOPE_ITEMS_FIELD", "SCOPE_RECORDS", "TOP_FIELD",
    "AttributeEncoder", "grouped_request", "record", "request", "resource_field",
]  # fmt: skip

R = TypeVar("R", SpanRecord, LogRecord)

_RESOURCE_CACHE_LIMIT = 4096

# AnyValue (common.proto): one of these is always present, even when it holds a default value.
ANY_STRING, _ANY_BOOL, _ANY_INT, _ANY_DOUBLE, _ANY_ARRAY = (
    tag(1, LEN),
    tag(2, VARINT),
    tag(3, VARINT),
    tag(4, FIXED64),
    tag(5, LEN),
)
_KV_KEY, _KV_VALUE = tag(1, LEN), tag(2, LEN)  # KeyValue
_ARRAY_VALUES = tag(1, LEN)  # ArrayValue


def _any_value(value: AttrValue) -> bytes:
    """An AnyValue message, chosen by type as the reference does: str, bool, int, float, list, else str()."""
    if isinstance(value, str):
        return field(ANY_STRING, value.encode())
    if isinstance(value, bool):
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return _ANY_INT + int64_varint(value)
    if isinstance(value, float):
        return _ANY_DOUBLE + F64.pack(value)
    if isinstance(value, list):
        return field(_ANY_ARRAY, b"".join(field(_ARRAY_VALUES, _any_value(v)) for v in value))
    return field(ANY_STRING, str(value).encode())


def _key_value(key: str, value: AttrValue) -> bytes:
    """A KeyValue message (without the enclosing field's tag and length)."""
    return (field(_KV_KEY, key.encode()) if key else b"") + field(_KV_VALUE, _any_value(value))


class AttributeEncoder:
    """Encodes attributes as repeated KeyValue fields under one tag.

    String values, and lists of strings, are cached by (key, value): a string never equals a
    value of another type, so the lookup is exact, whereas (k, 1), (k, 1.0) and (k, True) are equal
    dict keys but different AnyValues (bools have a cache of their own). Ints and floats, mostly
    unique (token counts, latencies, costs), are written as a per-key head (the field up to the
    value's bytes) plus the value.
    """

    __slots__ = ("_bools", "_float_heads", "_int_heads", "_key_fields", "_lists", "_strings", "_tag")

    def __init__(self, field_number: int) -> None:
        self._tag = tag(field_number, LEN)
        self._strings: dict[tuple[str, AttrValue], bytes] = {}
        self._lists: dict[tuple[str, tuple[str, ...]], bytes] = {}
        self._bools: dict[tuple[str, AttrValue], bytes] = {}  # only bools looked up: True == 1 elsewhere
        self._int_heads: dict[str, tuple[bytes, ...]] = {}  # key -> head by varint length (1-10)
        self._float_heads: dict[str, bytes] = {}
        self._key_fields: dict[str, bytes] = {}  # key -> the KeyValue's key field

    def encode(self, attributes: Iterable[tuple[str, AttrValue]]) -> list[bytes]:
        get, new_string, other = self._strings.get, self._new_string, self._other
        int_heads, new_int_heads = self._int_heads.get, self._new_int_heads
        out = []
        for item in attributes:
            value = item[1]
            value_type = type(value)
            if value_type is str:
                encoded = get(item)
                out.append(new_string(item) if encoded is None else encoded)
            elif value_type is int and 0 <= value < TWO_BYTE_VARINTS:  # type: ignore[operator]
                heads = int_heads(item[0]) or new_int_heads(item[0])
                out.append(heads[1 if value < 0x80 else 2] + VARINTS[value])  # type: ignore[index]
            else:
                out.append(other(item))
        return out

    def _new_string(self, item: tuple[str, AttrValue]) -> bytes:
        key, value = item
        encoded_value = value.encode()  # type: ignore[union-attr]
        size = len(encoded_value)
        prefix = self._key_fields.get(key)  # type: ignore[arg-type]
        if prefix is None:
            prefix = remember(self._key_fields, key, field(_KV_KEY, key.encode()) if key else b"")  # type: ignore[arg-type]
        if size < 0x7C and len(prefix) + size < 0x7C:  # every length below is a one-byte varint
            encoded = b"".join(
                (
                    self._tag,
                    SMALL_VARINTS[len(prefix) + size + 4],
                    prefix,
                    _KV_VALUE,
                    SMALL_VARINTS[size + 2],
                    ANY_STRING,
                    SMALL_VARINTS[size],
                    encoded_value,
                )
            )
        else:
            encoded = field(self._tag, prefix + field(_KV_VALUE, field(ANY_STRING, encoded_value)))
        return remember(self._strings, item, encoded)

    def _other(self, item: tuple[str, AttrValue]) -> bytes:
        key, value = item
        value_type = type(value)
        if value_type is int:
            heads = self._int_heads.get(key) or self._new_int_heads(key)
            if 0 <= value < 0x80:  # type: ignore[operator]
                return heads[1] + SMALL_VARINTS[value]  # type: ignore[index]
            encoded_int = int64_varint(value)  # type: ignore[arg-type]
            return heads[len(encoded_int)] + encoded_int
        if value_type is float:
            return (self._float_heads.get(key) or self._new_float_head(key)) + F64.pack(value)
        if value_type is bool:
            encoded = self._bools.get(item)
            if encoded is None:
                encoded = remember(self._bools, item, field(self._tag, _key_value(key, value)))
            return encoded
        if value_type is list and all(type(v) is str for v in value):  # type: ignore[union-attr]
            list_key = (key, tuple(value))  # type: ignore[arg-type]
            encoded = self._lists.get(list_key)
            if encoded is None:
                encoded = remember(self._lists, list_key, field(self._tag, _key_value(key, value)))
            return encoded
        return field(self._tag, _key_value(key, value))  # other lists, subclasses, other types

    def _new_int_heads(self, key: str) -> tuple[bytes, ...]:
        # AnyValue(int_value) is 1 + n bytes for an n-byte varint: its length is one byte.
        prefix = field(_KV_KEY, key.encode()) if key else b""
        heads = (
            b"",
            *(
                self._tag + varint(len(prefix) + 3 + n) + prefix + _KV_VALUE + bytes((1 + n,)) + _ANY_INT
                for n in range(1, 11)
            ),
        )
        return remember(self._int_heads, key, heads)

    def _new_float_head(self, key: str) -> bytes:
        prefix = field(_KV_KEY, key.encode()) if key else b""
        head = self._tag + varint(len(prefix) + 11) + prefix + _KV_VALUE + b"\x09" + _ANY_DOUBLE
        return remember(self._float_heads, key, head)


# ---------------------------------------------------------------------------------------- requests

_RESOURCE_ATTRIBUTES = AttributeEncoder(1)  # Resource.attributes
_resource_fields: dict[Resource, bytes] = {}  # resource -> its encoded Resource field
_RESOURCE_FIELD = tag(1, LEN)  # ResourceSpans/ResourceLogs/ResourceMetrics.resource
# ScopeSpans/ScopeLogs/ScopeMetrics.scope: InstrumentationScope(name="hive_otel", version=__version__)
_SCOPE = field(tag(1, LEN), b"hive_otel") + (field(tag(2, LEN), __version__.encode()) if __version__ else b"")
SCOPE_FIELD = field(tag(1, LEN), _SCOPE)
# Scope*.schema_url and Resource*.schema_url (field 3 of both): the semantic-conventions release pinned.
SCHEMA_URL_FIELD = field(tag(3, LEN), A.SEMCONV_SCHEMA_URL.encode())
TOP_FIELD = tag(1, LEN)  # Export*ServiceRequest.resource_*
SCOPE_ITEMS_FIELD = tag(2, LEN)  # Resource*.scope_*
SCOPE_RECORDS = tag(2, LEN)  # ScopeSpans.spans, ScopeLogs.log_records, ScopeMetrics.metrics


def resource_field(resource: Resource) -> bytes:
    encoded = _resource_fields.get(resource)
    if encoded is None:
        encoded = field(_RESOURCE_FIELD, b"".join(_RESOURCE_ATTRIBUTES.encode(resource.attributes)))
        # Only all-string resources are cached: a resource with ("k", 1) equals one with ("k", True)
        # as a dict key, but none with ("k", "1"), so a cached all-string resource is exact.
        if all(type(v) is str for _, v in resource.attributes):
            remember(_resource_fields, resource, encoded, _RESOURCE_CACHE_LIMIT)
    return encoded


def request(groups: dict[Resource, list[bytes]]) -> bytes:
    """Export*ServiceRequest: per resource one Resource* holding one Scope* with the records."""
    out = []
    for resource, records in groups.items():
        scope_items = SCOPE_FIELD + b"".join(records) + SCHEMA_URL_FIELD
        body = resource_field(resource) + field(SCOPE_ITEMS_FIELD, scope_items) + SCHEMA_URL_FIELD
        out.append(TOP_FIELD)
        out.append(varint(len(body)))
        out.append(body)
    return b"".join(out)


def grouped_request(items: Iterable[R], encode_record: Callable[[R], bytes]) -> bytes:
    """An Export*ServiceRequest of ``items`` grouped by resource (first-seen order), one scope each."""
    by_resource: dict[Resource, list[bytes]] = {}
    resource, group = None, []
    for item in items:
        # Records come session by session, so mostly with the very Resource of the one before:
        # looked up (hashed, compared) only when it changes.
        if item.resource is not resource:
            resource = item.resource
            group = by_resource.get(resource)  # type: ignore[assignment]
            if group is None:
                group = by_resource[resource] = []
        group.append(encode_record(item))
    return request(by_resource)


def record(body: list[bytes]) -> bytes:
    """One span or log record as a repeated field of its scope."""
    encoded = b"".join(body)
    return SCOPE_RECORDS + varint(len(encoded)) + encoded
