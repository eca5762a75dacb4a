DROP TABLE IF EXISTS otel_metrics_sum {on_cluster};
