-- redaction_allowed_keys: the attribute keys the store keeps, the redaction allowlist enforced again in
-- the store (defence in depth): the policy's exported keys, one row per version of the policy, written
-- by the store when it opens and the policy changed; the highest version is in force. The ingest
-- chains remove every attribute key of resources, scopes, spans, span events, links, log records and
-- metric points that is not in it before anything is stored, and count what they removed in
-- redaction_dropped_attributes. A request inserted with hive_allow_all_keys = true (a store opened with
-- allow_all_keys=True, for non-Hive OTLP sources) keeps every key. An empty table keeps nothing (fails
-- closed). (The views read it with an IN subquery: scalar subqueries inside materialized views yield
-- no rows.)
CREATE TABLE IF NOT EXISTS redaction_allowed_keys {on_cluster} (
    version UInt64,
    keys Array(String)
) ENGINE = {engine_prefix}MergeTree
ORDER BY version;
