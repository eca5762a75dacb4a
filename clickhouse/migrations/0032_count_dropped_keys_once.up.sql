-- redaction_dropped_attributes counts the keys dropped from the spans and log records that are stored,
-- read from otlp_spans_fresh / otlp_log_records_fresh (the rows not stored before), not from every row
-- delivered: a request sent again (a client's retry after a lost acknowledgement, a replay) stores no
-- span or log record again, and counted its dropped keys again. Metric points are stored again when
-- sent again (at-least-once), and their view is unchanged. A view's source table cannot be swapped in
-- place (MODIFY QUERY keeps it), so each view is created anew on its fresh table before the old one goes:
-- an insert meanwhile counts its keys twice rather than not at all.
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_fresh_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'traces' AS signal, sum(dropped_attributes) AS dropped_attributes
FROM otlp_spans_fresh
GROUP BY tenant
HAVING dropped_attributes > 0;

DROP VIEW IF EXISTS otlp_spans_to_redaction_dropped_attributes_mv {on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_log_records_fresh_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'logs' AS signal, sum(dropped_attributes) AS dropped_attributes
FROM otlp_log_records_fresh
GROUP BY tenant
HAVING dropped_attributes > 0;

DROP VIEW IF EXISTS otlp_log_records_to_redaction_dropped_attributes_mv {on_cluster};
