"""Telemetry → OTLP export requests (serialized protobuf), and the metrics derived from the spans.

Metrics are computed from the very spans in the batch (delta temporality, one point set per
batch), so span totals and metric totals agree by construction. Usage accounting downstream reads
the spans (deduplicated by call key); the metrics are for backends that chart them.

The requests are written straight in the protobuf wire format rather than built as
opentelemetry-proto messages and serialized: building the message objects costs ~30 µs a span,
writing the bytes a few. The output is byte for byte what ``SerializeToString()`` gives for the
same messages (fields in field-number order, proto3 defaults omitted, oneof and submessage fields
present when set); tests/test_encoding.py holds the message-building reference and checks it.
Values the messages would refuse (an int beyond int64, a negative time) raise ``ValueError`` here
too. Repeated pieces (attribute key/value pairs, names, resources) are encoded once and kept in
bounded caches; the caches hold only immutable bytes, so sharing them between threads is safe.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence

from hive_otel import __version__
from hive_otel import attributes as A
from hive_otel.client.mapping.telemetry import AttrValue, LogRecord, Resource, SpanKind, SpanRecord

__all__ = ["encode_logs", "encode_metrics", "encode_spans"]

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_UINT64_MAX = (1 << 64) - 1

# Values repeat (operation names, models, node ids, resources) but some are unique per record
# (call keys), so a cache that fills up is simply started again.
_CACHE_LIMIT = 16384
_RESOURCE_CACHE_LIMIT = 4096

# ---------------------------------------------------------------------------------------- wire format

_VARINT, _FIXED64, _LEN = 0, 1, 2  # wire types
_SMALL_VARINTS = tuple(bytes((n,)) for n in range(128))


def _varint(n: int) -> bytes:
    """An unsigned varint (callers map negative int64/enum values to two's complement first)."""
    if n < 0x80:
        return _SMALL_VARINTS[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Every one- and two-byte varint (0 to 16383: iterations, token counts, latencies), ready made.
_TWO_BYTE_VARINTS = 1 << 14
_VARINTS = tuple(_varint(n) for n in range(_TWO_BYTE_VARINTS))


def _tag(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _int64_varint(n: int) -> bytes:
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise ValueError(f"Value out of range: {n}")
    return _varint(n if n >= 0 else n + (1 << 64))


def _enum_varint(n: int) -> bytes:
    if not _INT32_MIN <= n <= _INT32_MAX:
        raise ValueError(f"Value out of range: {n}")
    return _varint(n if n >= 0 else n + (1 << 64))


_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_TAG_U64 = struct.Struct("<BQ")  # a one-byte tag and a fixed64 value
_TWO_TAG_U64 = struct.Struct("<BQBQ")


def _fixed64_field(tag: int, n: int) -> bytes:
    if not 0 <= n <= _UINT64_MAX:
        raise ValueError(f"Value out of range: {n}")
    return _TAG_U64.pack(tag, n)


def _field(tag: bytes, payload: bytes) -> bytes:
    """One length-delimited field: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


def _bytes_field(tag: bytes, value: bytes) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes, {type(value).__name__} found")
    return _field(tag, value)


class _StringFields:
    """One string field (a name), encoded once per distinct value; the empty string is omitted."""

    __slots__ = ("_cache", "_tag")

    def __init__(self, tag: bytes) -> None:
        self._tag = tag
        self._cache: dict[str, bytes] = {"": b""}

    def __call__(self, value: str) -> bytes:
        encoded = self._cache.get(value)
        if encoded is None:
            encoded = _field(self._tag, value.encode())
            if type(value) is str:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                    self._cache[""] = b""
                self._cache[value] = encoded
        return encoded


# ---------------------------------------------------------------------------------------- attributes

# AnyValue (common.proto): one of these is always present, even when it holds a default value.
_ANY_STRING, _ANY_BOOL, _ANY_INT, _ANY_DOUBLE, _ANY_ARRAY = (
    _tag(1, _LEN),
    _tag(2, _VARINT),
    _tag(3, _VARINT),
    _tag(4, _FIXED64),
    _tag(5, _LEN),
)
_KV_KEY, _KV_VALUE = _tag(1, _LEN), _tag(2, _LEN)  # KeyValue
_ARRAY_VALUES = _tag(1, _LEN)  # ArrayValue


def _any_value(value: AttrValue) -> bytes:
    """An AnyValue message, chosen by type as the reference does: str, bool, int, float, list, else str()."""
    if isinstance(value, str):
        return _field(_ANY_STRING, value.encode())
    if isinstance(value, bool):
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return _ANY_INT + _int64_varint(value)
    if isinstance(value, float):
        return _ANY_DOUBLE + _F64.pack(value)
    if isinstance(value, list):
        return _field(_ANY_ARRAY, b"".join(_field(_ARRAY_VALUES, _any_value(v)) for v in value))
    return _field(_ANY_STRING, str(value).encode())


def _key_value(key: str, value: AttrValue) -> bytes:
    """A KeyValue message (without the enclosing field's tag and length)."""
    return (_field(_KV_KEY, key.encode()) if key else b"") + _field(_KV_VALUE, _any_value(value))


class _AttributeEncoder:
    """Encodes attributes as repeated KeyValue fields under one tag.

    String values, and lists of strings, are cached by (key, value): a string never equals a
    value of another type, so the lookup is exact, whereas (k, 1), (k, 1.0) and (k, True) are equal
    dict keys but different AnyValues (bools have a cache of their own). Ints and floats, mostly
    unique (token counts, latencies, costs), are written as a per-key head (the field up to the
    value's bytes) plus the value.
    """

    __slots__ = ("_bools", "_float_heads", "_int_heads", "_key_fields", "_lists", "_strings", "_tag")

    def __init__(self, field: int) -> None:
        self._tag = _tag(field, _LEN)
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
            elif value_type is int and 0 <= value < _TWO_BYTE_VARINTS:  # type: ignore[operator]
                heads = int_heads(item[0]) or new_int_heads(item[0])
                out.append(heads[1 if value < 0x80 else 2] + _VARINTS[value])  # type: ignore[index]
            else:
                out.append(other(item))
        return out

    def _new_string(self, item: tuple[str, AttrValue]) -> bytes:
        key, value = item
        encoded_value = value.encode()  # type: ignore[union-attr]
        size = len(encoded_value)
        prefix = self._key_fields.get(key)  # type: ignore[arg-type]
        if prefix is None:
            if len(self._key_fields) >= _CACHE_LIMIT:
                self._key_fields.clear()
            prefix = self._key_fields[key] = _field(_KV_KEY, key.encode()) if key else b""  # type: ignore[index]
        if size < 0x7C and len(prefix) + size < 0x7C:  # every length below is a one-byte varint
            encoded = b"".join(
                (
                    self._tag,
                    _SMALL_VARINTS[len(prefix) + size + 4],
                    prefix,
                    _KV_VALUE,
                    _SMALL_VARINTS[size + 2],
                    _ANY_STRING,
                    _SMALL_VARINTS[size],
                    encoded_value,
                )
            )
        else:
            encoded = _field(self._tag, prefix + _field(_KV_VALUE, _field(_ANY_STRING, encoded_value)))
        strings = self._strings
        if len(strings) >= _CACHE_LIMIT:
            strings.clear()
        strings[item] = encoded
        return encoded

    def _other(self, item: tuple[str, AttrValue]) -> bytes:
        key, value = item
        value_type = type(value)
        if value_type is int:
            heads = self._int_heads.get(key) or self._new_int_heads(key)
            if 0 <= value < 0x80:  # type: ignore[operator]
                return heads[1] + _SMALL_VARINTS[value]  # type: ignore[index]
            varint = _int64_varint(value)  # type: ignore[arg-type]
            return heads[len(varint)] + varint
        if value_type is float:
            return (self._float_heads.get(key) or self._new_float_head(key)) + _F64.pack(value)
        if value_type is bool:
            encoded = self._bools.get(item)
            if encoded is None:
                if len(self._bools) >= _CACHE_LIMIT:
                    self._bools.clear()
                encoded = self._bools[item] = _field(self._tag, _key_value(key, value))
            return encoded
        if value_type is list and all(type(v) is str for v in value):  # type: ignore[union-attr]
            list_key = (key, tuple(value))  # type: ignore[arg-type]
            encoded = self._lists.get(list_key)
            if encoded is None:
                encoded = _field(self._tag, _key_value(key, value))
                if len(self._lists) >= _CACHE_LIMIT:
                    self._lists.clear()
                self._lists[list_key] = encoded
            return encoded
        return _field(self._tag, _key_value(key, value))  # other lists, subclasses, other types

    def _new_int_heads(self, key: str) -> tuple[bytes, ...]:
        # AnyValue(int_value) is 1 + n bytes for an n-byte varint: its length is one byte.
        prefix = _field(_KV_KEY, key.encode()) if key else b""
        heads = (
            b"",
            *(
                self._tag + _varint(len(prefix) + 3 + n) + prefix + _KV_VALUE + bytes((1 + n,)) + _ANY_INT
                for n in range(1, 11)
            ),
        )
        if len(self._int_heads) >= _CACHE_LIMIT:
            self._int_heads.clear()
        self._int_heads[key] = heads
        return heads

    def _new_float_head(self, key: str) -> bytes:
        prefix = _field(_KV_KEY, key.encode()) if key else b""
        head = self._tag + _varint(len(prefix) + 11) + prefix + _KV_VALUE + b"\x09" + _ANY_DOUBLE
        if len(self._float_heads) >= _CACHE_LIMIT:
            self._float_heads.clear()
        self._float_heads[key] = head
        return head


# ---------------------------------------------------------------------------------------- requests

_RESOURCE_ATTRIBUTES = _AttributeEncoder(1)  # Resource.attributes
_resource_fields: dict[Resource, bytes] = {}  # resource -> its encoded Resource field
_RESOURCE_FIELD = _tag(1, _LEN)  # ResourceSpans/ResourceLogs/ResourceMetrics.resource
# ScopeSpans/ScopeLogs/ScopeMetrics.scope: InstrumentationScope(name="hive_otel", version=__version__)
_SCOPE = _field(_tag(1, _LEN), b"hive_otel") + (_field(_tag(2, _LEN), __version__.encode()) if __version__ else b"")
_SCOPE_FIELD = _field(_tag(1, _LEN), _SCOPE)
# Scope*.schema_url and Resource*.schema_url (field 3 of both): the semantic-conventions release pinned.
_SCHEMA_URL_FIELD = _field(_tag(3, _LEN), A.SEMCONV_SCHEMA_URL.encode())
_TOP_FIELD = _tag(1, _LEN)  # Export*ServiceRequest.resource_*
_SCOPE_ITEMS_FIELD = _tag(2, _LEN)  # Resource*.scope_*
_SCOPE_RECORDS = _tag(2, _LEN)  # ScopeSpans.spans, ScopeLogs.log_records, ScopeMetrics.metrics


def _resource_field(resource: Resource) -> bytes:
    encoded = _resource_fields.get(resource)
    if encoded is None:
        encoded = _field(_RESOURCE_FIELD, b"".join(_RESOURCE_ATTRIBUTES.encode(resource.attributes)))
        # Only all-string resources are cached: a resource with ("k", 1) equals one with ("k", True)
        # as a dict key, but none with ("k", "1"), so a cached all-string resource is exact.
        if all(type(v) is str for _, v in resource.attributes):
            if len(_resource_fields) >= _RESOURCE_CACHE_LIMIT:
                _resource_fields.clear()
            _resource_fields[resource] = encoded
    return encoded


def _request(groups: dict[Resource, list[bytes]]) -> bytes:
    """Export*ServiceRequest: per resource one Resource* holding one Scope* with the records."""
    out = []
    for resource, records in groups.items():
        scope_items = _SCOPE_FIELD + b"".join(records) + _SCHEMA_URL_FIELD
        body = _resource_field(resource) + _field(_SCOPE_ITEMS_FIELD, scope_items) + _SCHEMA_URL_FIELD
        out.append(_TOP_FIELD)
        out.append(_varint(len(body)))
        out.append(body)
    return b"".join(out)


def _record(body: list[bytes]) -> bytes:
    """One span or log record as a repeated field of its scope."""
    encoded = b"".join(body)
    return _SCOPE_RECORDS + _varint(len(encoded)) + encoded


# ---------------------------------------------------------------------------------------- spans

_SPAN_TRACE_ID, _SPAN_SPAN_ID, _SPAN_PARENT_ID = _tag(1, _LEN), _tag(2, _LEN), _tag(4, _LEN)
_SPAN_KIND = _tag(6, _VARINT)
_SPAN_START, _SPAN_END = (7 << 3) | _FIXED64, (8 << 3) | _FIXED64
_SPAN_LINK, _SPAN_STATUS = _tag(13, _LEN), _tag(15, _LEN)
_LINK_TRACE_ID, _LINK_SPAN_ID = _tag(1, _LEN), _tag(2, _LEN)
_STATUS_MESSAGE, _STATUS_CODE = _tag(2, _LEN), _tag(3, _VARINT)
_SPAN_ATTRIBUTES = _AttributeEncoder(9)
_span_name = _StringFields(_tag(5, _LEN))
_SPAN_KINDS = {kind: _SPAN_KIND + _varint(kind.value) for kind in SpanKind}
# Tag and length of ids of the usual sizes (16-byte trace ids, 8-byte span ids), written in one go.
_TRACE_ID_16, _SPAN_ID_8, _PARENT_ID_8 = _SPAN_TRACE_ID + b"\x10", _SPAN_SPAN_ID + b"\x08", _SPAN_PARENT_ID + b"\x08"
_LINK_16_8 = _SPAN_LINK + b"\x1c" + _LINK_TRACE_ID + b"\x10"  # a link of a 16-byte and an 8-byte id
_LINK_SPAN_ID_8 = _LINK_SPAN_ID + b"\x08"
_span_statuses: dict[tuple[int, str], bytes] = {}


def _span_ids(trace_id: bytes, span_id: bytes, parent: bytes) -> list[bytes]:
    """Span fields 1, 2 and 4, whatever their sizes (the regular sizes take a faster path)."""
    return [
        _bytes_field(_SPAN_TRACE_ID, trace_id) if trace_id else b"",
        _bytes_field(_SPAN_SPAN_ID, span_id) if span_id else b"",
        _bytes_field(_SPAN_PARENT_ID, parent) if parent else b"",
    ]


def _span_kind(kind: int) -> bytes:
    encoded = _SPAN_KINDS.get(kind) if type(kind) is SpanKind else None  # type: ignore[call-overload]
    if encoded is None:
        encoded = _SPAN_KIND + _enum_varint(int(kind)) if kind else b""
    return encoded


def _span_times(start: int, end: int) -> bytes:
    if 0 < start <= _UINT64_MAX and 0 < end <= _UINT64_MAX:
        return _TWO_TAG_U64.pack(_SPAN_START, start, _SPAN_END, end)
    return (_fixed64_field(_SPAN_START, start) if start else b"") + (_fixed64_field(_SPAN_END, end) if end else b"")


def _span_link(trace_id: bytes, span_id: bytes) -> bytes:
    if type(trace_id) is bytes and type(span_id) is bytes and len(trace_id) == 16 and len(span_id) == 8:
        return _LINK_16_8 + trace_id + _LINK_SPAN_ID_8 + span_id
    link = (_bytes_field(_LINK_TRACE_ID, trace_id) if trace_id else b"") + (
        _bytes_field(_LINK_SPAN_ID, span_id) if span_id else b""
    )
    return _field(_SPAN_LINK, link)


def _span_status(code: int, message: str) -> bytes:
    """The status field: always present (the reference always sets it), empty when UNSET with no message."""
    key = (code, message)
    encoded = _span_statuses.get(key)
    if encoded is None:
        body = (_field(_STATUS_MESSAGE, message.encode()) if message else b"") + (
            _STATUS_CODE + _enum_varint(int(code)) if code else b""
        )
        encoded = _field(_SPAN_STATUS, body)
        if len(_span_statuses) >= _CACHE_LIMIT:
            _span_statuses.clear()
        _span_statuses[key] = encoded
    return encoded


def _span(s: SpanRecord) -> bytes:
    trace_id, span_id, parent = s.trace_id, s.span_id, s.parent_span_id
    if type(trace_id) is bytes and type(span_id) is bytes and len(trace_id) == 16 and len(span_id) == 8:
        if not parent:
            body = [_TRACE_ID_16, trace_id, _SPAN_ID_8, span_id]
        elif type(parent) is bytes and len(parent) == 8:
            body = [_TRACE_ID_16, trace_id, _SPAN_ID_8, span_id, _PARENT_ID_8, parent]
        else:
            body = _span_ids(trace_id, span_id, parent)
    else:
        body = _span_ids(trace_id, span_id, parent)
    body.append(_span_name(s.name))
    body.append(_span_kind(s.kind))
    body.append(_span_times(s.start_ns, s.end_ns))
    body += _SPAN_ATTRIBUTES.encode(s.attributes.items())
    for trace_id, span_id in s.links:
        body.append(_span_link(trace_id, span_id))
    body.append(_span_status(s.status_code, s.status_message))
    return _record(body)


def encode_spans(spans: Sequence[SpanRecord]) -> bytes:
    """An ExportTraceServiceRequest: spans grouped by resource (first-seen order), one scope each."""
    by_resource: dict[Resource, list[bytes]] = {}
    for s in spans:
        group = by_resource.get(s.resource)
        if group is None:
            group = by_resource[s.resource] = []
        group.append(_span(s))
    return _request(by_resource)


# ---------------------------------------------------------------------------------------- logs

_LOG_TIME, _LOG_OBSERVED = (1 << 3) | _FIXED64, (11 << 3) | _FIXED64
_LOG_SEVERITY = _tag(2, _VARINT)
_LOG_SEVERITY_TEXT, _LOG_BODY = _tag(3, _LEN), _tag(5, _LEN)
_LOG_TRACE_ID, _LOG_SPAN_ID = _tag(9, _LEN), _tag(10, _LEN)
_LOG_ATTRIBUTES = _AttributeEncoder(6)
_log_event_name = _StringFields(_tag(12, _LEN))
_log_severities: dict[tuple[int, str], bytes] = {}  # (severity number, text) -> fields 2 and 3


def _log_severity(number: int, text: str) -> bytes:
    key = (number, text)
    encoded = _log_severities.get(key)
    if encoded is None:
        encoded = (_LOG_SEVERITY + _enum_varint(number) if number else b"") + (
            _field(_LOG_SEVERITY_TEXT, text.encode()) if text else b""
        )
        if type(number) is int:  # not True, which equals 1 as a key
            if len(_log_severities) >= _CACHE_LIMIT:
                _log_severities.clear()
            _log_severities[key] = encoded
    return encoded


def _log(r: LogRecord) -> bytes:
    time_ns = r.time_ns
    if not time_ns:
        time_field = b""
    elif 0 < time_ns <= _UINT64_MAX:
        time_field = _TAG_U64.pack(_LOG_TIME, time_ns)
    else:
        time_field = _fixed64_field(_LOG_TIME, time_ns)
    body = [time_field, _log_severity(r.severity_number, r.severity_text)]
    if r.body is not None:
        body.append(_field(_LOG_BODY, _field(_ANY_STRING, r.body.encode())))
    body += _LOG_ATTRIBUTES.encode(r.attributes.items())
    if r.trace_id:
        body.append(_bytes_field(_LOG_TRACE_ID, r.trace_id))
    if r.span_id:
        body.append(_bytes_field(_LOG_SPAN_ID, r.span_id))
    if time_field:
        body.append(_TAG_U64.pack(_LOG_OBSERVED, time_ns))  # observed time = time
    body.append(_log_event_name(r.event_name))
    return _record(body)


def encode_logs(logs: Sequence[LogRecord]) -> bytes:
    """An ExportLogsServiceRequest: log records grouped by resource (first-seen order), one scope each."""
    by_resource: dict[Resource, list[bytes]] = {}
    for r in logs:
        group = by_resource.get(r.resource)
        if group is None:
            group = by_resource[r.resource] = []
        group.append(_log(r))
    return _request(by_resource)


# ---------------------------------------------------------------------------------------- metrics


class _HistogramPoint:
    __slots__ = ("bounds", "count", "counts", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count, self.sum = 0, 0.0
        self.min, self.max = float("inf"), float("-inf")

    def record(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value


_METRIC_NAME, _METRIC_DESCRIPTION, _METRIC_UNIT = _tag(1, _LEN), _tag(2, _LEN), _tag(3, _LEN)
_METRIC_SUM, _METRIC_HISTOGRAM = _tag(7, _LEN), _tag(9, _LEN)
_DATA_POINT = _tag(1, _LEN)  # Sum/Histogram.data_points
_DELTA = _tag(2, _VARINT) + b"\x01"  # aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
_MONOTONIC = _tag(3, _VARINT) + b"\x01"  # Sum.is_monotonic = true
_POINT_START, _POINT_TIME = (2 << 3) | _FIXED64, (3 << 3) | _FIXED64
_HISTOGRAM_COUNT = (4 << 3) | _FIXED64
_HISTOGRAM_SUM, _HISTOGRAM_MIN, _HISTOGRAM_MAX = (bytes(((n << 3) | _FIXED64,)) for n in (5, 11, 12))
_HISTOGRAM_BUCKETS, _HISTOGRAM_BOUNDS = _tag(6, _LEN), _tag(7, _LEN)
_NUMBER_DOUBLE, _NUMBER_INT = bytes(((4 << 3) | _FIXED64,)), bytes(((6 << 3) | _FIXED64,))
_HISTOGRAM_ATTRIBUTES, _NUMBER_ATTRIBUTES = _AttributeEncoder(9), _AttributeEncoder(7)


def _point_times(start_ns: int, now_ns: int) -> bytes:
    return (_fixed64_field(_POINT_START, start_ns) if start_ns else b"") + (
        _fixed64_field(_POINT_TIME, now_ns) if now_ns else b""
    )


def _metric(name: str, unit: str, description: str, data: bytes) -> bytes:
    return _field(
        _SCOPE_RECORDS,
        (_field(_METRIC_NAME, name.encode()) if name else b"")
        + (_field(_METRIC_DESCRIPTION, description.encode()) if description else b"")
        + (_field(_METRIC_UNIT, unit.encode()) if unit else b"")
        + data,
    )


def _histogram(name: str, unit: str, description: str, points: dict[tuple, _HistogramPoint], times: bytes) -> bytes:
    data_points = []
    for key, p in points.items():
        body = [times]
        if p.count:
            body.append(_fixed64_field(_HISTOGRAM_COUNT, p.count))
        body.append(_HISTOGRAM_SUM + _F64.pack(p.sum))
        if p.counts:
            body.append(_field(_HISTOGRAM_BUCKETS, struct.pack(f"<{len(p.counts)}Q", *p.counts)))
        if p.bounds:
            body.append(_field(_HISTOGRAM_BOUNDS, struct.pack(f"<{len(p.bounds)}d", *map(float, p.bounds))))
        body += _HISTOGRAM_ATTRIBUTES.encode(key)
        body.append(_HISTOGRAM_MIN + _F64.pack(p.min))
        body.append(_HISTOGRAM_MAX + _F64.pack(p.max))
        data_points.append(_field(_DATA_POINT, b"".join(body)))
    return _metric(name, unit, description, _field(_METRIC_HISTOGRAM, b"".join(data_points) + _DELTA))


def _counter(name: str, unit: str, description: str, points: dict[tuple, float] | dict[tuple, int], times: bytes) -> bytes:
    data_points = []
    for key, v in points.items():
        value = _NUMBER_DOUBLE + _F64.pack(v) if isinstance(v, float) else _NUMBER_INT + _I64.pack(v)
        data_points.append(_field(_DATA_POINT, times + value + b"".join(_NUMBER_ATTRIBUTES.encode(key))))
    return _metric(name, unit, description, _field(_METRIC_SUM, b"".join(data_points) + _DELTA + _MONOTONIC))


def encode_metrics(spans: Sequence[SpanRecord], now_ns: int) -> bytes | None:
    """Delta metrics for the calls in this batch, or None when the batch has no calls."""
    # resource → attribute set → point
    tokens: dict[Resource, dict[tuple, _HistogramPoint]] = defaultdict(dict)
    durations: dict[Resource, dict[tuple, _HistogramPoint]] = defaultdict(dict)
    costs: dict[Resource, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
    tool_calls: dict[Resource, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    errors: dict[Resource, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    start_ns = now_ns
    op_key, provider_key, model_key = A.GEN_AI_OPERATION_NAME, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_REQUEST_MODEL
    chat, execute_tool = A.OP_CHAT, A.OP_EXECUTE_TOOL
    input_type, output_type = (A.GEN_AI_TOKEN_TYPE, "input"), (A.GEN_AI_TOKEN_TYPE, "output")
    for s in spans:
        a = s.attributes
        op = a.get(op_key)
        if op != chat and op != execute_tool:
            continue
        if s.start_ns < start_ns:
            start_ns = s.start_ns
        if A.ERROR_TYPE in a:
            errors[s.resource][((op_key, op), (A.ERROR_TYPE, a[A.ERROR_TYPE]))] += 1
        if op == execute_tool:
            tool = a.get(A.GEN_AI_TOOL_NAME, "")
            tool_calls[s.resource][((A.GEN_AI_TOOL_NAME, tool), (A.HIVE_TOOL_IS_ERROR, a.get(A.HIVE_TOOL_IS_ERROR)))] += 1
            continue
        base: tuple = ((op_key, op),)
        if provider_key in a:
            base += ((provider_key, a[provider_key]),)
        if model_key in a:
            base += ((model_key, a[model_key]),)
        resource_tokens = tokens[s.resource]
        for key, value in (
            ((*base, input_type), a.get(A.GEN_AI_USAGE_INPUT_TOKENS, 0)),
            ((*base, output_type), a.get(A.GEN_AI_USAGE_OUTPUT_TOKENS, 0)),
        ):
            point = resource_tokens.get(key)
            if point is None:
                point = resource_tokens[key] = _HistogramPoint(A.TOKEN_USAGE_BUCKETS)
            point.record(float(value))  # type: ignore[arg-type]
        resource_durations = durations[s.resource]
        point = resource_durations.get(base)
        if point is None:
            point = resource_durations[base] = _HistogramPoint(A.OPERATION_DURATION_BUCKETS)
        point.record(max(0, s.end_ns - s.start_ns) / 1e9)
        if A.HIVE_COST_USD in a:
            costs[s.resource][(*base, (A.HIVE_COST_SOURCE, a.get(A.HIVE_COST_SOURCE, "")))] += a[A.HIVE_COST_USD]  # type: ignore[operator]
    resources = set(tokens) | set(tool_calls) | set(errors)
    if not resources:
        return None

    times = _point_times(start_ns, now_ns)
    out = []
    for r in resources:
        metrics = []
        if tokens.get(r):
            metrics.append(_histogram(A.METRIC_TOKEN_USAGE, "{token}", "Tokens used per LLM call", tokens[r], times))
            metrics.append(_histogram(A.METRIC_OPERATION_DURATION, "s", "Duration of LLM calls", durations[r], times))
        if costs.get(r):
            metrics.append(_counter(A.METRIC_COST, "USD", "Runtime-reported LLM cost", costs[r], times))
        if tool_calls.get(r):
            metrics.append(_counter(A.METRIC_TOOL_CALLS, "{call}", "Tool calls", tool_calls[r], times))
        if errors.get(r):
            metrics.append(_counter(A.METRIC_ERRORS, "{error}", "Failed LLM and tool calls", errors[r], times))
        scope_items = _SCOPE_FIELD + b"".join(metrics) + _SCHEMA_URL_FIELD
        body = _resource_field(r) + _field(_SCOPE_ITEMS_FIELD, scope_items) + _SCHEMA_URL_FIELD
        out.append(_field(_TOP_FIELD, body))
    return b"".join(out)
