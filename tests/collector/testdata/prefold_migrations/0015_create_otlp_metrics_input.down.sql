DROP VIEW IF EXISTS otlp_metrics_input_to_otel_metrics_histogram_mv {on_cluster};
DROP VIEW IF EXISTS otlp_metrics_input_to_otel_metrics_gauge_mv {on_cluster};
DROP VIEW IF EXISTS otlp_metrics_input_to_otel_metrics_sum_mv {on_cluster};
DROP TABLE IF EXISTS otlp_metrics_input {on_cluster};
