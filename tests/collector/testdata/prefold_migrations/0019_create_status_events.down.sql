DROP VIEW IF EXISTS status_events_from_logs_mv {on_cluster};
DROP TABLE IF EXISTS status_events {on_cluster};
