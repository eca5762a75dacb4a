-- hive_otel.collector.store.store.Store.reconcile: one +1 ledger row per current fact, summed by the rollup
-- views ({columns}: hive_otel.collector.rollups.usage_merge.LEDGER_COLUMNS).
INSERT INTO usage_ledger ({columns}, unpriced, sign, version)
SELECT {columns}, toUInt8(kind = 'llm' AND cost_source = 'unpriced'), 1, version
FROM usage_facts FINAL
