-- otel_traces: raw spans, column-compatible with the OpenTelemetry Collector contrib clickhouseexporter
-- (internal/sqltemplates/traces_table.sql, bloom-filter index variant), so Grafana's trace view and
-- other readers of the exporter's tables work on this one. Filled by the trace ingest chain
-- (otlp_traces_input, migration create_otlp_traces_input).
CREATE TABLE IF NOT EXISTS otel_traces {on_cluster} (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    ResourceAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    SpanAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(SpanAttributes, 'Array(Tuple(String, String))')),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = {engine_prefix}MergeTree
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
{traces_ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

-- The exporter's trace-id → time-range lookup (traces_id_ts_lookup_table.sql / _mv.sql), which
-- Grafana uses to bound a trace-by-id query to the partitions that hold it.
CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts {on_cluster} (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))
) ENGINE = {engine_prefix}AggregatingMergeTree
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv {on_cluster}
TO otel_traces_trace_id_ts
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM otel_traces
WHERE TraceId != ''
GROUP BY TraceId;

-- The key (tenant, TraceId, SpanId) of every stored span, so a span sent again is not stored again
-- (a client retrying a request the collector answered with an error, a --replay, a group commit
-- retried request by request): the ingest chain drops the spans whose key is here. An EmbeddedRocksDB
-- table: point lookups by key, on disk, so the cost of an insert is that of its own rows whatever the
-- table's size. The tenant is part of the key, so a tenant's keys never hide another tenant's spans.
-- On a cluster it is per node, like usage_key_index: point each collector at one node.
CREATE TABLE IF NOT EXISTS otel_span_keys {on_cluster} (
    key FixedString(16)
) ENGINE = EmbeddedRocksDB
PRIMARY KEY key;

-- Keys are taken from otel_traces itself, not from the ingest chain: a view of a table runs after
-- that table's block was written, so a key is stored only for a row that was (a sibling view of
-- otel_traces' own would store the keys of a block that otel_traces then refused, and the retry
-- of that request would be dropped as a duplicate of rows that were never stored).
CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_to_otel_span_keys_mv {on_cluster}
TO otel_span_keys
AS SELECT sipHash128(ResourceAttributes['hive.tenant.id'], TraceId, SpanId) AS key
FROM otel_traces
WHERE TraceId != '' AND SpanId != '';
