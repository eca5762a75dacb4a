DROP VIEW IF EXISTS session_identity_from_logs_mv {on_cluster};
DROP TABLE IF EXISTS session_identity {on_cluster};
