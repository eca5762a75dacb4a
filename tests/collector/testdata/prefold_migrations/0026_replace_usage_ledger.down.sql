DROP VIEW IF EXISTS usage_session_totals_mv {on_cluster};
DROP VIEW IF EXISTS usage_daily_mv {on_cluster};
DROP VIEW IF EXISTS usage_hourly_mv {on_cluster};
DROP TABLE IF EXISTS usage_ledger {on_cluster};

-- The stored ledger of 0007 and the views of 0008-0010, as they were (empty: run hive-otel reconcile).
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
