-- Back to the query of 0016.

ALTER TABLE otlp_log_records_to_otlp_log_records_fresh_mv {on_cluster} MODIFY QUERY
SELECT * EXCEPT (log_key)
FROM (
    SELECT *, sipHash128(tenant, Timestamp, TraceId, SpanId, SeverityNumber, SeverityText, Body, EventName, ScopeName,
                         mapKeys(LogAttributes), mapValues(LogAttributes),
                         mapKeys(ResourceAttributes), mapValues(ResourceAttributes)) AS log_key
    FROM otlp_log_records
)
WHERE log_key NOT IN (
    SELECT key FROM otel_log_keys WHERE key IN (
        SELECT sipHash128(tenant, Timestamp, TraceId, SpanId, SeverityNumber, SeverityText, Body, EventName, ScopeName,
                          mapKeys(LogAttributes), mapValues(LogAttributes),
                          mapKeys(ResourceAttributes), mapValues(ResourceAttributes))
        FROM otlp_log_records))
LIMIT 1 BY log_key;
