-- Hive · Usage: Cost by model (runtime + estimated) (panel 5 of deploy/grafana/dashboards/usage.json)
SELECT {interval:hour} AS time, if(model = '', '(unknown model)', model) AS model,
       toFloat64(sum(cost_usd + cost_estimated_usd)) AS usd
FROM usage_hourly WHERE {range:hour} AND kind = 'llm' AND {filter:tenant} AND {filter:user} AND {filter:model}
GROUP BY time, model ORDER BY time, model
