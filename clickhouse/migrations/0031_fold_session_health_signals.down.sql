-- session_health as 0019 made it, reading status_events, before the table it read here goes.
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
        maxIf(at, event_type = 'heartbeat') AS last_heartbeat_at,
        maxIf(at, event_type IN ('node_loop_started', 'node_loop_iteration', 'execution_started', 'execution_resumed',
                                 'execution_resurrected', 'client_input_received', 'judge_verdict', 'node_retry')
                  OR (event_type = 'stream_state_changed' AND status != 'idle')
                  OR (event_type = 'loop_state_changed' AND status = 'executing')) AS last_progress_at,
        maxIf(at, (event_type = 'loop_state_changed' AND status = 'awaiting_user')
                  OR event_type IN ('client_input_requested', 'execution_completed', 'execution_paused')) AS waiting_at,
        argMaxIf(status, at, event_type = 'loop_state_changed') AS loop_activity,
        argMaxIf(park_reason, at, event_type = 'loop_state_changed') AS park_reason,
        argMaxIf(interrupt_cause, at, event_type = 'loop_state_changed') AS interrupt_cause,
        argMaxIf(status, at, event_type = 'stream_state_changed') AS stream_state,
        maxIf(at, event_type = 'node_stalled') AS stalled_at,
        maxIf(at, event_type = 'stream_inactive') AS inactive_at,
        maxIf(at, event_type = 'node_tool_doom_loop') AS doom_loop_at,
        maxIf(at, event_type = 'stream_ttft_exceeded') AS ttft_at,
        maxIf(at, event_type = 'loop_state_changed' AND status = 'interrupted') AS interrupted_at,
        maxIf(at, event_type = 'payment_required') AS payment_at
    FROM status_events
    GROUP BY tenant, session
) AS h ON s.tenant = h.tenant AND s.session = h.session
LEFT JOIN (
    SELECT tenant, session, max(last_call_at) AS last_call_at
    FROM usage_session_totals
    GROUP BY tenant, session
) AS c ON s.tenant = c.tenant AND s.session = c.session;

DROP VIEW IF EXISTS session_health_signals_mv {on_cluster};
DROP TABLE IF EXISTS session_health_signals {on_cluster};
