-- session_identity: who runs a session, as Hive states it (GET /api/sessions/<id> in aden-hive's
-- framework/server/routes_sessions.py): the queen's id and display name (queen_identity_selected),
-- the colony a queen session loaded (worker_colony_loaded) and the colony it spawned (colony_created,
-- published on the source session's bus). A queen session's meta.json, as the file source sends it
-- (hive.queen_session_meta, dated by the file's mtime: the persisted truth of aden-hive 1.0.12 for the
-- queen, the colony the session was bound to and the colony it spawned), is folded into the same
-- states, so an event newer than the meta.json wins and the meta.json fills what no event stated.
-- argMax on the record's time, so replays and retries change nothing and the latest statement wins.
CREATE TABLE IF NOT EXISTS session_identity {on_cluster} (
    tenant LowCardinality(String),
    session String,
    queen_id AggregateFunction(argMax, String, DateTime64(9, 'UTC')),
    queen_name AggregateFunction(argMax, String, DateTime64(9, 'UTC')),
    loaded_colony AggregateFunction(argMax, String, DateTime64(9, 'UTC')),
    spawned_colony AggregateFunction(argMax, String, DateTime64(9, 'UTC'))
) ENGINE = {engine_prefix}AggregatingMergeTree
ORDER BY (tenant, session);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_identity_from_logs_mv {on_cluster}
TO session_identity
AS SELECT
    ResourceAttributes['hive.tenant.id'] AS tenant,
    ResourceAttributes['hive.session.id'] AS session,
    argMaxStateIf(LogAttributes['hive.queen.id'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName IN ('hive.queen_identity_selected', 'hive.queen_session_meta')
                  AND LogAttributes['hive.queen.id'] != '') AS queen_id,
    argMaxStateIf(LogAttributes['hive.queen.name'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName = 'hive.queen_identity_selected' AND LogAttributes['hive.queen.name'] != '') AS queen_name,
    argMaxStateIf(LogAttributes['hive.colony.id'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName IN ('hive.worker_colony_loaded', 'hive.queen_session_meta')
                  AND LogAttributes['hive.colony.id'] != '') AS loaded_colony,
    argMaxStateIf(if(EventName = 'hive.queen_session_meta', LogAttributes['hive.spawned_colony.id'],
                     LogAttributes['hive.colony.id']),
                  toDateTime64(Timestamp, 9, 'UTC'),
                  (EventName = 'hive.colony_created' AND LogAttributes['hive.colony.id'] != '')
                  OR (EventName = 'hive.queen_session_meta' AND LogAttributes['hive.spawned_colony.id'] != '')) AS spawned_colony
FROM otel_logs
WHERE ResourceAttributes['hive.session.id'] != ''
  AND EventName IN ('hive.queen_identity_selected', 'hive.worker_colony_loaded', 'hive.colony_created',
                    'hive.queen_session_meta')
GROUP BY tenant, session;

-- Records otel_logs already holds (a store rolled back below this migration and migrated again): the
-- same fold as the view's (re-running it only repeats states that argMax already has).
INSERT INTO session_identity
SELECT
    ResourceAttributes['hive.tenant.id'] AS tenant,
    ResourceAttributes['hive.session.id'] AS session,
    argMaxStateIf(LogAttributes['hive.queen.id'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName IN ('hive.queen_identity_selected', 'hive.queen_session_meta')
                  AND LogAttributes['hive.queen.id'] != '') AS queen_id,
    argMaxStateIf(LogAttributes['hive.queen.name'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName = 'hive.queen_identity_selected' AND LogAttributes['hive.queen.name'] != '') AS queen_name,
    argMaxStateIf(LogAttributes['hive.colony.id'], toDateTime64(Timestamp, 9, 'UTC'),
                  EventName IN ('hive.worker_colony_loaded', 'hive.queen_session_meta')
                  AND LogAttributes['hive.colony.id'] != '') AS loaded_colony,
    argMaxStateIf(if(EventName = 'hive.queen_session_meta', LogAttributes['hive.spawned_colony.id'],
                     LogAttributes['hive.colony.id']),
                  toDateTime64(Timestamp, 9, 'UTC'),
                  (EventName = 'hive.colony_created' AND LogAttributes['hive.colony.id'] != '')
                  OR (EventName = 'hive.queen_session_meta' AND LogAttributes['hive.spawned_colony.id'] != '')) AS spawned_colony
FROM otel_logs
WHERE ResourceAttributes['hive.session.id'] != ''
  AND EventName IN ('hive.queen_identity_selected', 'hive.worker_colony_loaded', 'hive.colony_created',
                    'hive.queen_session_meta')
GROUP BY tenant, session;
