-- agent_sessions: session state (seed §5 AgentSession + StatusSnapshot basics): ids, started/ended,
-- failure, last event and queen phase, folded by materialized views from the raw spans and logs.
-- Every fold is a min/max/argMax, so a re-sent batch changes nothing. Read it through
-- agent_session_status.
CREATE TABLE IF NOT EXISTS agent_sessions {on_cluster} (
    tenant LowCardinality(String),
    session String,
    root_session SimpleAggregateFunction(max, String),
    parent_session SimpleAggregateFunction(max, String),
    queen SimpleAggregateFunction(max, String),
    colony SimpleAggregateFunction(max, String),
    worker SimpleAggregateFunction(max, String),
    agent_role SimpleAggregateFunction(max, String),
    user SimpleAggregateFunction(max, String),
    started_at SimpleAggregateFunction(min, Nullable(DateTime64(9, 'UTC'))),
    ended_at SimpleAggregateFunction(max, Nullable(DateTime64(9, 'UTC'))),
    failed SimpleAggregateFunction(max, UInt8),
    last_event_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    phase AggregateFunction(argMax, String, DateTime64(9, 'UTC'))
) ENGINE = {engine_prefix}AggregatingMergeTree
ORDER BY (tenant, session);

-- Any span proves the session is alive; its invoke_agent span marks the end (error status = failed).
CREATE MATERIALIZED VIEW IF NOT EXISTS agent_sessions_from_traces_mv {on_cluster}
TO agent_sessions
AS SELECT
    ResourceAttributes['hive.tenant.id'] AS tenant,
    ResourceAttributes['hive.session.id'] AS session,
    max(ResourceAttributes['hive.root_session.id']) AS root_session,
    max(ResourceAttributes['hive.parent_session.id']) AS parent_session,
    max(ResourceAttributes['hive.queen.id']) AS queen,
    max(ResourceAttributes['hive.colony.id']) AS colony,
    max(ResourceAttributes['hive.worker.id']) AS worker,
    max(ResourceAttributes['hive.agent.role']) AS agent_role,
    max(ResourceAttributes['hive.user.id']) AS user,
    toNullable(min(toDateTime64(Timestamp, 9, 'UTC'))) AS started_at,
    maxIf(toNullable(toDateTime64(Timestamp + toIntervalNanosecond(Duration), 9, 'UTC')),
          SpanAttributes['gen_ai.operation.name'] = 'invoke_agent') AS ended_at,
    maxIf(toUInt8(StatusCode = 'STATUS_CODE_ERROR'), SpanAttributes['gen_ai.operation.name'] = 'invoke_agent') AS failed,
    max(toDateTime64(Timestamp + toIntervalNanosecond(Duration), 9, 'UTC')) AS last_event_at,
    argMaxStateIf('', toDateTime64(Timestamp, 9, 'UTC'), false) AS phase
FROM otel_traces
WHERE ResourceAttributes['hive.session.id'] != ''
GROUP BY tenant, session;

-- Status logs: last event time and the queen's phase: queen_phase_changed, or a queen session's
-- meta.json (hive.queen_session_meta, dated by the file's mtime), the newer winning. A session opened
-- in its first phase never emits queen_phase_changed: only meta.json says which it is.
CREATE MATERIALIZED VIEW IF NOT EXISTS agent_sessions_from_logs_mv {on_cluster}
TO agent_sessions
AS SELECT
    ResourceAttributes['hive.tenant.id'] AS tenant,
    ResourceAttributes['hive.session.id'] AS session,
    max(ResourceAttributes['hive.root_session.id']) AS root_session,
    max(ResourceAttributes['hive.parent_session.id']) AS parent_session,
    max(ResourceAttributes['hive.queen.id']) AS queen,
    max(ResourceAttributes['hive.colony.id']) AS colony,
    max(ResourceAttributes['hive.worker.id']) AS worker,
    max(ResourceAttributes['hive.agent.role']) AS agent_role,
    max(ResourceAttributes['hive.user.id']) AS user,
    toNullable(min(toDateTime64(Timestamp, 9, 'UTC'))) AS started_at,
    CAST(NULL, 'Nullable(DateTime64(9, \'UTC\'))') AS ended_at,
    toUInt8(0) AS failed,
    max(toDateTime64(Timestamp, 9, 'UTC')) AS last_event_at,
    argMaxStateIf(LogAttributes['hive.queen.phase'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName IN ('hive.queen_phase_changed', 'hive.queen_session_meta')
                  AND LogAttributes['hive.queen.phase'] != '') AS phase
FROM otel_logs
WHERE ResourceAttributes['hive.session.id'] != ''
GROUP BY tenant, session;

-- agent_session_status: one row per session: ids, lifecycle, phase and usage totals
-- (usage_session_totals, migration create_usage_rollups).
CREATE VIEW IF NOT EXISTS agent_session_status {on_cluster} AS
SELECT
    s.tenant AS tenant,
    s.session AS session,
    s.root_session AS root_session,
    s.parent_session AS parent_session,
    s.queen AS queen,
    s.colony AS colony,
    s.worker AS worker,
    s.agent_role AS agent_role,
    s.user AS user,
    multiIf(s.ended_at IS NULL, 'active', s.failed = 1, 'failed', 'done') AS status,
    s.phase AS phase,
    s.started_at AS started_at,
    s.ended_at AS ended_at,
    greatest(s.last_event_at, t.last_call_at) AS last_event_at,
    t.llm_calls AS llm_calls,
    t.input_tokens AS input_tokens,
    t.output_tokens AS output_tokens,
    t.cached_tokens AS cached_tokens,
    t.cache_creation_tokens AS cache_creation_tokens,
    t.cost_usd AS cost_usd,
    t.cost_estimated_usd AS cost_estimated_usd,
    t.unpriced_calls AS unpriced_calls,
    t.tool_calls AS tool_calls,
    t.tool_errors AS tool_errors
FROM (
    SELECT
        tenant, session,
        max(root_session) AS root_session, max(parent_session) AS parent_session, max(queen) AS queen,
        max(colony) AS colony, max(worker) AS worker, max(agent_role) AS agent_role, max(user) AS user,
        min(started_at) AS started_at, max(ended_at) AS ended_at, max(failed) AS failed,
        max(last_event_at) AS last_event_at, argMaxMerge(phase) AS phase
    FROM agent_sessions
    GROUP BY tenant, session
) AS s
LEFT JOIN (
    SELECT
        tenant, session,
        sum(llm_calls) AS llm_calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
        sum(cached_tokens) AS cached_tokens, sum(cache_creation_tokens) AS cache_creation_tokens,
        sum(cost_usd) AS cost_usd, sum(cost_estimated_usd) AS cost_estimated_usd,
        sum(unpriced_calls) AS unpriced_calls, sum(tool_calls) AS tool_calls, sum(tool_errors) AS tool_errors,
        max(last_call_at) AS last_call_at
    FROM usage_session_totals
    GROUP BY tenant, session
) AS t ON s.tenant = t.tenant AND s.session = t.session;
