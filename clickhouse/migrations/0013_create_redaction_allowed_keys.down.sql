DROP TABLE IF EXISTS redaction_allowed_keys {on_cluster};
