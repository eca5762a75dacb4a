DROP VIEW IF EXISTS session_tasks {on_cluster};
