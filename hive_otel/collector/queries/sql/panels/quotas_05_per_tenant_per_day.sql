-- Hive · Quotas: Per tenant per day (panel 5 of deploy/grafana/dashboards/quotas.json)
SELECT toDate(hour) AS day, tenant, sum(llm_calls) AS calls, sum(input_tokens) + sum(output_tokens) AS tokens,
       sum(tool_calls) AS `tool calls`, toFloat64(sum(cost_usd + cost_estimated_usd)) AS `total USD`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} GROUP BY day, tenant ORDER BY day DESC, tenant
