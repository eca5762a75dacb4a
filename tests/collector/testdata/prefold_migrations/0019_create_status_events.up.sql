-- Status history (seed §4 S1–S8, the inputs of §5 StatusSnapshot): one typed row per status log
-- record the client sends (hive.<event_type>, hive-otel's own hive.stream_state_changed and
-- hive.heartbeat included), folded from otel_logs as it arrives. Replays and retries resend the same
-- records: the ReplacingMergeTree key collapses them on merge, and every reader aggregates with
-- argMax / max / uniqExact, which duplicates do not change. Only status-bearing types are kept here;
-- everything stays in otel_logs.
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
      'node_retry', 'tool_call_replay_detected', 'escalation_requested',
      'loop_state_changed', 'client_input_requested', 'client_input_received',
      'stream_state_changed', 'heartbeat'
  );
