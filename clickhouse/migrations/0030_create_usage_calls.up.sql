-- usage_calls: every usage fact version any collector writes, merged field by field by ClickHouse
-- itself (SimpleAggregateFunction max / groupBitOr, keyed by (tenant, call_key)), so the merge is
-- order-independent and idempotent whichever collector wrote which version, and whenever parts merge.
-- It is what a call is once every version is in, even when two collectors each saw the call as new
-- (each with one half of it, or both with all of it) at the same instant. Store.settle() brings
-- usage_facts and the rollups to it (hive_otel/collector/_settle.py); the rules are those of
-- hive_otel/collector/_usage_merge.py, over the versions the collectors wrote.
CREATE TABLE IF NOT EXISTS usage_calls {on_cluster} (
    tenant LowCardinality(String),
    call_key String,
    kind SimpleAggregateFunction(max, String),
    user SimpleAggregateFunction(max, String),
    session SimpleAggregateFunction(max, String),
    root_session SimpleAggregateFunction(max, String),
    parent_session SimpleAggregateFunction(max, String),
    colony SimpleAggregateFunction(max, String),
    queen SimpleAggregateFunction(max, String),
    worker SimpleAggregateFunction(max, String),
    agent_role SimpleAggregateFunction(max, String),
    model SimpleAggregateFunction(max, String),
    provider SimpleAggregateFunction(max, String),
    input_tokens SimpleAggregateFunction(max, UInt64),
    output_tokens SimpleAggregateFunction(max, UInt64),
    cached_tokens SimpleAggregateFunction(max, UInt64),
    cache_creation_tokens SimpleAggregateFunction(max, UInt64),
    cost_usd SimpleAggregateFunction(max, Decimal(18, 10)),
    runtime_priced SimpleAggregateFunction(max, UInt8) COMMENT '1 when any version was priced by the runtime',
    estimated_source SimpleAggregateFunction(max, String) COMMENT 'estimated:genai-prices-<version>, or empty',
    cost_estimated_usd SimpleAggregateFunction(max, Decimal(18, 10)),
    latency_ms SimpleAggregateFunction(max, UInt64),
    tool_name SimpleAggregateFunction(max, String),
    is_error SimpleAggregateFunction(max, UInt8),
    error_type SimpleAggregateFunction(max, String),
    time SimpleAggregateFunction(max, Tuple(UInt8, DateTime64(9, 'UTC'))) COMMENT '(time_rank, occurred_at)',
    ids SimpleAggregateFunction(max, Tuple(String, String)) COMMENT '(trace_id, span_id)',
    execution_id SimpleAggregateFunction(max, String),
    node_id SimpleAggregateFunction(max, String),
    call_source_bits SimpleAggregateFunction(groupBitOr, UInt8) COMMENT '1 event, 2 log',
    schema_version SimpleAggregateFunction(max, String),
    version SimpleAggregateFunction(max, UInt64)
) ENGINE = {engine_prefix}AggregatingMergeTree
ORDER BY (tenant, call_key)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_facts_to_usage_calls_mv {on_cluster}
TO usage_calls
AS SELECT
    tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role,
    model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd,
    toUInt8(cost_source = 'runtime') AS runtime_priced,
    if(startsWith(cost_source, 'estimated:'), cost_source, '') AS estimated_source,
    cost_estimated_usd, latency_ms, tool_name, is_error, error_type,
    (time_rank, occurred_at) AS time,
    (trace_id, span_id) AS ids,
    execution_id, node_id,
    toUInt8(bitOr(position(call_source, 'event') > 0, 2 * (position(call_source, 'log') > 0))) AS call_source_bits,
    schema_version, version
FROM usage_facts;

-- The facts stored before this migration.
INSERT INTO usage_calls
SELECT
    tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role,
    model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd,
    toUInt8(cost_source = 'runtime'), if(startsWith(cost_source, 'estimated:'), cost_source, ''),
    cost_estimated_usd, latency_ms, tool_name, is_error, error_type, (time_rank, occurred_at), (trace_id, span_id),
    execution_id, node_id,
    toUInt8(bitOr(position(call_source, 'event') > 0, 2 * (position(call_source, 'log') > 0))),
    schema_version, version
FROM usage_facts FINAL;
