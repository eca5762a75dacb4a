-- usage_facts: one row per LLM call and per tool call (seed §5 UsageEvent), keyed by (tenant, call_key).
-- The collector writes a new version only when a call's merged fields change, so `FINAL`
-- (or argMax by version) always reads exactly one current row per call. Never expires: it is the bill.
-- ZSTD(1) rather than the default LZ4: call keys and span ids are random hex, which LZ4 hardly
-- compresses (measured: 55 -> 31 bytes per call on disk).
CREATE TABLE IF NOT EXISTS usage_facts {on_cluster} (
    tenant LowCardinality(String) CODEC(ZSTD(1)),
    call_key String CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'llm | tool',
    user LowCardinality(String) CODEC(ZSTD(1)),
    session String CODEC(ZSTD(1)),
    root_session String CODEC(ZSTD(1)),
    parent_session String CODEC(ZSTD(1)),
    colony LowCardinality(String) CODEC(ZSTD(1)),
    queen LowCardinality(String) CODEC(ZSTD(1)),
    worker String CODEC(ZSTD(1)),
    agent_role LowCardinality(String) CODEC(ZSTD(1)),
    model LowCardinality(String) CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(ZSTD(1)) COMMENT 'includes cached_tokens',
    output_tokens UInt64 CODEC(ZSTD(1)),
    cached_tokens UInt64 CODEC(ZSTD(1)),
    cache_creation_tokens UInt64 CODEC(ZSTD(1)),
    cost_usd Decimal(18, 10) CODEC(ZSTD(1)) COMMENT 'cost the runtime reported; 0 when it did not price the call',
    cost_source LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'runtime | estimated:genai-prices-<version> | unpriced; empty for tools',
    cost_estimated_usd Decimal(18, 10) CODEC(ZSTD(1)) COMMENT 'genai-prices estimate, only when the runtime did not price the call',
    latency_ms UInt64 CODEC(ZSTD(1)),
    tool_name LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'ok | error',
    is_error UInt8 CODEC(ZSTD(1)),
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    occurred_at DateTime64(9, 'UTC') CODEC(ZSTD(1)),
    time_rank UInt8 CODEC(ZSTD(1)) COMMENT '1 when occurred_at came from a bus event, 0 from a log line',
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    execution_id String CODEC(ZSTD(1)),
    node_id String CODEC(ZSTD(1)),
    call_source LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'event | log | event+log',
    schema_version LowCardinality(String) CODEC(ZSTD(1)),
    version UInt64 CODEC(ZSTD(1)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(ZSTD(1))
) ENGINE = {engine_prefix}ReplacingMergeTree(version)
ORDER BY (tenant, call_key)
SETTINGS index_granularity = 1024;
