-- hive_otel.collector.queries.status.recent_sessions: `hive-otel status`, newest first.
SELECT tenant, session, agent_role AS role, root_session, colony, status, phase, last_event_at AS last_seen,
       llm_calls, tool_calls, cost_usd, cost_estimated_usd
FROM agent_session_status{where}
ORDER BY last_event_at DESC, session
LIMIT {limit}
