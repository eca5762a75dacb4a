-- hive_otel.collector.api.quotas.QuotaBook.evaluate: one owner's spend, one column per budget ({columns}: the
-- budgets' sumIf expressions, built from the policy with sql_string literals; {where}: the first day of the
-- longest period and the tenant, likewise).
SELECT {columns}
FROM usage_daily
WHERE {where}
