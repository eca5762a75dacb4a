-- hive_otel.collector.rollups.settle.facts_sql: write the merged row of every call whose stored fact differs
-- from it, as a version above them all ({merged}: merged_calls; {fingerprint}, {stored}: the key index's
-- expressions, hive_otel.collector.rollups.key_index).
INSERT INTO usage_facts (
    tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role,
    model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd, cost_source,
    cost_estimated_usd, latency_ms, tool_name, status, is_error, error_type, occurred_at, time_rank, trace_id,
    span_id, execution_id, node_id, call_source, schema_version, version)
SELECT
    tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role,
    model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd, cost_source,
    cost_estimated_usd, latency_ms, tool_name, status, is_error, error_type, occurred_at, time_rank, trace_id,
    span_id, execution_id, node_id, call_source, schema_version, version + 1
FROM ({merged})
WHERE ifNull({fingerprint} != {stored}, 1)
