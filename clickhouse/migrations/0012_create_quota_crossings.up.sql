-- quota_crossings (U8): every time a budget's decision changed (allow → alert → block, and back when a
-- new day or month starts), with the spend and limit that made it change. Written by the collector's
-- quota evaluator as data arrives, read by GET /api/quotas/<tenant> and streamed on the SSE routes.
CREATE TABLE IF NOT EXISTS quota_crossings {on_cluster} (
    tenant String COMMENT '* for a global budget',
    budget_id String,
    at DateTime64(3, 'UTC'),
    period_start Date,
    scope LowCardinality(String),
    scope_value String,
    metric LowCardinality(String),
    period LowCardinality(String),
    previous LowCardinality(String),
    decision LowCardinality(String),
    spend Float64,
    limit_value Float64
) ENGINE = {engine_prefix}MergeTree
ORDER BY (tenant, at, budget_id);
