-- Hive · Usage: By day (panel 12 of deploy/grafana/dashboards/usage.json)
SELECT toDate(hour) AS day, sum(llm_calls) AS calls, sum(input_tokens) AS input, sum(output_tokens) AS output,
       sum(tool_calls) AS `tool calls`, toFloat64(sum(cost_usd)) AS `runtime USD`,
       toFloat64(sum(cost_estimated_usd)) AS `estimated USD`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user} GROUP BY day ORDER BY day DESC
