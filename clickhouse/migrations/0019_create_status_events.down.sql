DROP VIEW IF EXISTS session_health {on_cluster};
DROP VIEW IF EXISTS session_triggers {on_cluster};
DROP VIEW IF EXISTS session_tasks {on_cluster};
DROP VIEW IF EXISTS status_events_from_logs_mv {on_cluster};
DROP TABLE IF EXISTS status_events {on_cluster};
