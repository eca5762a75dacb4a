-- hive_otel.collector.rollups.key_index.candidates_sql: every staged row of the batches, its candidate
-- columns, whether it equals its stored fact, whether a fact is stored, and whether the index is ready
-- ({fields}: the candidate columns; {fingerprint}, {stored}, {index_ready}: the index's expressions;
-- {batches}: batch numbers, integers).
SELECT batch, tenant, call_key, refused, {fields}, toUInt8(cost_source = 'runtime') AS runtime_priced,
    ifNull({fingerprint} = {stored}, 0) AS same, {stored} IS NOT NULL AS stored,
    {index_ready} AS index_ready
FROM usage_staging
WHERE batch IN ({batches})
