-- Hive · Usage: Calls (panel 3 of deploy/grafana/dashboards/usage.json)
SELECT sum(llm_calls) AS `LLM calls`, sum(unpriced_calls) AS unpriced, sum(tool_calls) AS `tool calls`,
       sum(tool_errors) AS `tool errors`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user}
