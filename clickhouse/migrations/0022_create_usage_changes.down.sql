-- Back to two inserts (usage_ledger, then usage_facts): the store of the code before 0022.
DROP VIEW IF EXISTS usage_changes_to_usage_facts_mv {on_cluster};
DROP VIEW IF EXISTS usage_changes_to_usage_ledger_mv {on_cluster};
DROP TABLE IF EXISTS usage_changes {on_cluster};
