-- Per-session usage totals for agent_session_status (seed §5 AgentSession totals), folded from the
-- signed usage_ledger like the time rollups, so they stay exact under re-sent batches.
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
