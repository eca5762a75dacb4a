-- S8, when the queen wakes next: each trigger's latest state, its next wake (next_fire_at, which
-- Hive puts on an active timer and on every firing) and its firings, from the trigger_* events.
-- Names and task texts are free text and never leave the client.
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
