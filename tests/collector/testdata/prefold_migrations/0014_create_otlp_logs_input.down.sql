DROP VIEW IF EXISTS otlp_logs_input_to_otel_logs_mv {on_cluster};
DROP TABLE IF EXISTS otlp_logs_input {on_cluster};
