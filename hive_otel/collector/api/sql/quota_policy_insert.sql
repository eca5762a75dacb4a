-- hive_otel.collector.api.quotas.QuotaBook.write: a tenant's new policy version ({tenant}, {policy}: sql_string
-- literals; {version}: nanoseconds; {deleted}: 0 or 1).
INSERT INTO quota_policies (tenant, version, deleted, policy, updated_at)
VALUES ({tenant}, {version}, {deleted}, {policy}, now64(3, 'UTC'))
