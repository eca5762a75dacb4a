DROP VIEW IF EXISTS session_health {on_cluster};
