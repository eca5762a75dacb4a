DROP VIEW IF EXISTS otlp_logs_input_to_otlp_log_records_mv {on_cluster};
DROP VIEW IF EXISTS otlp_log_records_to_redaction_dropped_attributes_mv {on_cluster};
DROP VIEW IF EXISTS otlp_log_records_to_otlp_log_records_fresh_mv {on_cluster};
DROP VIEW IF EXISTS otlp_log_records_fresh_to_otel_logs_mv {on_cluster};
DROP TABLE IF EXISTS otlp_log_records_fresh {on_cluster};
DROP TABLE IF EXISTS otlp_log_records {on_cluster};
DROP TABLE IF EXISTS otlp_logs_input {on_cluster};
