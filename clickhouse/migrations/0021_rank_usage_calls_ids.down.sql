-- Back to 0008's usage_calls: the largest (trace_id, span_id) of any version.
DROP VIEW IF EXISTS usage_facts_to_usage_calls_mv {on_cluster};
DROP TABLE IF EXISTS usage_calls {on_cluster};

CREATE TABLE IF NOT EXISTS usage_calls {on_cluster} (
    tenant LowCardinality(String) CODEC(ZSTD(1)),
    call_key String CODEC(ZSTD(1)),
    kind SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    user SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    session SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    root_session SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    parent_session SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    colony SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    queen SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    worker SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    agent_role SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    model SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    provider SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    input_tokens SimpleAggregateFunction(max, UInt64) CODEC(ZSTD(1)),
    output_tokens SimpleAggregateFunction(max, UInt64) CODEC(ZSTD(1)),
    cached_tokens SimpleAggregateFunction(max, UInt64) CODEC(ZSTD(1)),
    cache_creation_tokens SimpleAggregateFunction(max, UInt64) CODEC(ZSTD(1)),
    cost_usd SimpleAggregateFunction(max, Decimal(18, 10)) CODEC(ZSTD(1)),
    runtime_priced SimpleAggregateFunction(max, UInt8) CODEC(ZSTD(1)) COMMENT '1 when any version was priced by the runtime',
    estimated_source SimpleAggregateFunction(max, String) CODEC(ZSTD(1)) COMMENT 'estimated:genai-prices-<version>, or empty',
    cost_estimated_usd SimpleAggregateFunction(max, Decimal(18, 10)) CODEC(ZSTD(1)),
    latency_ms SimpleAggregateFunction(max, UInt64) CODEC(ZSTD(1)),
    tool_name SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    is_error SimpleAggregateFunction(max, UInt8) CODEC(ZSTD(1)),
    error_type SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    time SimpleAggregateFunction(max, Tuple(UInt8, DateTime64(9, 'UTC'))) CODEC(ZSTD(1)) COMMENT '(time_rank, occurred_at)',
    ids SimpleAggregateFunction(max, Tuple(String, String)) CODEC(ZSTD(1)) COMMENT '(trace_id, span_id)',
    execution_id SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    node_id SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    call_source_bits SimpleAggregateFunction(groupBitOr, UInt8) CODEC(ZSTD(1)) COMMENT '1 event, 2 log',
    schema_version SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    version SimpleAggregateFunction(max, UInt64) CODEC(ZSTD(1))
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

-- Rebuilt from every fact version usage_facts still holds (not FINAL: settle merges them all again).
INSERT INTO usage_calls
SELECT
    tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role,
    model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd,
    toUInt8(cost_source = 'runtime'), if(startsWith(cost_source, 'estimated:'), cost_source, ''),
    cost_estimated_usd, latency_ms, tool_name, is_error, error_type, (time_rank, occurred_at), (trace_id, span_id),
    execution_id, node_id,
    toUInt8(bitOr(position(call_source, 'event') > 0, 2 * (position(call_source, 'log') > 0))),
    schema_version, version
FROM usage_facts;
