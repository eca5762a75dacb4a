-- hive_otel.collector.store.store.Store.reconcile: how many calls the facts hold.
SELECT count() FROM usage_facts FINAL
