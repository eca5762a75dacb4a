DROP VIEW IF EXISTS usage_session_totals_mv {on_cluster};
DROP VIEW IF EXISTS usage_daily_mv {on_cluster};
DROP VIEW IF EXISTS usage_hourly_mv {on_cluster};
DROP TABLE IF EXISTS usage_session_totals {on_cluster};
DROP TABLE IF EXISTS usage_daily {on_cluster};
DROP TABLE IF EXISTS usage_hourly {on_cluster};
DROP TABLE IF EXISTS usage_ledger {on_cluster};
