ALTER TABLE otel_logs {on_cluster} DROP COLUMN IF EXISTS TimestampTime;
