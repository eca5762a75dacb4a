"""Spans → an OTLP ``ExportTraceServiceRequest`` (trace.proto), serialized.

Spans are grouped by resource in first-seen order, one scope each. Span names, kinds, statuses and
ids of the usual sizes take precomputed or cached encodings: the common case is a few joins.
"""

from __future__ import annotations

from collections.abc import Sequence

from hive_otel.client.encoding._common import AttributeEncoder, grouped_request, record
from hive_otel.client.encoding._wire import (
    FIXED64,
    LEN,
    TWO_TAG_U64,
    UINT64_MAX,
    VARINT,
    StringFields,
    bytes_field,
    enum_varint,
    field,
    fixed64_field,
    remember,
    tag,
    varint,
)
from hive_otel.client.mapping.telemetry import SpanKind, SpanRecord

__all__ = ["encode_spans"]

_SPAN_TRACE_ID, _SPAN_SPAN_ID, _SPAN_PARENT_ID = tag(1, LEN), tag(2, LEN), tag(4, LEN)
_SPAN_KIND = tag(6, VARINT)
_SPAN_START, _SPAN_END = (7 << 3) | FIXED64, (8 << 3) | FIXED64
_SPAN_LINK, _SPAN_STATUS = tag(13, LEN), tag(15, LEN)
_LINK_TRACE_ID, _LINK_SPAN_ID = tag(1, LEN), tag(2, LEN)
_STATUS_MESSAGE, _STATUS_CODE = tag(2, LEN), tag(3, VARINT)
_SPAN_ATTRIBUTES = AttributeEncoder(9)
_span_name = StringFields(tag(5, LEN))
_SPAN_KINDS = {kind: _SPAN_KIND + varint(kind.value) for kind in SpanKind}
# Tag and length of ids of the usual sizes (16-byte trace ids, 8-byte span ids), written in one go.
_TRACE_ID_16, _SPAN_ID_8, _PARENT_ID_8 = _SPAN_TRACE_ID + b"\x10", _SPAN_SPAN_ID + b"\x08", _SPAN_PARENT_ID + b"\x08"
_LINK_16_8 = _SPAN_LINK + b"\x1c" + _LINK_TRACE_ID + b"\x10"  # a link of a 16-byte and an 8-byte id
_LINK_SPAN_ID_8 = _LINK_SPAN_ID + b"\x08"
_span_statuses: dict[tuple[int, str], bytes] = {}


def _span_ids(trace_id: bytes, span_id: bytes, parent: bytes) -> list[bytes]:
    """Span fields 1, 2 and 4, whatever their sizes (the regular sizes take a faster path)."""
    return [
        bytes_field(_SPAN_TRACE_ID, trace_id) if trace_id else b"",
        bytes_field(_SPAN_SPAN_ID, span_id) if span_id else b"",
        bytes_field(_SPAN_PARENT_ID, parent) if parent else b"",
    ]


def _span_kind(kind: int) -> bytes:
    encoded = _SPAN_KINDS.get(kind) if type(kind) is SpanKind else None  # type: ignore[call-overload]
    if encoded is None:
        encoded = _SPAN_KIND + enum_varint(int(kind)) if kind else b""
    return encoded


def _span_times(start: int, end: int) -> bytes:
    if 0 < start <= UINT64_MAX and 0 < end <= UINT64_MAX:
        return TWO_TAG_U64.pack(_SPAN_START, start, _SPAN_END, end)
    return (fixed64_field(_SPAN_START, start) if start else b"") + (fixed64_field(_SPAN_END, end) if end else b"")


def _span_link(trace_id: bytes, span_id: bytes) -> bytes:
    if type(trace_id) is bytes and type(span_id) is bytes and len(trace_id) == 16 and len(span_id) == 8:
        return _LINK_16_8 + trace_id + _LINK_SPAN_ID_8 + span_id
    link = (bytes_field(_LINK_TRACE_ID, trace_id) if trace_id else b"") + (
        bytes_field(_LINK_SPAN_ID, span_id) if span_id else b""
    )
    return field(_SPAN_LINK, link)


def _span_status(code: int, message: str) -> bytes:
    """The status field: always present (the reference always sets it), empty when UNSET with no message."""
    key = (code, message)
    encoded = _span_statuses.get(key)
    if encoded is None:
        body = (field(_STATUS_MESSAGE, message.encode()) if message else b"") + (
            _STATUS_CODE + enum_varint(int(code)) if code else b""
        )
        encoded = remember(_span_statuses, key, field(_SPAN_STATUS, body))
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
    return record(body)


def encode_spans(spans: Sequence[SpanRecord]) -> bytes:
    """An ExportTraceServiceRequest: spans grouped by resource (first-seen order), one scope each."""
    return grouped_request(spans, _span)
