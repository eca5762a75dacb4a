DROP TABLE IF EXISTS otel_metrics_histogram {on_cluster};
