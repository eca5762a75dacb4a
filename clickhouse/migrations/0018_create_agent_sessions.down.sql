DROP VIEW IF EXISTS agent_session_status {on_cluster};
DROP VIEW IF EXISTS agent_sessions_from_logs_mv {on_cluster};
DROP VIEW IF EXISTS agent_sessions_from_traces_mv {on_cluster};
DROP TABLE IF EXISTS agent_sessions {on_cluster};
