DROP TABLE IF EXISTS otel_metrics_gauge {on_cluster};
