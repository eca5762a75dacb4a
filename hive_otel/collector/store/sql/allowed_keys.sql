-- hive_otel.collector.store.store.Store._write_allowed_keys: the store's current redaction allowlist.
SELECT argMax(keys, version) FROM redaction_allowed_keys
