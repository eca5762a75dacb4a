DROP VIEW IF EXISTS otlp_traces_input_to_usage_staging_mv {on_cluster};
DROP VIEW IF EXISTS otlp_traces_input_to_otel_traces_mv {on_cluster};
DROP TABLE IF EXISTS otlp_traces_input {on_cluster};
