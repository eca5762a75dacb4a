-- Hive · Usage: Cost (panel 2 of deploy/grafana/dashboards/usage.json)
SELECT toFloat64(sum(cost_usd)) AS `runtime USD`, toFloat64(sum(cost_estimated_usd)) AS `estimated USD`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user}
