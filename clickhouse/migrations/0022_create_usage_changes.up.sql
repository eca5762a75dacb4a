-- One insert per ingest for the usage path. The store writes the calls an ingest changed into
-- usage_changes (a Null table): one row per new fact version (sign +1, is_fact 1) and one per version it
-- replaces (sign -1, is_fact 0). Two views fan them out: the facts to usage_facts (whose views keep the
-- key index and usage_calls), every row to usage_ledger (whose views keep the rollups). The facts and
-- the ledger used to be two inserts, each paying ClickHouse's fixed cost per insert
-- (bench/results/ingest_split.json), and a new call's +1 ledger row was a second copy of its fact.
CREATE TABLE IF NOT EXISTS usage_changes {on_cluster} (
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
    cost_estimated_usd Decimal(18, 10),
    latency_ms UInt64,
    tool_name LowCardinality(String),
    status LowCardinality(String),
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
    version UInt64,
    sign Int8,
    unpriced UInt8 COMMENT '1 for an LLM call with neither a runtime cost nor an estimate',
    is_fact UInt8 COMMENT '1 for a new fact version, 0 for a version it replaces (ledger only)'
) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_changes_to_usage_ledger_mv {on_cluster}
TO usage_ledger
AS SELECT tenant, call_key, sign, version, kind, user, session, root_session, colony, agent_role, model, provider, tool_name, occurred_at, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd, cost_estimated_usd, unpriced, is_error
FROM usage_changes;

-- Created last: an insert into usage_changes then always reaches the ledger with its facts.
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_changes_to_usage_facts_mv {on_cluster}
TO usage_facts
AS SELECT tenant, call_key, kind, user, session, root_session, parent_session, colony, queen, worker, agent_role, model, provider, input_tokens, output_tokens, cached_tokens, cache_creation_tokens, cost_usd, cost_source, cost_estimated_usd, latency_ms, tool_name, status, is_error, error_type, occurred_at, time_rank, trace_id, span_id, execution_id, node_id, call_source, schema_version, version
FROM usage_changes
WHERE is_fact = 1;
