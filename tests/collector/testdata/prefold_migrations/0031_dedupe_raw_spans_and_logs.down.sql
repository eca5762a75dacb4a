DROP VIEW IF EXISTS otel_logs_to_otel_log_keys_mv {on_cluster};
DROP VIEW IF EXISTS otlp_log_records_fresh_to_otel_logs_mv {on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_log_records_to_otel_logs_mv {on_cluster}
TO otel_logs
AS SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName
FROM otlp_log_records;

DROP VIEW IF EXISTS otlp_log_records_to_otlp_log_records_fresh_mv {on_cluster};
DROP TABLE IF EXISTS otlp_log_records_fresh {on_cluster};
DROP TABLE IF EXISTS otel_log_keys {on_cluster};

DROP VIEW IF EXISTS otel_traces_to_otel_span_keys_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_fresh_to_otel_traces_mv {on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_to_otel_traces_mv {on_cluster}
TO otel_traces
AS SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes,
    ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Timestamp`, `Events.Name`,
    `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
FROM otlp_spans;

DROP VIEW IF EXISTS otlp_spans_to_otlp_spans_fresh_mv {on_cluster};
DROP TABLE IF EXISTS otlp_spans_fresh {on_cluster};
DROP TABLE IF EXISTS otel_span_keys {on_cluster};
