-- Hive · Usage: Runtime vs estimated cost by day (panel 8 of deploy/grafana/dashboards/usage.json)
SELECT toStartOfDay(hour) AS time, toFloat64(sum(cost_usd)) AS runtime, toFloat64(sum(cost_estimated_usd)) AS estimated
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user} GROUP BY time ORDER BY time
