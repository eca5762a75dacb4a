-- hive_otel.collector.queries.status.session_triggers: S8, a session's triggers and their next wake.
SELECT trigger_id, trigger_type, state, next_fire_at, last_fired_at, fires_seen, updated_at
FROM session_triggers{where}
ORDER BY trigger_id
