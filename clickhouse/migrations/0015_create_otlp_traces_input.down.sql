DROP VIEW IF EXISTS otlp_traces_input_to_otlp_spans_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_to_redaction_dropped_attributes_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_to_usage_staging_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_to_otlp_spans_fresh_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_fresh_to_otel_traces_mv {on_cluster};
DROP TABLE IF EXISTS otlp_spans_fresh {on_cluster};
DROP TABLE IF EXISTS otlp_spans {on_cluster};
DROP TABLE IF EXISTS otlp_traces_input {on_cluster};
