-- otlp_log_records_fresh looks the stored keys up with a join, not `log_key NOT IN (SELECT key FROM
-- otel_log_keys WHERE key IN (SELECT … FROM otlp_log_records))`. Planning that subquery over the
-- inserted block fails inside ClickHouse ("Cannot clone ReadFromStorage plan step", then "Query was
-- cancelled") once a block holds ~16k log records, and the view then passed no record at all: the
-- insert succeeded and every record of it was lost (one 16,384-record request, or eight 2,048-record
-- requests merged by group commit). A LEFT ANY JOIN on otel_log_keys' primary key is a direct join
-- (key look-ups, no scan); a record whose key is not stored meets the key column's default.
-- MODIFY QUERY swaps the view's query in place, so no insert meets a missing view meanwhile.

ALTER TABLE otlp_log_records_to_otlp_log_records_fresh_mv {on_cluster} MODIFY QUERY
SELECT r.* EXCEPT (log_key)
FROM (
    SELECT *, sipHash128(tenant, Timestamp, TraceId, SpanId, SeverityNumber, SeverityText, Body, EventName, ScopeName,
                         mapKeys(LogAttributes), mapValues(LogAttributes),
                         mapKeys(ResourceAttributes), mapValues(ResourceAttributes)) AS log_key
    FROM otlp_log_records
) AS r
LEFT ANY JOIN otel_log_keys AS stored ON r.log_key = stored.key
WHERE stored.key = toFixedString('', 16)
LIMIT 1 BY r.log_key;
