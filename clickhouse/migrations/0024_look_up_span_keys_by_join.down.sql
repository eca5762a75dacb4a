-- Back to the query of 0015.

ALTER TABLE otlp_spans_to_otlp_spans_fresh_mv {on_cluster} MODIFY QUERY
SELECT * EXCEPT (span_key, row)
FROM (
    SELECT *, sipHash128(tenant, TraceId, SpanId) AS span_key, rowNumberInAllBlocks() AS row
    FROM otlp_spans
)
WHERE TraceId = '' OR SpanId = '' OR span_key NOT IN (
    SELECT key FROM otel_span_keys WHERE key IN (SELECT sipHash128(tenant, TraceId, SpanId) FROM otlp_spans))
LIMIT 1 BY if(TraceId = '' OR SpanId = '', toString(row), span_key);
