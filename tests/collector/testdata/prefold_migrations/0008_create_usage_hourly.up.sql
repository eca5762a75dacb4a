-- Hourly usage rollup: a SummingMergeTree target plus the materialized view that folds the signed
-- usage_ledger into it. Read it with sum(...) GROUP BY (rows for one key may not be merged yet).
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
