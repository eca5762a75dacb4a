-- hive_otel.collector.api.quotas.QuotaBook.last_decisions: each budget's latest decision and its period start.
SELECT tenant, budget_id, argMax(decision, at), toString(argMax(period_start, at))
FROM quota_crossings
GROUP BY tenant, budget_id
