-- redaction_dropped_attributes: the attribute key/value pairs the ingest chains removed because the
-- policy does not export the key (redaction_allowed_keys), per tenant, day and signal: each removed
-- pair of each stored span, log record or metric point, resource attributes counted on every item
-- that carries them. Filled by one view per signal (migrations create_otlp_*_input).
CREATE TABLE IF NOT EXISTS redaction_dropped_attributes {on_cluster} (
    tenant LowCardinality(String),
    day Date,
    signal LowCardinality(String) COMMENT 'traces | logs | metrics',
    dropped_attributes UInt64 COMMENT 'attribute key/value pairs removed because the policy does not export the key'
) ENGINE = {engine_prefix}SummingMergeTree
ORDER BY (tenant, day, signal);
