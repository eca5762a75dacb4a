-- hive_otel.collector.queries.hive_sessions.latest_model: the model of the session's most recent LLM call
-- ({tenant}, {session}: sql_string literals). Every stored version of a call names the same model or none,
-- so this needs no FINAL merge.
SELECT argMax(model, occurred_at)
FROM usage_facts
WHERE tenant = {tenant} AND session = {session} AND kind = 'llm' AND model != ''
