-- hive_otel.collector.api.quotas.QuotaBook.record: budgets' decision changes ({rows}: one tuple per crossing,
-- literals through sql_string and float).
INSERT INTO quota_crossings (tenant, budget_id, at, period_start, scope, scope_value, metric, period,
    previous, decision, spend, limit_value)
VALUES {rows}
