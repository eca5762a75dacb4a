-- TimestampTime: a log record's time in whole seconds, beside Timestamp, as the OpenTelemetry Collector's
-- clickhouseexporter (and ClickStack, which reads its tables) has it in otel_logs: queries written for that
-- schema filter on it, and failed here with UNKNOWN_IDENTIFIER. Written from Timestamp on insert; rows
-- stored before this migration compute it when read. A record after 2106-02-07 06:28:15 (Timestamp
-- goes to 2262) gets that last second rather than a time wrapped back to the 20th century.
ALTER TABLE otel_logs {on_cluster} ADD COLUMN IF NOT EXISTS TimestampTime DateTime
    DEFAULT toDateTime(least(Timestamp, toDateTime64(4294967295, 9))) AFTER Timestamp;
