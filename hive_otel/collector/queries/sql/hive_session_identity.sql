-- hive_otel.collector.queries.hive_sessions.session_identity: the latest queen id and name, loaded and
-- spawned colony Hive stated for one session ({tenant}, {session}: sql_string literals).
SELECT argMaxMerge(queen_id), argMaxMerge(queen_name), argMaxMerge(loaded_colony), argMaxMerge(spawned_colony)
FROM session_identity
WHERE tenant = {tenant} AND session = {session}
