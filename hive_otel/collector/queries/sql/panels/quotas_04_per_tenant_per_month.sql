-- Hive · Quotas: Per tenant per month (panel 4 of deploy/grafana/dashboards/quotas.json)
SELECT toStartOfMonth(hour) AS month, tenant, sum(llm_calls) AS calls,
       sum(input_tokens) + sum(output_tokens) AS tokens, toFloat64(sum(cost_usd)) AS `runtime USD`,
       toFloat64(sum(cost_estimated_usd)) AS `estimated USD`, `runtime USD` + `estimated USD` AS `total USD`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} GROUP BY month, tenant ORDER BY month DESC, tenant
