-- Signed change log of usage_facts: when a call's merged row changes, the collector writes a -1 row
-- carrying the old version and a +1 row carrying the new one (a new call writes only +1). Every
-- rollup is a materialized view that sums sign * measure, so it equals the current facts exactly.
CREATE TABLE IF NOT EXISTS usage_ledger {on_cluster} (
    tenant LowCardinality(String),
    call_key String,
    sign Int8,
    version UInt64,
    kind LowCardinality(String),
    user LowCardinality(String),
    session String,
    root_session String,
    colony LowCardinality(String),
    agent_role LowCardinality(String),
    model LowCardinality(String),
    provider LowCardinality(String),
    tool_name LowCardinality(String),
    occurred_at DateTime64(9, 'UTC'),
    input_tokens UInt64,
    output_tokens UInt64,
    cached_tokens UInt64,
    cache_creation_tokens UInt64,
    cost_usd Decimal(18, 10),
    cost_estimated_usd Decimal(18, 10),
    unpriced UInt8 COMMENT '1 for an LLM call with neither a runtime cost nor an estimate',
    is_error UInt8,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {engine_prefix}MergeTree
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (tenant, call_key, version, sign);
