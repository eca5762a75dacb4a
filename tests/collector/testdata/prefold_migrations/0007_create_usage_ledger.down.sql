DROP TABLE IF EXISTS usage_ledger {on_cluster};
