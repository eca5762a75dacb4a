DROP TABLE IF EXISTS quota_crossings {on_cluster};
