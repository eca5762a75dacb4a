-- Hive · Usage: Cost by colony (panel 10 of deploy/grafana/dashboards/usage.json)
SELECT if(colony = '', '(queen sessions)', colony) AS colony, toFloat64(sum(cost_usd)) AS runtime,
       toFloat64(sum(cost_estimated_usd)) AS estimated
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user} GROUP BY colony ORDER BY runtime + estimated DESC
