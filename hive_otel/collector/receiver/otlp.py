"""OTLP wire handling shared by the gRPC and HTTP receivers: the three signals, decoding, checks.

Nothing here does I/O. Decoding turns request bytes (protobuf or OTLP/JSON, possibly gzip) into the
opentelemetry-proto request message, or raises :class:`RequestRejected` with a message a client
developer can act on.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from zlib_ng import zlib_ng  # zlib's API; inflate and its CRC ~2.5x faster than the zlib CPython links

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class RequestRejected(Exception):
    """The request itself is unacceptable; resending it unchanged will fail again.

    ``reason`` is a short stable key for counters (``bad_protobuf``, ``too_large``, …) and
    ``http_status`` the status the HTTP receiver answers with.
    """

    def __init__(self, reason: str, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its messages, where it is served and how its items are counted."""

    name: str
    http_path: str
    grpc_service: str
    request_type: type[Message]
    response_type: type[Message]
    store_method: str
    rejected_field: str
    count_items: Callable[[Message], int]
    check_ids: Callable[[Message], None]  # raises RequestRejected naming the first wrong id
    # From the protobuf bytes: True when every id is well formed (then check_ids is not needed).
    ids_well_formed: Callable[[bytes], bool] = lambda _body: False

    def response(self, rejected: int, message: str) -> Message:
        """The Export response; ``partial_success`` is set only when something was rejected."""
        response = self.response_type()
        if rejected or message:
            setattr(response.partial_success, self.rejected_field, rejected)
            response.partial_success.error_message = message
        return response


def _grpc_service(module: object, service: str) -> str:
    """The service's full name, from the generated descriptor rather than a retyped string."""
    return module.DESCRIPTOR.services_by_name[service].full_name  # type: ignore[attr-defined]


# --- item counts (OTLP counts spans, log records and metric data points) ----------------------


def _count_spans(request: Message) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)  # type: ignore[attr-defined]


def _count_log_records(request: Message) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)  # type: ignore[attr-defined]


def _metric_points(request: Message) -> Iterator[tuple[str, Message]]:
    for r, rm in enumerate(request.resource_metrics):  # type: ignore[attr-defined]
        for s, sm in enumerate(rm.scope_metrics):
            for m, metric in enumerate(sm.metrics):
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                for p, point in enumerate(getattr(metric, kind).data_points):
                    yield f"resource_metrics[{r}].scope_metrics[{s}].metrics[{m}].{kind}.data_points[{p}]", point


def _count_data_points(request: Message) -> int:
    return sum(1 for _ in _metric_points(request))


# --- id checks: a wrong-length id would break span identity and dedup in the store -------------

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)


def _check_id(path: str, value: bytes, size: int, *, required: bool) -> None:
    if not value and not required:
        return
    if len(value) != size:
        raise RequestRejected("bad_ids", f"{path}: expected {size} bytes, got {len(value)}")
    if required and value == bytes(size):
        raise RequestRejected("bad_ids", f"{path}: must not be all zeros")


def _check_span_ids(request: Message) -> None:
    for r, rs in enumerate(request.resource_spans):  # type: ignore[attr-defined]
        for s, ss in enumerate(rs.scope_spans):
            for i, span in enumerate(ss.spans):
                # Fast path: the common well-formed span costs two length checks.
                if (
                    len(span.trace_id) == 16
                    and len(span.span_id) == 8
                    and len(span.parent_span_id) in (0, 8)
                    and not span.links
                    and span.trace_id != _ZERO_TRACE_ID
                    and span.span_id != _ZERO_SPAN_ID
                ):
                    continue
                path = f"resource_spans[{r}].scope_spans[{s}].spans[{i}]"
                _check_id(f"{path}.trace_id", span.trace_id, 16, required=True)
                _check_id(f"{path}.span_id", span.span_id, 8, required=True)
                _check_id(f"{path}.parent_span_id", span.parent_span_id, 8, required=False)
                for k, link in enumerate(span.links):
                    # A link to an invalid span context is valid OTLP: the SDKs keep one that has attributes
                    # and send its ids as zeros (stored as '', as a root span's parent id is).
                    _check_id(f"{path}.links[{k}].trace_id", link.trace_id, 16, required=False)
                    _check_id(f"{path}.links[{k}].span_id", link.span_id, 8, required=False)


def _span_ids_message() -> type[Message]:
    """``ExportTraceServiceRequest`` as the id check reads it: each span's ids, and whether it has a
    link, declared as one optional message so that asking creates no object. The span's other fields
    stay unparsed bytes.

    Why not ask the request itself: for an absent repeated field (a span's ``links``, absent on almost
    every span) upb's Python binding makes a stub and frees a small arena with it, and every 10,000
    such frees it calls ``malloc_trim(0)``, which hands all the process's free heap back to the
    kernel; the next megabyte-sized bodies then fault their pages in again. Measured with a server
    store: a third of the collector process's CPU went to the kernel zeroing those pages. (A later upb
    source has the trim compiled out; protobuf 7.36.2, the newest release, still calls it.)
    """
    proto = descriptor_pb2.FileDescriptorProto(name="hive_otel_span_ids.proto", package="hive_otel.span_ids")  # proto2
    F = descriptor_pb2.FieldDescriptorProto
    messages = {  # message -> its fields: (number, name, label, type, message type), numbered as in trace.proto
        "Link": [],
        "Span": [(1, "trace_id", F.LABEL_OPTIONAL, F.TYPE_BYTES, ""), (2, "span_id", F.LABEL_OPTIONAL, F.TYPE_BYTES, ""),
                 (4, "parent_span_id", F.LABEL_OPTIONAL, F.TYPE_BYTES, ""),
                 (13, "links", F.LABEL_OPTIONAL, F.TYPE_MESSAGE, "Link")],
        "ScopeSpans": [(2, "spans", F.LABEL_REPEATED, F.TYPE_MESSAGE, "Span")],
        "ResourceSpans": [(2, "scope_spans", F.LABEL_REPEATED, F.TYPE_MESSAGE, "ScopeSpans")],
        "Request": [(1, "resource_spans", F.LABEL_REPEATED, F.TYPE_MESSAGE, "ResourceSpans")],
    }  # fmt: skip
    for name, fields in messages.items():
        message = proto.message_type.add(name=name)
        for number, field_name, label, field_type, type_name in fields:
            message.field.add(name=field_name, number=number, label=label, type=field_type,
                              type_name=f".hive_otel.span_ids.{type_name}" if type_name else None)  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("hive_otel.span_ids.Request"))


_SpanIdsRequest = _span_ids_message()  # a message class


def _span_ids_well_formed(body: bytes) -> bool:
    """Every span's ids well formed, and no span with links (whose ids :func:`_check_span_ids` checks).
    The body has already parsed as the full request; should this narrower view still refuse it, the
    full check decides."""
    try:
        ids = _SpanIdsRequest.FromString(body)
    except (DecodeError, RecursionError):
        return False
    for rs in ids.resource_spans:  # type: ignore[attr-defined]
        for ss in rs.scope_spans:
            for span in ss.spans:
                trace_id, span_id = span.trace_id, span.span_id
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or trace_id == _ZERO_TRACE_ID
                    or span_id == _ZERO_SPAN_ID
                    or len(span.parent_span_id) not in (0, 8)
                    or span.HasField("links")
                ):
                    return False
    return True


def _check_log_ids(request: Message) -> None:
    for r, rl in enumerate(request.resource_logs):  # type: ignore[attr-defined]
        for s, sl in enumerate(rl.scope_logs):
            for i, record in enumerate(sl.log_records):
                # Fast path: ids absent or of their size (a log record's ids are optional).
                if len(record.trace_id) in (0, 16) and len(record.span_id) in (0, 8):
                    continue
                path = f"resource_logs[{r}].scope_logs[{s}].log_records[{i}]"
                _check_id(f"{path}.trace_id", record.trace_id, 16, required=False)
                _check_id(f"{path}.span_id", record.span_id, 8, required=False)


def _check_exemplar_ids(request: Message) -> None:
    for path, point in _metric_points(request):
        for e, exemplar in enumerate(getattr(point, "exemplars", ())):
            _check_id(f"{path}.exemplars[{e}].trace_id", exemplar.trace_id, 16, required=False)
            _check_id(f"{path}.exemplars[{e}].span_id", exemplar.span_id, 8, required=False)


TRACES = Signal(
    name="traces",
    http_path="/v1/traces",
    grpc_service=_grpc_service(trace_service_pb2, "TraceService"),
    request_type=trace_service_pb2.ExportTraceServiceRequest,
    response_type=trace_service_pb2.ExportTraceServiceResponse,
    store_method="ingest_traces",
    rejected_field="rejected_spans",
    count_items=_count_spans,
    check_ids=_check_span_ids,
    ids_well_formed=_span_ids_well_formed,
)
LOGS = Signal(
    name="logs",
    http_path="/v1/logs",
    grpc_service=_grpc_service(logs_service_pb2, "LogsService"),
    request_type=logs_service_pb2.ExportLogsServiceRequest,
    response_type=logs_service_pb2.ExportLogsServiceResponse,
    store_method="ingest_logs",
    rejected_field="rejected_log_records",
    count_items=_count_log_records,
    check_ids=_check_log_ids,
)
METRICS = Signal(
    name="metrics",
    http_path="/v1/metrics",
    grpc_service=_grpc_service(metrics_service_pb2, "MetricsService"),
    request_type=metrics_service_pb2.ExportMetricsServiceRequest,
    response_type=metrics_service_pb2.ExportMetricsServiceResponse,
    store_method="ingest_metrics",
    rejected_field="rejected_data_points",
    count_items=_count_data_points,
    check_ids=_check_exemplar_ids,
)
SIGNALS = (TRACES, LOGS, METRICS)


# --- body decoding ----------------------------------------------------------------------------


MAX_GZIP_MEMBERS = 16
"""Concatenated gzip members a body may hold. Exporters send one; each further member copies the rest
of the body (zlib's ``unused_data``), so a body of a million empty members would take minutes of CPU."""
CONTENT_ENCODINGS = ("gzip", "deflate")
"""What an OTLP/HTTP body may be compressed with: gzip (the one OTLP requires), and deflate (zlib's
format), which the OpenTelemetry SDKs offer (``OTEL_EXPORTER_OTLP_COMPRESSION=deflate``) and the
OpenTelemetry Collector accepts."""


def decompress_capped(data: bytes, limit: int, encoding: str = "gzip") -> bytes:
    """Decompress a gzip or deflate body, refusing to produce more than ``limit`` bytes (a bomb stops
    at the limit instead of filling memory). Up to ``MAX_GZIP_MEMBERS`` concatenated members are
    allowed, as in gzip(1)."""
    members: list[bytes] = []  # joined only if there are several: a body is megabytes, each copy costs
    size = 0
    window_bits = 16 + zlib_ng.MAX_WBITS if encoding == "gzip" else zlib_ng.MAX_WBITS
    while data:
        if len(members) == MAX_GZIP_MEMBERS:
            raise RequestRejected(f"bad_{encoding}", f"{encoding} body has more than {MAX_GZIP_MEMBERS} members")
        decompressor = zlib_ng.decompressobj(window_bits)
        try:
            member = decompressor.decompress(data, limit + 1 - size)
        except zlib_ng.error as exc:
            raise RequestRejected(f"bad_{encoding}", f"body is not valid {encoding}: {exc}") from None
        size += len(member)
        if size > limit or decompressor.unconsumed_tail:
            raise RequestRejected("too_large", f"decompressed body exceeds the limit of {limit} bytes", http_status=413)
        if not decompressor.eof:
            raise RequestRejected(f"bad_{encoding}", f"{encoding} body is truncated")
        members.append(member)
        data = decompressor.unused_data
    return members[0] if len(members) == 1 else b"".join(members)


def decode_protobuf(signal: Signal, body: bytes) -> Message:
    """Parse a binary protobuf request and check its ids."""
    request = signal.request_type()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError) as exc:
        raise RequestRejected(
            "bad_protobuf",
            f"body is not a valid {signal.request_type.DESCRIPTOR.name} protobuf (garbage or truncated): {exc}",
        ) from None
    if not signal.ids_well_formed(body):
        signal.check_ids(request)
    return request


# OTLP/JSON writes ids as hex; protobuf's JSON mapping expects base64 for bytes fields.
_HEX_ID_LENGTHS = {
    "traceId": 32,
    "trace_id": 32,
    "spanId": 16,
    "span_id": 16,
    "parentSpanId": 16,
    "parent_span_id": 16,
}
_HEX = re.compile(r"[0-9a-fA-F]*")


def _hex_ids_to_base64(document: object) -> None:
    """Rewrite every hex id in an OTLP/JSON document to base64, in place.

    Only message fields are JSON object keys in OTLP/JSON (attribute keys are values of a ``key``
    field), so an id key can be recognised wherever it appears.
    """
    stack: list[tuple[object, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                size = _HEX_ID_LENGTHS.get(key)
                if size is not None:
                    node[key] = _hex_to_base64(f"{path}.{key}".lstrip("."), value, size)
                elif isinstance(value, dict | list):
                    stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node) if isinstance(item, dict | list))


def _hex_to_base64(path: str, value: object, size: int) -> str:
    if value == "":
        return ""  # an unset id; the id checks decide whether it was required
    if not isinstance(value, str) or len(value) != size or not _HEX.fullmatch(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise RequestRejected("bad_ids", f"{path}: expected {size} hex characters, got {shown}")
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def decode_json(signal: Signal, body: bytes) -> Message:
    """Parse an OTLP/JSON request (hex ids, lowerCamelCase, enums as ints) and check its ids.

    Unknown fields are ignored, as the OTLP specification requires of receivers.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RequestRejected("bad_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestRejected("bad_json", f"expected a JSON object, got {type(document).__name__}")
    _hex_ids_to_base64(document)
    request = signal.request_type()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError) as exc:
        raise RequestRejected(
            "bad_json", f"body is not a valid OTLP/JSON {signal.request_type.DESCRIPTOR.name}: {exc}"
        ) from None
    signal.check_ids(request)
    return request


# --- response encoding ------------------------------------------------------------------------


def encode(message: Message, media_type: str) -> bytes:
    """A response message in the request's encoding (OTLP/JSON for JSON, else binary protobuf)."""
    if media_type == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def status_message(grpc_code: int, message: str) -> status_pb2.Status:
    """The ``google.rpc.Status`` body OTLP/HTTP sends with every 4xx/5xx."""
    return status_pb2.Status(code=grpc_code, message=message)
