-- TimestampTime: a log record's time in whole seconds, beside Timestamp, as the OpenTelemetry Collector's
-- clickhouseexporter (and ClickStack, which reads its tables) has it in otel_logs: queries written for that
-- schema filter on it, and failed here with UNKNOWN_IDENTIFIER. Written from Timestamp on insert; rows
-- stored before this migration compute it when read.
ALTER TABLE otel_logs {on_cluster} ADD COLUMN IF NOT EXISTS TimestampTime DateTime DEFAULT toDateTime(Timestamp) AFTER Timestamp;
