-- Hive · Usage: Top sessions (panel 13 of deploy/grafana/dashboards/usage.json)
SELECT session, agent_role AS role, queen, colony, status, llm_calls AS calls,
       input_tokens + output_tokens AS tokens, tool_calls AS `tool calls`, toFloat64(cost_usd) AS `runtime USD`,
       toFloat64(cost_estimated_usd) AS `estimated USD`, last_event_at AS `last seen`
FROM agent_session_status WHERE {range:last_event_at} AND {filter:tenant} AND {filter:user}
ORDER BY `runtime USD` + `estimated USD` DESC, session LIMIT 20
