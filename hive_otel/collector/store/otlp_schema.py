"""The OTLP subset ClickHouse parses for us, and the three fields the collector appends to a request.

ClickHouse reads each OTLP export request as one ``ProtobufSingle`` row into a Null table
(``otlp_{traces,logs,metrics}_input``, see clickhouse/migrations/0015-0017) and flattens it with
materialized views, so ingest never walks span attributes in Python. This is a wire-compatible
subset of opentelemetry-proto (same field numbers; enums as int32); fields it leaves out are
skipped. ``tests/collector/test_migrations.py`` checks every field against the real descriptors.
Values nested deeper than the tables' columns go (key-value lists, arrays in arrays) are refused by
the input tables (migration 0025) and rewritten by :mod:`hive_otel.collector.store.nested_values`.

The schema travels inline with each insert (``format_schema_source='string'``), so the same insert
works on chDB and on a ClickHouse server without installing a .proto file there.
"""

from __future__ import annotations

TENANT_FIELD = 1000
BATCH_FIELD = 1001
ALLOW_ALL_KEYS_FIELD = 1002

OTLP_SUBSET_PROTO = """
syntax = "proto3";
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope {
  string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4;
}
message Status { string message = 2; int32 code = 3; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated Event events = 11; repeated Link links = 13; Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest {
  repeated ResourceSpans resource_spans = 1; string hive_tenant = 1000; uint64 hive_batch = 1001;
  bool hive_allow_all_keys = 1002;
}
message LogRecord {
  fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11; int32 severity_number = 2;
  string severity_text = 3; AnyValue body = 5; repeated KeyValue attributes = 6; fixed32 flags = 8;
  bytes trace_id = 9; bytes span_id = 10; string event_name = 12;
}
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ExportLogsServiceRequest {
  repeated ResourceLogs resource_logs = 1; string hive_tenant = 1000; uint64 hive_batch = 1001;
  bool hive_allow_all_keys = 1002;
}
message Exemplar {
  repeated KeyValue filtered_attributes = 7; fixed64 time_unix_nano = 2; double as_double = 3; sfixed64 as_int = 6;
  bytes span_id = 4; bytes trace_id = 5;
}
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  double as_double = 4; sfixed64 as_int = 6; repeated Exemplar exemplars = 5; uint32 flags = 8;
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4;
  double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
  repeated Exemplar exemplars = 8; uint32 flags = 10; double min = 11; double max = 12;
}
message Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2; }
message ExponentialHistogramDataPoint {
  repeated KeyValue attributes = 1; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4;
  double sum = 5; sint32 scale = 6; fixed64 zero_count = 7; Buckets positive = 8; Buckets negative = 9;
  uint32 flags = 10; repeated Exemplar exemplars = 11; double min = 12; double max = 13; double zero_threshold = 14;
}
message ValueAtQuantile { double quantile = 1; double value = 2; }
message SummaryDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4;
  double sum = 5; repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8;
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Summary { repeated SummaryDataPoint data_points = 1; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data {
    Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10;
    Summary summary = 11;
  }
}
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ExportMetricsServiceRequest {
  repeated ResourceMetrics resource_metrics = 1; string hive_tenant = 1000; uint64 hive_batch = 1001;
  bool hive_allow_all_keys = 1002;
}
"""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def ingest_trailer(tenant: str | None, batch: int, allow_all_keys: bool = False) -> bytes:
    """Encoded ``hive_tenant`` / ``hive_batch`` / ``hive_allow_all_keys`` fields to append to a request.

    Protobuf merges concatenated messages, so appending these top-level fields to the client's bytes
    adds them without copying or mutating the caller's request object. The store first removes any
    top-level field a client sent with these numbers (see ``Store._request_bytes``), so each appears
    once and a client cannot choose its own tenant or switch the allowlist off.
    """
    out = b""
    if tenant:
        raw = tenant.encode("utf-8")
        out += _varint(TENANT_FIELD << 3 | 2) + _varint(len(raw)) + raw
    out += _varint(BATCH_FIELD << 3) + _varint(batch)
    if allow_all_keys:
        out += _varint(ALLOW_ALL_KEYS_FIELD << 3) + b"\x01"
    return out


def delimited(*parts: bytes) -> tuple[bytes, ...]:
    """One row of ClickHouse's ``Protobuf`` input format: the message (``parts``, concatenated),
    prefixed by its length. Returned unjoined: the caller joins every row of an insert at once,
    copying a request's megabytes once rather than once per step."""
    return (_varint(sum(map(len, parts))), *parts)
