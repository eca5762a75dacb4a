DROP VIEW IF EXISTS session_triggers {on_cluster};
