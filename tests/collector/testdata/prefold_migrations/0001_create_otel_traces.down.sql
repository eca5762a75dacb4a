DROP VIEW IF EXISTS otel_traces_trace_id_ts_mv {on_cluster};
DROP TABLE IF EXISTS otel_traces_trace_id_ts {on_cluster};
DROP TABLE IF EXISTS otel_traces {on_cluster};
