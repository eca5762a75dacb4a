DROP TABLE IF EXISTS usage_facts {on_cluster};
