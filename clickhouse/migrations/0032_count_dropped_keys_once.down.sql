-- Back to 0015 and 0016: the views count the keys dropped from every span and log record delivered.
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'traces' AS signal, sum(dropped_attributes) AS dropped_attributes
FROM otlp_spans
GROUP BY tenant
HAVING dropped_attributes > 0;

DROP VIEW IF EXISTS otlp_spans_fresh_to_redaction_dropped_attributes_mv {on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_log_records_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'logs' AS signal, sum(dropped_attributes) AS dropped_attributes
FROM otlp_log_records
GROUP BY tenant
HAVING dropped_attributes > 0;

DROP VIEW IF EXISTS otlp_log_records_fresh_to_redaction_dropped_attributes_mv {on_cluster};
