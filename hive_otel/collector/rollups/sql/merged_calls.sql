-- hive_otel.collector.rollups.settle.MERGED_SQL: one row per call, usage_calls merged (FINAL applies the
-- columns' max/groupBitOr in key order, cheaper than a GROUP BY over every key), in the columns of a fact.
SELECT
    tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role,
    model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd,
    multiIf(kind != 'llm', '', runtime_priced = 1, 'runtime', estimated_source != '', estimated_source, 'unpriced')
        AS cost_source,
    if(kind = 'llm' AND runtime_priced = 0, cost_estimated_usd, toDecimal64(0, 10)) AS cost_estimated_usd,
    latency_ms, tool_name, is_error, if(is_error = 1, 'error', 'ok') AS status, error_type,
    time.1 AS time_rank, time.2 AS occurred_at, ids.2 AS trace_id, ids.3 AS span_id, execution_id, node_id,
    ['', 'event', 'log', 'event+log'][call_source_bits + 1] AS call_source, schema_version, version
FROM usage_calls FINAL
