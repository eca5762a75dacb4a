-- Hive · Usage: Tools (panel 15 of deploy/grafana/dashboards/usage.json)
SELECT tool_name AS tool, sum(tool_calls) AS calls, sum(tool_errors) AS errors,
       round(100 * sum(tool_errors) / sum(tool_calls), 1) AS `error %`
FROM usage_hourly WHERE {range:hour} AND kind = 'tool' AND {filter:tenant} AND {filter:user}
GROUP BY tool HAVING calls > 0 ORDER BY calls DESC
