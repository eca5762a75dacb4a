DROP VIEW IF EXISTS usage_daily_mv {on_cluster};
DROP TABLE IF EXISTS usage_daily {on_cluster};
