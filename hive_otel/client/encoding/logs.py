"""Log records → an OTLP ``ExportLogsServiceRequest`` (logs.proto), serialized.

Records are grouped by resource in first-seen order, one scope each; the observed time is the
record's time, and severities and event names take cached encodings.
"""

from __future__ import annotations

from collections.abc import Sequence

from hive_otel.client.encoding._common import ANY_STRING, AttributeEncoder, grouped_request, record
from hive_otel.client.encoding._wire import (
    FIXED64,
    LEN,
    TAG_U64,
    UINT64_MAX,
    VARINT,
    StringFields,
    bytes_field,
    enum_varint,
    field,
    fixed64_field,
    remember,
    tag,
)
from hive_otel.client.mapping.telemetry import LogRecord

__all__ = ["encode_logs"]

_LOG_TIME, _LOG_OBSERVED = (1 << 3) | FIXED64, (11 << 3) | FIXED64
_LOG_SEVERITY = tag(2, VARINT)
_LOG_SEVERITY_TEXT, _LOG_BODY = tag(3, LEN), tag(5, LEN)
_LOG_TRACE_ID, _LOG_SPAN_ID = tag(9, LEN), tag(10, LEN)
_TRACE_ID_16, _SPAN_ID_8 = _LOG_TRACE_ID + b"\x10", _LOG_SPAN_ID + b"\x08"
_LOG_ATTRIBUTES = AttributeEncoder(6)
_log_event_name = StringFields(tag(12, LEN))
_log_severities: dict[tuple[int, str], bytes] = {}  # (severity number, text) -> fields 2 and 3


def _log_severity(number: int, text: str) -> bytes:
    key = (number, text)
    encoded = _log_severities.get(key)
    if encoded is None:
        encoded = (_LOG_SEVERITY + enum_varint(number) if number else b"") + (
            field(_LOG_SEVERITY_TEXT, text.encode()) if text else b""
        )
        if type(number) is int:  # not True, which equals 1 as a key
            remember(_log_severities, key, encoded)
    return encoded


def _log(r: LogRecord) -> bytes:
    time_ns = r.time_ns
    if not time_ns:
        time_field = b""
    elif 0 < time_ns <= UINT64_MAX:
        time_field = TAG_U64.pack(_LOG_TIME, time_ns)
    else:
        time_field = fixed64_field(_LOG_TIME, time_ns)
    body = [time_field, _log_severity(r.severity_number, r.severity_text)]
    if r.body is not None:
        body.append(field(_LOG_BODY, field(ANY_STRING, r.body.encode())))
    body += _LOG_ATTRIBUTES.encode(r.attributes.items())
    trace_id, span_id = r.trace_id, r.span_id
    if type(trace_id) is bytes and type(span_id) is bytes and len(trace_id) == 16 and len(span_id) == 8:
        body += (_TRACE_ID_16, trace_id, _SPAN_ID_8, span_id)  # the usual sizes: tag and length ready made
    else:
        if trace_id:
            body.append(bytes_field(_LOG_TRACE_ID, trace_id))
        if span_id:
            body.append(bytes_field(_LOG_SPAN_ID, span_id))
    if time_field:
        body.append(TAG_U64.pack(_LOG_OBSERVED, time_ns))  # observed time = time
    body.append(_log_event_name(r.event_name))
    return record(body)


def encode_logs(logs: Sequence[LogRecord]) -> bytes:
    """An ExportLogsServiceRequest: log records grouped by resource (first-seen order), one scope each."""
    return grouped_request(logs, _log)
