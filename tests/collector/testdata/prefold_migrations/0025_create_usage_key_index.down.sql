DROP VIEW IF EXISTS usage_facts_to_usage_key_index_mv {on_cluster};
DROP TABLE IF EXISTS usage_key_index {on_cluster};
