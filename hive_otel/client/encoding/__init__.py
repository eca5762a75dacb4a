"""Telemetry → OTLP export requests (serialized protobuf), one module per signal.

    traces.py   encode_spans      ExportTraceServiceRequest
    logs.py     encode_logs       ExportLogsServiceRequest
    metrics.py  encode_metrics    ExportMetricsServiceRequest (of the metrics mapping derives from spans)
    _common.py  attributes, resources, the scope and the request envelope every signal shares
    _wire.py    the protobuf wire format

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

from hive_otel.client.encoding.logs import encode_logs
from hive_otel.client.encoding.metrics import encode_metrics
from hive_otel.client.encoding.traces import encode_spans

__all__ = ["encode_logs", "encode_metrics", "encode_spans"]
