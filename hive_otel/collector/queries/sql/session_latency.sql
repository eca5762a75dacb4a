-- hive_otel.collector.queries.status.session_latency: LLM call latency of a session or its tree, from the facts.
SELECT count() AS calls, avg(latency_ms) AS mean, quantileExact(0.5)(latency_ms) AS p50,
       quantileExact(0.95)(latency_ms) AS p95, max(latency_ms) AS max
FROM usage_facts FINAL{where} AND kind = 'llm' AND latency_ms > 0
