-- hive_otel.collector.queries.hive_sessions.events_page: one page of the session's durable events, oldest
-- first ({events}: hive_session_events rendered; {limit}, {offset}: integers).
SELECT at, type, event_seq, stream, node, execution, data FROM ({events})
ORDER BY at, type, ifNull(event_seq, 0), toString(data)
LIMIT {limit} OFFSET {offset}
