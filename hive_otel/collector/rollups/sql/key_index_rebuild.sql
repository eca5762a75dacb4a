-- hive_otel.collector.rollups.key_index.rebuild_index_sql: refill usage_key_index from the current facts,
-- sentinel last (three statements, each ending with ";"; {key_hash}, {fingerprint}: the index's expressions).
TRUNCATE TABLE usage_key_index;
INSERT INTO usage_key_index SELECT {key_hash}, {fingerprint} FROM usage_facts FINAL;
-- The sentinel: the index holds this row once it was built from usage_facts (INDEX_READY_SQL).
INSERT INTO usage_key_index VALUES (0, 1);
