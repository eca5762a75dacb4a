DROP VIEW IF EXISTS otel_logs_to_otel_log_keys_mv {on_cluster};
DROP TABLE IF EXISTS otel_log_keys {on_cluster};
DROP TABLE IF EXISTS otel_logs {on_cluster};
