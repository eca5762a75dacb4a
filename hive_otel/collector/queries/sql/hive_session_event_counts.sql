-- hive_otel.collector.queries.hive_sessions.event_counts: how many durable events of each type
-- ({events}: hive_session_events rendered).
SELECT type, count() FROM ({events}) GROUP BY type ORDER BY type
