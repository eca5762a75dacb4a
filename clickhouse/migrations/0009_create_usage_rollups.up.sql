-- The usage rollups and the ledger that feeds them.
--
-- usage_ledger: the signed change log of usage_facts. When a call's merged row changes, the collector
-- writes a -1 row carrying the old version and a +1 row carrying the new one (a new call writes only
-- +1). It is a Null table: its rows exist to feed the rollup views below, which see every row as it is
-- inserted; the facts are the record (reconcile rebuilds the rollups from them). Every rollup sums
-- sign * measure, so it equals the current facts exactly, under re-sent batches too.
--
-- The store reconciles right after this migration is applied (REBUILD_AFTER in
-- hive_otel/collector/store/store.py), so rollups created on a store that already holds facts are
-- exact from the start; on a shared server, pause ingest while it runs.
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
    is_error UInt8
) ENGINE = Null;

-- usage_hourly: hourly rollup by tenant, user, model, provider, colony, root_session, agent_role, kind
-- and tool_name. Read it with sum(...) GROUP BY (rows for one key may not be merged yet).
CREATE TABLE IF NOT EXISTS usage_hourly {on_cluster} (
    tenant LowCardinality(String),
    hour DateTime('UTC'),
    user LowCardinality(String),
    model LowCardinality(String),
    provider LowCardinality(String),
    colony LowCardinality(String),
    root_session String,
    agent_role LowCardinality(String),
    kind LowCardinality(String),
    tool_name LowCardinality(String),
    llm_calls Int64,
    input_tokens Int64,
    output_tokens Int64,
    cached_tokens Int64,
    cache_creation_tokens Int64,
    cost_usd Decimal(38, 10),
    cost_estimated_usd Decimal(38, 10),
    unpriced_calls Int64,
    tool_calls Int64,
    tool_errors Int64
) ENGINE = {engine_prefix}SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, user, model, provider, colony, root_session, agent_role, kind, tool_name);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv {on_cluster}
TO usage_hourly
AS SELECT
    tenant,
    toStartOfHour(occurred_at) AS hour,
    user, model, provider, colony, root_session, agent_role, kind, tool_name,
    sum(sign * (kind = 'llm')) AS llm_calls,
    sum(sign * toInt64(input_tokens)) AS input_tokens,
    sum(sign * toInt64(output_tokens)) AS output_tokens,
    sum(sign * toInt64(cached_tokens)) AS cached_tokens,
    sum(sign * toInt64(cache_creation_tokens)) AS cache_creation_tokens,
    sum(sign * cost_usd) AS cost_usd,
    sum(sign * cost_estimated_usd) AS cost_estimated_usd,
    sum(sign * unpriced) AS unpriced_calls,
    sum(sign * (kind = 'tool')) AS tool_calls,
    sum(sign * (kind = 'tool' AND is_error = 1)) AS tool_errors
FROM usage_ledger
GROUP BY tenant, hour, user, model, provider, colony, root_session, agent_role, kind, tool_name;

-- usage_daily: the same by day (a month is its days summed).
CREATE TABLE IF NOT EXISTS usage_daily {on_cluster} (
    tenant LowCardinality(String),
    day Date,
    user LowCardinality(String),
    model LowCardinality(String),
    provider LowCardinality(String),
    colony LowCardinality(String),
    root_session String,
    agent_role LowCardinality(String),
    kind LowCardinality(String),
    tool_name LowCardinality(String),
    llm_calls Int64,
    input_tokens Int64,
    output_tokens Int64,
    cached_tokens Int64,
    cache_creation_tokens Int64,
    cost_usd Decimal(38, 10),
    cost_estimated_usd Decimal(38, 10),
    unpriced_calls Int64,
    tool_calls Int64,
    tool_errors Int64
) ENGINE = {engine_prefix}SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, user, model, provider, colony, root_session, agent_role, kind, tool_name);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv {on_cluster}
TO usage_daily
AS SELECT
    tenant,
    toDate(occurred_at, 'UTC') AS day,
    user, model, provider, colony, root_session, agent_role, kind, tool_name,
    sum(sign * (kind = 'llm')) AS llm_calls,
    sum(sign * toInt64(input_tokens)) AS input_tokens,
    sum(sign * toInt64(output_tokens)) AS output_tokens,
    sum(sign * toInt64(cached_tokens)) AS cached_tokens,
    sum(sign * toInt64(cache_creation_tokens)) AS cache_creation_tokens,
    sum(sign * cost_usd) AS cost_usd,
    sum(sign * cost_estimated_usd) AS cost_estimated_usd,
    sum(sign * unpriced) AS unpriced_calls,
    sum(sign * (kind = 'tool')) AS tool_calls,
    sum(sign * (kind = 'tool' AND is_error = 1)) AS tool_errors
FROM usage_ledger
GROUP BY tenant, day, user, model, provider, colony, root_session, agent_role, kind, tool_name;

-- usage_session_totals: per-session totals for agent_session_status (seed §5 AgentSession totals).
CREATE TABLE IF NOT EXISTS usage_session_totals {on_cluster} (
    tenant LowCardinality(String),
    session String,
    llm_calls SimpleAggregateFunction(sum, Int64),
    input_tokens SimpleAggregateFunction(sum, Int64),
    output_tokens SimpleAggregateFunction(sum, Int64),
    cached_tokens SimpleAggregateFunction(sum, Int64),
    cache_creation_tokens SimpleAggregateFunction(sum, Int64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 10)),
    cost_estimated_usd SimpleAggregateFunction(sum, Decimal(38, 10)),
    unpriced_calls SimpleAggregateFunction(sum, Int64),
    tool_calls SimpleAggregateFunction(sum, Int64),
    tool_errors SimpleAggregateFunction(sum, Int64),
    last_call_at SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
) ENGINE = {engine_prefix}AggregatingMergeTree
ORDER BY (tenant, session);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_session_totals_mv {on_cluster}
TO usage_session_totals
AS SELECT
    tenant,
    session,
    sum(sign * (kind = 'llm')) AS llm_calls,
    sum(sign * toInt64(input_tokens)) AS input_tokens,
    sum(sign * toInt64(output_tokens)) AS output_tokens,
    sum(sign * toInt64(cached_tokens)) AS cached_tokens,
    sum(sign * toInt64(cache_creation_tokens)) AS cache_creation_tokens,
    sum(sign * cost_usd) AS cost_usd,
    sum(sign * cost_estimated_usd) AS cost_estimated_usd,
    sum(sign * unpriced) AS unpriced_calls,
    sum(sign * (kind = 'tool')) AS tool_calls,
    sum(sign * (kind = 'tool' AND is_error = 1)) AS tool_errors,
    maxIf(occurred_at, sign > 0) AS last_call_at
FROM usage_ledger
GROUP BY tenant, session;
