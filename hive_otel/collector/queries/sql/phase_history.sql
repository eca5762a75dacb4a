-- hive_otel.collector.queries.status.phase_history: S1, a queen's phase changes, oldest first, each once.
SELECT phase, at
FROM status_events{where} AND event_type = 'queen_phase_changed' AND phase != ''
GROUP BY phase, at
ORDER BY at
LIMIT {limit}
