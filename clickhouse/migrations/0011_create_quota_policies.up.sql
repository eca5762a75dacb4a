-- quota_policies (U8): each tenant's budget policy as POSTed to /api/quotas/<tenant> (tenant '*' holds
-- the global budgets, which count every tenant's spend). A write is a new version of the whole policy;
-- the latest version wins and a DELETE writes an empty, deleted one, so the history stays readable.
CREATE TABLE IF NOT EXISTS quota_policies {on_cluster} (
    tenant String,
    version UInt64 COMMENT 'nanoseconds since the epoch at the write',
    deleted UInt8,
    policy String COMMENT 'the policy document as JSON (hive_otel.api.quotas.QuotaPolicy)',
    updated_at DateTime64(3, 'UTC')
) ENGINE = {engine_prefix}ReplacingMergeTree(version)
ORDER BY (tenant, version);
