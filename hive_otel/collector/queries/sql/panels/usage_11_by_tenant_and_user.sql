-- Hive · Usage: By tenant and user (panel 11 of deploy/grafana/dashboards/usage.json)
SELECT tenant, if(user = '', '(no user id)', user) AS user, sum(llm_calls) AS calls,
       sum(input_tokens) + sum(output_tokens) AS tokens, sum(tool_calls) AS `tool calls`,
       toFloat64(sum(cost_usd)) AS `runtime USD`, toFloat64(sum(cost_estimated_usd)) AS `estimated USD`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user} GROUP BY tenant, user ORDER BY tenant, user
