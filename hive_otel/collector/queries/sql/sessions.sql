-- hive_otel.collector.queries.status.recent_sessions: `hive-otel status`, newest first. From session_health,
-- so a session's health (idle by design, stalled by bug) is the API's and the Status dashboard's.
SELECT tenant, session, agent_role AS role, root_session, colony, lifecycle AS status, health, phase,
       last_seen_at AS last_seen, llm_calls, tool_calls, cost_usd, cost_estimated_usd
FROM session_health{where}
ORDER BY last_seen_at DESC, session
LIMIT {limit}
