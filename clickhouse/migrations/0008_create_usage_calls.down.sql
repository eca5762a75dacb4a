DROP VIEW IF EXISTS usage_facts_to_usage_calls_mv {on_cluster};
DROP TABLE IF EXISTS usage_calls {on_cluster};
