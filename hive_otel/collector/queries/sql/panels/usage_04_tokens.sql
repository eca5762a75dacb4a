-- Hive · Usage: Tokens (panel 4 of deploy/grafana/dashboards/usage.json)
SELECT sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cached_tokens) AS `cache read`,
       sum(cache_creation_tokens) AS `cache write`
FROM usage_hourly WHERE {range:hour} AND {filter:tenant} AND {filter:user}
