-- otlp_spans_fresh looks the stored keys up with a join, as otlp_log_records_fresh does since 0023,
-- not `span_key NOT IN (SELECT key FROM otel_span_keys WHERE key IN (SELECT … FROM otlp_spans))`.
-- Planning that subquery over the inserted block fails inside ClickHouse on every insert ("Cannot
-- clone ReadFromStorage plan step" in system.errors) and falls back to another plan; for log records
-- the fallback passed nothing once a block held ~16k of them. Spans were still stored whole (checked
-- up to 150,000 in one insert), but the same construct is not kept where it lost data next door.
-- A LEFT ANY JOIN on otel_span_keys' primary key is a direct join (key look-ups, no scan); a span
-- whose key is not stored meets the key column's default. Spans without valid ids are never dropped.
-- MODIFY QUERY swaps the view's query in place, so no insert meets a missing view meanwhile.

ALTER TABLE otlp_spans_to_otlp_spans_fresh_mv {on_cluster} MODIFY QUERY
SELECT r.* EXCEPT (span_key, row)
FROM (
    SELECT *, sipHash128(tenant, TraceId, SpanId) AS span_key, rowNumberInAllBlocks() AS row
    FROM otlp_spans
) AS r
LEFT ANY JOIN otel_span_keys AS stored ON r.span_key = stored.key
WHERE r.TraceId = '' OR r.SpanId = '' OR stored.key = toFixedString('', 16)
LIMIT 1 BY if(r.TraceId = '' OR r.SpanId = '', toString(r.row), r.span_key);
