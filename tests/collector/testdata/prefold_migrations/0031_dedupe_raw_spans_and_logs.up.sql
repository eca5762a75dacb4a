-- Raw spans and log records are stored once, whatever is sent again: a client retrying a request
-- the collector answered with an error, a --replay, a group commit retried request by request.
--
-- Each span's key (tenant, TraceId, SpanId), and each log record's key (a hash of all it carries),
-- is kept in an EmbeddedRocksDB table: point lookups by key, on disk, so the cost of an insert is
-- that of its own rows whatever the table's size. A view drops the rows of a block whose key is
-- stored (or repeated earlier in the block) on the way from otlp_spans / otlp_log_records to a new
-- Null table; the raw tables are filled from there, and the key tables from the raw tables. Before, the raw tables were
-- filled straight from otlp_spans / otlp_log_records. Spans without valid ids are never dropped.
-- usage_staging still reads every span: usage has its own exactly-once merge (usage_key_index).
--
-- A tenant's keys never hide another tenant's rows (the tenant is part of the key). On a cluster the
-- key tables are per node, like usage_key_index: point each collector at one node.
CREATE TABLE IF NOT EXISTS otel_span_keys {on_cluster} (
    key FixedString(16)
) ENGINE = EmbeddedRocksDB
PRIMARY KEY key;

CREATE TABLE IF NOT EXISTS otlp_spans_fresh {on_cluster} AS otlp_spans ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_to_otlp_spans_fresh_mv {on_cluster}
TO otlp_spans_fresh
AS SELECT * EXCEPT (span_key, row)
FROM (
    SELECT *, sipHash128(tenant, TraceId, SpanId) AS span_key, rowNumberInAllBlocks() AS row
    FROM otlp_spans
)
WHERE TraceId = '' OR SpanId = '' OR span_key NOT IN (
    SELECT key FROM otel_span_keys WHERE key IN (SELECT sipHash128(tenant, TraceId, SpanId) FROM otlp_spans))
LIMIT 1 BY if(TraceId = '' OR SpanId = '', toString(row), span_key);

DROP VIEW IF EXISTS otlp_spans_to_otel_traces_mv {on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_fresh_to_otel_traces_mv {on_cluster}
TO otel_traces
AS SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes,
    ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Timestamp`, `Events.Name`,
    `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
FROM otlp_spans_fresh;

-- Keys are taken from otel_traces itself, not from otlp_spans_fresh: a view of a table runs after
-- that table's block was written, so a key is stored only for a row that was (a sibling view of
-- otel_traces' own would store the keys of a block that otel_traces then refused, and the retry
-- of that request would be dropped as a duplicate of rows that were never stored).
CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_to_otel_span_keys_mv {on_cluster}
TO otel_span_keys
AS SELECT sipHash128(ResourceAttributes['hive.tenant.id'], TraceId, SpanId) AS key
FROM otel_traces
WHERE TraceId != '' AND SpanId != '';

CREATE TABLE IF NOT EXISTS otel_log_keys {on_cluster} (
    key FixedString(16)
) ENGINE = EmbeddedRocksDB
PRIMARY KEY key;

CREATE TABLE IF NOT EXISTS otlp_log_records_fresh {on_cluster} AS otlp_log_records ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_log_records_to_otlp_log_records_fresh_mv {on_cluster}
TO otlp_log_records_fresh
AS SELECT * EXCEPT (log_key)
FROM (
    SELECT *, sipHash128(tenant, Timestamp, TraceId, SpanId, SeverityNumber, SeverityText, Body, EventName, ScopeName,
                         mapKeys(LogAttributes), mapValues(LogAttributes),
                         mapKeys(ResourceAttributes), mapValues(ResourceAttributes)) AS log_key
    FROM otlp_log_records
)
WHERE log_key NOT IN (
    SELECT key FROM otel_log_keys WHERE key IN (
        SELECT sipHash128(tenant, Timestamp, TraceId, SpanId, SeverityNumber, SeverityText, Body, EventName, ScopeName,
                          mapKeys(LogAttributes), mapValues(LogAttributes),
                          mapKeys(ResourceAttributes), mapValues(ResourceAttributes))
        FROM otlp_log_records))
LIMIT 1 BY log_key;

DROP VIEW IF EXISTS otlp_log_records_to_otel_logs_mv {on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_log_records_fresh_to_otel_logs_mv {on_cluster}
TO otel_logs
AS SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, ResourceSchemaUrl,
          ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName
FROM otlp_log_records_fresh;

-- From otel_logs itself, for the reason given for otel_span_keys.
CREATE MATERIALIZED VIEW IF NOT EXISTS otel_logs_to_otel_log_keys_mv {on_cluster}
TO otel_log_keys
AS SELECT sipHash128(ResourceAttributes['hive.tenant.id'], Timestamp, TraceId, SpanId, SeverityNumber, SeverityText, Body, EventName, ScopeName,
                     mapKeys(LogAttributes), mapValues(LogAttributes),
                     mapKeys(ResourceAttributes), mapValues(ResourceAttributes)) AS key
FROM otel_logs;
