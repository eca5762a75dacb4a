-- Hive · Usage: By model (panel 9 of deploy/grafana/dashboards/usage.json)
SELECT if(model = '', '(unknown model)', model) AS model, any(provider) AS provider, sum(llm_calls) AS calls,
       sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cached_tokens) AS `cache read`,
       toFloat64(sum(cost_usd)) AS `runtime USD`, toFloat64(sum(cost_estimated_usd)) AS `estimated USD`,
       sum(unpriced_calls) AS unpriced
FROM usage_hourly WHERE {range:hour} AND kind = 'llm' AND {filter:tenant} AND {filter:user} AND {filter:model}
GROUP BY model ORDER BY `runtime USD` + `estimated USD` DESC
