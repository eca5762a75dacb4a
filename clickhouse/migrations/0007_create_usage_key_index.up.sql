-- usage_key_index: for every current usage fact, the hash of (tenant, call_key) and a fingerprint of
-- its candidate fields, in memory (a Join table), so ingest tells new calls, replays and changed
-- calls apart without reading usage_facts (see hive_otel/collector/rollups/key_index.py). The view keeps
-- it up to date with every fact written; it is not persisted (persistent = 0): the store rebuilds
-- it from usage_facts FINAL whenever its sentinel row (key_hash 0) is missing, after a start or a
-- server restart. It costs about 90 bytes of memory per call. On a cluster it is per node, like
-- any Join table: point each collector at one node.
CREATE TABLE IF NOT EXISTS usage_key_index {on_cluster} (
    key_hash UInt64,
    fingerprint UInt64
) ENGINE = Join(ANY, LEFT, key_hash)
SETTINGS join_any_take_last_row = 1, persistent = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_facts_to_usage_key_index_mv {on_cluster}
TO usage_key_index
AS SELECT
    sipHash64(tenant, call_key) AS key_hash,
    sipHash64(tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role, model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd, cost_source = 'runtime', latency_ms, tool_name, is_error, error_type, occurred_at, time_rank, trace_id, span_id, execution_id, node_id, call_source, schema_version) AS fingerprint
FROM usage_facts;
