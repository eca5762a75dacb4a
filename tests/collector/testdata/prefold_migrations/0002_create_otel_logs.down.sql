DROP TABLE IF EXISTS otel_logs {on_cluster};
