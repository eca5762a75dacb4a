DROP TABLE IF EXISTS quota_policies {on_cluster};
