DROP TABLE IF EXISTS usage_staging {on_cluster};
