-- hive_otel.collector.queries.hive_sessions.events_page: how many durable events the session has
-- ({events}: hive_session_events rendered).
SELECT count() FROM ({events})
