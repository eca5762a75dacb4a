DROP TABLE IF EXISTS redaction_dropped_attributes {on_cluster};
