DROP VIEW IF EXISTS usage_hourly_mv {on_cluster};
DROP TABLE IF EXISTS usage_hourly {on_cluster};
