-- hive_otel.collector.store.store.Store._write_allowed_keys: a new version of the allowlist ({version}:
-- nanoseconds; {keys}: the policy's exported keys, sql_string literals joined by commas).
INSERT INTO redaction_allowed_keys (version, keys) VALUES ({version}, [{keys}])
