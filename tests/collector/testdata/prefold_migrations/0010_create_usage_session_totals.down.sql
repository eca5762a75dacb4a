DROP VIEW IF EXISTS usage_session_totals_mv {on_cluster};
DROP TABLE IF EXISTS usage_session_totals {on_cluster};
