-- Back to 0029's identity fold and 0011's phase fold (events only).
DROP VIEW IF EXISTS session_identity_from_logs_mv {on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS session_identity_from_logs_mv {on_cluster}
TO session_identity
AS SELECT
    ResourceAttributes['hive.tenant.id'] AS tenant,
    ResourceAttributes['hive.session.id'] AS session,
    argMaxStateIf(LogAttributes['hive.queen.id'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName = 'hive.queen_identity_selected' AND LogAttributes['hive.queen.id'] != '') AS queen_id,
    argMaxStateIf(LogAttributes['hive.queen.name'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName = 'hive.queen_identity_selected' AND LogAttributes['hive.queen.name'] != '') AS queen_name,
    argMaxStateIf(LogAttributes['hive.colony.id'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName = 'hive.worker_colony_loaded' AND LogAttributes['hive.colony.id'] != '') AS loaded_colony,
    argMaxStateIf(LogAttributes['hive.colony.id'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName = 'hive.colony_created' AND LogAttributes['hive.colony.id'] != '') AS spawned_colony
FROM otel_logs
WHERE ResourceAttributes['hive.session.id'] != ''
  AND EventName IN ('hive.queen_identity_selected', 'hive.worker_colony_loaded', 'hive.colony_created')
GROUP BY tenant, session;

DROP VIEW IF EXISTS agent_sessions_from_logs_mv {on_cluster};

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
                  EventName = 'hive.queen_phase_changed' AND LogAttributes['hive.queen.phase'] != '') AS phase
FROM otel_logs
WHERE ResourceAttributes['hive.session.id'] != ''
GROUP BY tenant, session;
