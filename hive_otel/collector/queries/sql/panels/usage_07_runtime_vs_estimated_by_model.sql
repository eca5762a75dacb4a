-- Hive · Usage: Runtime vs estimated cost by model (panel 7 of deploy/grafana/dashboards/usage.json)
SELECT if(model = '', '(unknown model)', model) AS model, toFloat64(sum(cost_usd)) AS runtime,
       toFloat64(sum(cost_estimated_usd)) AS estimated
FROM usage_hourly WHERE {range:hour} AND kind = 'llm' AND {filter:tenant} AND {filter:user} AND {filter:model}
GROUP BY model ORDER BY runtime + estimated DESC
