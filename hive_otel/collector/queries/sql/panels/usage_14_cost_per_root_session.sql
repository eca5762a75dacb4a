-- Hive · Usage: Cost per root session (a queen and the workers it spawned) (panel 14 of deploy/grafana/dashboards/usage.json)
SELECT root_session, countDistinct(colony) AS colonies, sum(llm_calls) AS calls,
       toFloat64(sum(cost_usd)) AS `runtime USD`, toFloat64(sum(cost_estimated_usd)) AS `estimated USD`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user}
GROUP BY root_session ORDER BY `runtime USD` + `estimated USD` DESC LIMIT 20
