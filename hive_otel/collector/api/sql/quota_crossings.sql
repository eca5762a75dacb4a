-- hive_otel.collector.api.quotas.QuotaBook.crossings: latest crossings first ({where}: empty or a WHERE clause
-- on tenant with sql_string literals; {limit}: an integer).
SELECT tenant, budget_id, at, toString(period_start) AS period_start, scope, scope_value AS value, metric,
    period, previous, decision, spend, limit_value AS limit
FROM quota_crossings{where}
ORDER BY at DESC, budget_id
LIMIT {limit}
