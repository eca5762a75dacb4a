-- usage_staging: the usage candidates of one ingest batch, as the trace ingest chain extracts them from
-- the spans (migration create_otlp_traces_input); the collector merges them into usage_facts /
-- usage_ledger right after the insert and never reads a batch twice. Rows expire after a day (whole
-- daily parts are dropped), so several collectors can share the table.
-- refused (last column): why a candidate out of sane bounds is not summed, empty for the others. The
-- span is still stored in otel_traces; the collector merges only candidates without a reason and
-- answers the others as rejected (OTLP partial success).
CREATE TABLE IF NOT EXISTS usage_staging {on_cluster} (
    batch UInt64,
    tenant LowCardinality(String),
    call_key String,
    kind LowCardinality(String),
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
    input_tokens UInt64,
    output_tokens UInt64,
    cached_tokens UInt64,
    cache_creation_tokens UInt64,
    cost_usd Decimal(18, 10),
    cost_source LowCardinality(String),
    latency_ms UInt64,
    tool_name LowCardinality(String),
    is_error UInt8,
    error_type LowCardinality(String),
    occurred_at DateTime64(9, 'UTC'),
    time_rank UInt8,
    trace_id String,
    span_id String,
    execution_id String,
    node_id String,
    call_source LowCardinality(String),
    schema_version LowCardinality(String),
    staged_at DateTime DEFAULT now(),
    refused LowCardinality(String) DEFAULT ''
) ENGINE = {engine_prefix}MergeTree
PARTITION BY toDate(staged_at)
ORDER BY (batch, tenant, call_key)
TTL staged_at + INTERVAL 1 DAY
SETTINGS ttl_only_drop_parts = 1;
