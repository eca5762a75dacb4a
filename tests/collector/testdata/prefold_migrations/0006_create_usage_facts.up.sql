-- One row per LLM call and per tool call (seed §5 UsageEvent), keyed by (tenant, call_key).
-- The collector writes a new version only when a call's merged fields change, so `FINAL`
-- (or argMax by version) always reads exactly one current row per call.
CREATE TABLE IF NOT EXISTS usage_facts {on_cluster} (
    tenant LowCardinality(String),
    call_key String,
    kind LowCardinality(String) COMMENT 'llm | tool',
    user LowCardinality(String),
    session String,
    root_session String,
    parent_session String,
    colony LowCardinality(String),
    queen LowCardinality(String),
    worker String,
    agent_role LowCardinality(String),
    model LowCardinality(String),
    provider LowCardinality(String),
    input_tokens UInt64 COMMENT 'includes cached_tokens',
    output_tokens UInt64,
    cached_tokens UInt64,
    cache_creation_tokens UInt64,
    cost_usd Decimal(18, 10) COMMENT 'cost the runtime reported; 0 when it did not price the call',
    cost_source LowCardinality(String) COMMENT 'runtime | estimated:genai-prices-<version> | unpriced; empty for tools',
    cost_estimated_usd Decimal(18, 10) COMMENT 'genai-prices estimate, only when the runtime did not price the call',
    latency_ms UInt64,
    tool_name LowCardinality(String),
    status LowCardinality(String) COMMENT 'ok | error',
    is_error UInt8,
    error_type LowCardinality(String),
    occurred_at DateTime64(9, 'UTC'),
    time_rank UInt8 COMMENT '1 when occurred_at came from a bus event, 0 from a log line',
    trace_id String,
    span_id String,
    execution_id String,
    node_id String,
    call_source LowCardinality(String) COMMENT 'event | log | event+log',
    schema_version LowCardinality(String),
    version UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {engine_prefix}ReplacingMergeTree(version)
ORDER BY (tenant, call_key)
SETTINGS index_granularity = 1024;
