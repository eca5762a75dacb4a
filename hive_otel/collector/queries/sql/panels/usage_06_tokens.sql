-- Hive · Usage: Tokens (panel 6 of deploy/grafana/dashboards/usage.json)
SELECT {interval:hour} AS time, sum(input_tokens) AS input, sum(output_tokens) AS output,
       sum(cached_tokens) AS `cache read`
FROM usage_hourly WHERE {range:hour} AND kind = 'llm' AND {filter:tenant} AND {filter:user} AND {filter:model}
GROUP BY time ORDER BY time
