-- session_health grouped the whole of status_events on every read, every tenant's and every record
-- kind's, heartbeats included (one per live session every 15 s), even for one session's API route: an
-- audit measured it growing with the table (0.09 s at 0.8M records, 0.18 s at 1.6M), and a month of
-- 1,000 live sessions is ~170M heartbeats. The signals it reads are folded here per session as records
-- arrive (max and argMax: replays and retries, which status_events collapses only on merge, do not
-- change them), and the view reads this instead: one row per session once parts merge.
CREATE TABLE IF NOT EXISTS session_health_signals {on_cluster} (
    tenant LowCardinality(String),
    session String,
    last_heartbeat_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    last_progress_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    waiting_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    loop_activity AggregateFunction(argMax, String, DateTime64(9, 'UTC')),
    park_reason AggregateFunction(argMax, String, DateTime64(9, 'UTC')),
    interrupt_cause AggregateFunction(argMax, String, DateTime64(9, 'UTC')),
    stream_state AggregateFunction(argMax, String, DateTime64(9, 'UTC')),
    stalled_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    inactive_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    doom_loop_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    ttft_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    interrupted_at SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    payment_at SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
) ENGINE = {engine_prefix}AggregatingMergeTree
ORDER BY (tenant, session);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_health_signals_mv {on_cluster}
TO session_health_signals
AS SELECT
    tenant,
    session,
    maxIf(at, event_type = 'heartbeat') AS last_heartbeat_at,
    maxIf(at, event_type IN ('node_loop_started', 'node_loop_iteration', 'execution_started', 'execution_resumed',
                             'execution_resurrected', 'client_input_received', 'judge_verdict', 'node_retry')
              OR (event_type = 'stream_state_changed' AND status != 'idle')
              OR (event_type = 'loop_state_changed' AND status = 'executing')) AS last_progress_at,
    maxIf(at, (event_type = 'loop_state_changed' AND status = 'awaiting_user')
              OR event_type IN ('client_input_requested', 'execution_completed', 'execution_paused')) AS waiting_at,
    argMaxStateIf(CAST(status, 'String'), at, event_type = 'loop_state_changed') AS loop_activity,
    argMaxStateIf(CAST(park_reason, 'String'), at, event_type = 'loop_state_changed') AS park_reason,
    argMaxStateIf(CAST(interrupt_cause, 'String'), at, event_type = 'loop_state_changed') AS interrupt_cause,
    argMaxStateIf(CAST(status, 'String'), at, event_type = 'stream_state_changed') AS stream_state,
    maxIf(at, event_type = 'node_stalled') AS stalled_at,
    maxIf(at, event_type = 'stream_inactive') AS inactive_at,
    maxIf(at, event_type = 'node_tool_doom_loop') AS doom_loop_at,
    maxIf(at, event_type = 'stream_ttft_exceeded') AS ttft_at,
    maxIf(at, event_type = 'loop_state_changed' AND status = 'interrupted') AS interrupted_at,
    maxIf(at, event_type = 'payment_required') AS payment_at
FROM status_events
GROUP BY tenant, session;

-- The records status_events already holds (the view above sees only new ones; one it also saw is
-- folded twice, which max and argMax do not notice).
INSERT INTO session_health_signals
SELECT
    tenant,
    session,
    maxIf(at, event_type = 'heartbeat') AS last_heartbeat_at,
    maxIf(at, event_type IN ('node_loop_started', 'node_loop_iteration', 'execution_started', 'execution_resumed',
                             'execution_resurrected', 'client_input_received', 'judge_verdict', 'node_retry')
              OR (event_type = 'stream_state_changed' AND status != 'idle')
              OR (event_type = 'loop_state_changed' AND status = 'executing')) AS last_progress_at,
    maxIf(at, (event_type = 'loop_state_changed' AND status = 'awaiting_user')
              OR event_type IN ('client_input_requested', 'execution_completed', 'execution_paused')) AS waiting_at,
    argMaxStateIf(CAST(status, 'String'), at, event_type = 'loop_state_changed') AS loop_activity,
    argMaxStateIf(CAST(park_reason, 'String'), at, event_type = 'loop_state_changed') AS park_reason,
    argMaxStateIf(CAST(interrupt_cause, 'String'), at, event_type = 'loop_state_changed') AS interrupt_cause,
    argMaxStateIf(CAST(status, 'String'), at, event_type = 'stream_state_changed') AS stream_state,
    maxIf(at, event_type = 'node_stalled') AS stalled_at,
    maxIf(at, event_type = 'stream_inactive') AS inactive_at,
    maxIf(at, event_type = 'node_tool_doom_loop') AS doom_loop_at,
    maxIf(at, event_type = 'stream_ttft_exceeded') AS ttft_at,
    maxIf(at, event_type = 'loop_state_changed' AND status = 'interrupted') AS interrupted_at,
    maxIf(at, event_type = 'payment_required') AS payment_at
FROM status_events
GROUP BY tenant, session;

CREATE OR REPLACE VIEW session_health {on_cluster} AS
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
    s.status AS lifecycle,
    s.phase AS phase,
    s.started_at AS started_at,
    s.ended_at AS ended_at,
    h.stream_state AS stream_state,
    h.loop_activity AS loop_activity,
    h.park_reason AS park_reason,
    h.interrupt_cause AS interrupt_cause,
    s.last_event_at AS last_seen_at,
    nullIf(h.last_heartbeat_at, toDateTime64(0, 9, 'UTC')) AS last_heartbeat_at,
    greatest(h.last_progress_at, c.last_call_at) AS last_progress_at,
    greatest(0, dateDiff('millisecond', s.last_event_at, now64(3, 'UTC')) / 1000) AS last_seen_s,
    greatest(greatest(h.last_progress_at, c.last_call_at), h.waiting_at) AS settled_at,
    arrayFilter(x -> x != '', [
        if(h.stalled_at > settled_at, 'node_stalled', ''),
        if(h.inactive_at > settled_at, 'stream_inactive', ''),
        if(h.doom_loop_at > settled_at, 'node_tool_doom_loop', ''),
        if(h.ttft_at > settled_at, 'stream_ttft_exceeded', ''),
        if(h.interrupted_at > settled_at, 'loop_interrupted', ''),
        if(h.payment_at > settled_at, 'payment_required', '')
    ]) AS stall_signals,
    least(1.0, 0.5 * has(stall_signals, 'node_stalled') + 0.4 * has(stall_signals, 'stream_inactive')
               + 0.6 * has(stall_signals, 'node_tool_doom_loop') + 0.2 * has(stall_signals, 'stream_ttft_exceeded')
               + 0.5 * has(stall_signals, 'loop_interrupted') + 0.5 * has(stall_signals, 'payment_required')) AS stall_score,
    h.waiting_at > toDateTime64(0, 9, 'UTC') AND h.waiting_at >= greatest(h.last_progress_at, c.last_call_at) AS waiting,
    multiIf(
        s.status = 'done', 'done',
        s.status = 'failed', 'failed',
        stall_score >= 0.5, 'stalled',
        waiting, 'idle',
        'working'
    ) AS health,
    s.llm_calls AS llm_calls,
    s.input_tokens AS input_tokens,
    s.output_tokens AS output_tokens,
    s.cached_tokens AS cached_tokens,
    s.cost_usd AS cost_usd,
    s.cost_estimated_usd AS cost_estimated_usd,
    s.tool_calls AS tool_calls,
    s.tool_errors AS tool_errors
FROM agent_session_status AS s
LEFT JOIN (
    SELECT
        tenant,
        session,
        max(last_heartbeat_at) AS last_heartbeat_at,
        max(last_progress_at) AS last_progress_at,
        max(waiting_at) AS waiting_at,
        argMaxMerge(loop_activity) AS loop_activity,
        argMaxMerge(park_reason) AS park_reason,
        argMaxMerge(interrupt_cause) AS interrupt_cause,
        argMaxMerge(stream_state) AS stream_state,
        max(stalled_at) AS stalled_at,
        max(inactive_at) AS inactive_at,
        max(doom_loop_at) AS doom_loop_at,
        max(ttft_at) AS ttft_at,
        max(interrupted_at) AS interrupted_at,
        max(payment_at) AS payment_at
    FROM session_health_signals
    GROUP BY tenant, session
) AS h ON s.tenant = h.tenant AND s.session = h.session
LEFT JOIN (
    SELECT tenant, session, max(last_call_at) AS last_call_at
    FROM usage_session_totals
    GROUP BY tenant, session
) AS c ON s.tenant = c.tenant AND s.session = c.session;
