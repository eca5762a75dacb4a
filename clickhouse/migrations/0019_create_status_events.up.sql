-- status_events: status history (seed §4 S1–S8, the inputs of §5 StatusSnapshot): one typed row per
-- status log record the client sends (hive.<event_type>, hive-otel's own hive.stream_state_changed and
-- hive.heartbeat included), folded from otel_logs as it arrives. Replays and retries resend the same
-- records: the ReplacingMergeTree key collapses them on merge, and every reader aggregates with
-- argMax / max / uniqExact, which duplicates do not change. Only status-bearing types are kept here;
-- everything stays in otel_logs. The views below read it.
CREATE TABLE IF NOT EXISTS status_events {on_cluster} (
    tenant LowCardinality(String),
    session String,
    root_session String,
    parent_session String,
    colony String,
    worker String,
    agent_role LowCardinality(String),
    user String,
    at DateTime64(9, 'UTC'),
    event_type LowCardinality(String),
    seq Int64 COMMENT 'hive.event.seq; 0 for records hive-otel makes itself',
    stream String,
    node String,
    execution String,
    status LowCardinality(String) COMMENT 'hive.status: loop activity, stream state, worker outcome',
    phase LowCardinality(String),
    task_id String,
    task_status LowCardinality(String),
    task_blocks Array(String),
    task_blocked_by Array(String),
    trigger_id String,
    trigger_type LowCardinality(String),
    trigger_next_fire_at Nullable(DateTime64(3, 'UTC')),
    park_reason LowCardinality(String),
    interrupt_cause LowCardinality(String)
) ENGINE = {engine_prefix}ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant, session, at, event_type, seq, stream, task_id, trigger_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS status_events_from_logs_mv {on_cluster}
TO status_events
AS SELECT
    ResourceAttributes['hive.tenant.id'] AS tenant,
    ResourceAttributes['hive.session.id'] AS session,
    ResourceAttributes['hive.root_session.id'] AS root_session,
    ResourceAttributes['hive.parent_session.id'] AS parent_session,
    ResourceAttributes['hive.colony.id'] AS colony,
    ResourceAttributes['hive.worker.id'] AS worker,
    ResourceAttributes['hive.agent.role'] AS agent_role,
    ResourceAttributes['hive.user.id'] AS user,
    toDateTime64(Timestamp, 9, 'UTC') AS at,
    LogAttributes['hive.event.type'] AS event_type,
    toInt64OrZero(LogAttributes['hive.event.seq']) AS seq,
    LogAttributes['hive.stream.id'] AS stream,
    LogAttributes['hive.node.id'] AS node,
    LogAttributes['hive.execution.id'] AS execution,
    LogAttributes['hive.status'] AS status,
    LogAttributes['hive.queen.phase'] AS phase,
    LogAttributes['hive.task.id'] AS task_id,
    LogAttributes['hive.task.status'] AS task_status,
    if(LogAttributes['hive.task.blocks'] = '', [], JSONExtract(LogAttributes['hive.task.blocks'], 'Array(String)')) AS task_blocks,
    if(LogAttributes['hive.task.blocked_by'] = '', [], JSONExtract(LogAttributes['hive.task.blocked_by'], 'Array(String)')) AS task_blocked_by,
    LogAttributes['hive.trigger.id'] AS trigger_id,
    LogAttributes['hive.trigger.type'] AS trigger_type,
    if(toInt64OrZero(LogAttributes['hive.trigger.next_fire_at']) > 0,
       fromUnixTimestamp64Milli(toInt64OrZero(LogAttributes['hive.trigger.next_fire_at']), 'UTC'), NULL) AS trigger_next_fire_at,
    LogAttributes['hive.loop.park_reason'] AS park_reason,
    LogAttributes['hive.loop.interrupt_cause'] AS interrupt_cause
FROM otel_logs
WHERE ResourceAttributes['hive.session.id'] != ''
  AND LogAttributes['hive.event.type'] IN (
      'queen_phase_changed',
      'task_created', 'task_updated', 'task_deleted', 'task_list_reset',
      'trigger_available', 'trigger_activated', 'trigger_deactivated', 'trigger_fired', 'trigger_removed',
      'trigger_updated', 'missed_triggers',
      'worker_completed', 'worker_failed', 'colony_created', 'worker_colony_loaded', 'subagent_report',
      'execution_started', 'execution_completed', 'execution_failed', 'execution_paused', 'execution_resumed',
      'execution_resurrected', 'node_loop_started', 'node_loop_iteration', 'node_loop_completed',
      'node_stalled', 'node_tool_doom_loop', 'stream_inactive', 'stream_ttft_exceeded', 'stream_nudge_sent',
      'node_retry', 'tool_call_replay_detected', 'escalation_requested', 'judge_verdict', 'payment_required',
      'session_forked',
      'loop_state_changed', 'client_input_requested', 'client_input_received',
      'stream_state_changed', 'heartbeat'
  );

-- session_tasks (S2, the right rail): each session's tasks with their current status and dependency
-- edges (ids only; subjects are the user's words and never leave the client). A deleted task, and
-- every task created before the session's latest task_list_reset, is gone. Duplicated events change
-- nothing (argMax/max).
CREATE VIEW IF NOT EXISTS session_tasks {on_cluster} AS
SELECT
    t.tenant AS tenant,
    t.session AS session,
    t.task_id AS task_id,
    t.root_session AS root_session,
    t.status AS status,
    t.blocks AS blocks,
    t.blocked_by AS blocked_by,
    t.created_at AS created_at,
    t.updated_at AS updated_at
FROM (
    SELECT
        tenant,
        session,
        task_id,
        max(root_session) AS root_session,
        argMaxIf(task_status, at, task_status != '') AS status,
        argMaxIf(task_blocks, at, event_type != 'task_deleted') AS blocks,
        argMaxIf(task_blocked_by, at, event_type != 'task_deleted') AS blocked_by,
        min(at) AS created_at,
        maxIf(at, event_type != 'task_deleted') AS updated_at,
        maxIf(at, event_type = 'task_deleted') AS deleted_at
    FROM status_events
    WHERE event_type IN ('task_created', 'task_updated', 'task_deleted') AND task_id != ''
    GROUP BY tenant, session, task_id
) AS t
LEFT JOIN (
    SELECT tenant, session, max(at) AS reset_at
    FROM status_events
    WHERE event_type = 'task_list_reset'
    GROUP BY tenant, session
) AS r ON t.tenant = r.tenant AND t.session = r.session
WHERE t.deleted_at < t.updated_at AND t.updated_at > r.reset_at;

-- session_triggers (S8, when the queen wakes next): each trigger's latest state, its next wake
-- (next_fire_at, which Hive puts on an active timer and on every firing) and its firings, from the
-- trigger_* events. Names and task texts are free text and never leave the client.
CREATE VIEW IF NOT EXISTS session_triggers {on_cluster} AS
SELECT
    tenant,
    session,
    trigger_id,
    max(root_session) AS root_session,
    argMaxIf(trigger_type, at, trigger_type != '') AS trigger_type,
    multiIf(
        argMaxIf(event_type, at, event_type IN ('trigger_available', 'trigger_activated', 'trigger_deactivated',
                                                'trigger_removed', 'trigger_fired')) AS last_state_event = 'trigger_removed', 'removed',
        last_state_event = 'trigger_deactivated', 'inactive',
        last_state_event IN ('trigger_activated', 'trigger_fired'), 'active',
        last_state_event = 'trigger_available', 'available',
        'unknown'
    ) AS state,
    argMaxIf(trigger_next_fire_at, at, trigger_next_fire_at IS NOT NULL) AS next_fire_at,
    if(countIf(event_type = 'trigger_fired') > 0, maxIf(at, event_type = 'trigger_fired'), NULL) AS last_fired_at,
    uniqExactIf(at, event_type = 'trigger_fired') AS fires_seen,
    max(at) AS updated_at
FROM status_events
WHERE trigger_id != '' AND startsWith(event_type, 'trigger_')
GROUP BY tenant, session, trigger_id;

-- session_health: S4 stall detection and S7 liveness per session, next to lifecycle, phase and stream
-- state (agent_session_status).
--
-- Idle by design is kept apart from stalled by bug (seed §8.5): a loop that parked awaiting the user
-- (loop_state_changed awaiting_user), asked for input (client_input_requested), finished its execution
-- or paused it is 'idle' and scores 0. Stall signals (node_stalled, stream_inactive,
-- node_tool_doom_loop, stream_ttft_exceeded, an interrupted loop, a payment_required) count only while
-- nothing has happened since them: no progress (an LLM or tool call, a loop iteration, a stream
-- starting to think, type or call a tool, a resurrected execution, a judge verdict, a node retry) and
-- no deliberate park. stall_score sums their weights, capped at 1; 0.5 or more is 'stalled'
-- (payment_required weighs 0.5: the session cannot go on by itself). Liveness is the latest record of
-- any kind, heartbeats included; a quiet session is reported as last seen N seconds ago, never as dead.
CREATE VIEW IF NOT EXISTS session_health {on_cluster} AS
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
