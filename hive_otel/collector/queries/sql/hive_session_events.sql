-- hive_otel.collector.queries.hive_sessions: one row per durable event of a session,
-- (at, type, event_seq, stream, node, execution, data); the inner query of the three below.
-- {tenant}, {session}: sql_string literals; {own_events}: hive-otel's own event names, sql_string literals.
-- The status log records, Hive's bus events as the policy let them out; the attributes that place a
-- record become the event's own fields, the rest is its data; a record re-sent by a replay is listed once.
(SELECT toDateTime64(Timestamp, 9, 'UTC') AS at,
    if(LogAttributes['hive.event.type'] != '', LogAttributes['hive.event.type'], substring(EventName, 6)) AS type,
    toInt64OrNull(LogAttributes['hive.event.seq']) AS event_seq, LogAttributes['hive.stream.id'] AS stream,
    LogAttributes['hive.node.id'] AS node, LogAttributes['hive.execution.id'] AS execution,
    mapFilter((k, v) -> NOT has(['hive.event.type', 'hive.event.seq', 'hive.stream.id', 'hive.node.id', 'hive.execution.id'], k),
        LogAttributes) AS data
FROM otel_logs
WHERE ResourceAttributes['hive.tenant.id'] = {tenant} AND ResourceAttributes['hive.session.id'] = {session}
    AND EventName NOT IN ({own_events})
LIMIT 1 BY Timestamp, EventName, toString(LogAttributes))
UNION ALL
-- One llm_turn_complete or tool_call_completed per call, its final version.
(SELECT occurred_at AS at, if(kind = 'llm', 'llm_turn_complete', 'tool_call_completed') AS type,
    CAST(NULL, 'Nullable(Int64)') AS event_seq, '' AS stream, node_id AS node, execution_id AS execution,
    mapFilter((k, v) -> v != '', map('model', model, 'provider', provider, 'input_tokens', toString(input_tokens),
        'output_tokens', toString(output_tokens), 'cached_tokens', toString(cached_tokens),
        'cache_creation_tokens', toString(cache_creation_tokens), 'cost_usd', toString(cost_usd),
        'cost_source', cost_source, 'latency_ms', toString(latency_ms), 'tool_name', tool_name,
        'is_error', if(kind = 'tool', toString(is_error), ''), 'call_key', call_key)) AS data
FROM usage_facts FINAL
WHERE tenant = {tenant} AND session = {session})
