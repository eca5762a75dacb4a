-- hive_otel.collector.queries.status.sessions_health: S4 + S7 of the sessions {where} selects.
SELECT {columns}
FROM session_health{where}
ORDER BY started_at, session
LIMIT {limit}
