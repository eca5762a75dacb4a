-- hive_otel.collector.api.quotas.QuotaBook.policies: every tenant's latest policy version and whether it was deleted.
SELECT tenant, argMax(policy, version), argMax(deleted, version)
FROM quota_policies
GROUP BY tenant
