-- Exponential histograms and summaries are stored, in the clickhouseexporter's tables for them
-- (otel_metrics_exponential_histogram, otel_metrics_summary; their times in whole seconds, as in our
-- other metric tables). Until now their points were refused with a partial success: other senders
-- make them (SDKs with base2 exponential buckets, the Collector's prometheus receiver for summaries),
-- and the Python SDK's exporter reports a partial success as a success.
--
-- The metric input table takes the two kinds (hive_otel/collector/store/otlp_schema.py parses them),
-- checks their values are flat like the others', and gains times_before_2106: a metric time from
-- 2^32 s on does not fit DateTime and was stored as 2106-02-07 06:28:15 without a word. The store takes
-- such points out before it inserts and refuses them one by one, with the constraint's name as the
-- reason (Store.ingest_metrics); the constraint refuses any that would come in another way.
-- CREATE OR REPLACE swaps the Null table; the views reading it follow (it holds no data).
-- The view that counts what the allowlist removed counts their attributes too.

CREATE OR REPLACE TABLE otlp_metrics_input {on_cluster} (
    hive_tenant String,
    hive_batch UInt64,
    resource_metrics Array(Tuple(resource Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))), scope_metrics Array(Tuple(scope Tuple(name String, version String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), dropped_attributes_count UInt32), metrics Array(Tuple(name String, description String, unit String, gauge Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, as_double Float64, as_int Int64, exemplars Array(Tuple(filtered_attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), time_unix_nano UInt64, as_double Float64, as_int Int64, span_id String, trace_id String)), flags UInt32))), sum Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, as_double Float64, as_int Int64, exemplars Array(Tuple(filtered_attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), time_unix_nano UInt64, as_double Float64, as_int Int64, span_id String, trace_id String)), flags UInt32)), aggregation_temporality Int32, is_monotonic Bool), histogram Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, count UInt64, sum Float64, bucket_counts Array(UInt64), explicit_bounds Array(Float64), exemplars Array(Tuple(filtered_attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), time_unix_nano UInt64, as_double Float64, as_int Int64, span_id String, trace_id String)), flags UInt32, min Float64, max Float64)), aggregation_temporality Int32), exponential_histogram Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, count UInt64, sum Float64, scale Int32, zero_count UInt64, positive Tuple(offset Int32, bucket_counts Array(UInt64)), negative Tuple(offset Int32, bucket_counts Array(UInt64)), flags UInt32, exemplars Array(Tuple(filtered_attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), time_unix_nano UInt64, as_double Float64, as_int Int64, span_id String, trace_id String)), min Float64, max Float64, zero_threshold Float64)), aggregation_temporality Int32), summary Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, count UInt64, sum Float64, quantile_values Array(Tuple(quantile Float64, value Float64)), flags UInt32))))), schema_url String)), schema_url String)),
    hive_allow_all_keys Bool,
    CONSTRAINT values_are_flat CHECK NOT (
        has(arrayFlatten(resource_metrics.resource.attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.resource.attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.scope.attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.scope.attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.gauge.data_points.attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.gauge.data_points.attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.gauge.data_points.exemplars.filtered_attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.gauge.data_points.exemplars.filtered_attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.sum.data_points.attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.sum.data_points.attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.sum.data_points.exemplars.filtered_attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.sum.data_points.exemplars.filtered_attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.histogram.data_points.attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.histogram.data_points.attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.histogram.data_points.exemplars.filtered_attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.histogram.data_points.exemplars.filtered_attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.exponential_histogram.data_points.attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.exponential_histogram.data_points.attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.exponential_histogram.data_points.exemplars.filtered_attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.exponential_histogram.data_points.exemplars.filtered_attributes.value.array_value.values.value), ['array', 'kvlist'])
        OR has(arrayFlatten(resource_metrics.scope_metrics.metrics.summary.data_points.attributes.value.value), 'kvlist')
        OR hasAny(arrayFlatten(resource_metrics.scope_metrics.metrics.summary.data_points.attributes.value.array_value.values.value), ['array', 'kvlist'])
    ),
    CONSTRAINT times_before_2106 CHECK arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.gauge.data_points.start_time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.gauge.data_points.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.gauge.data_points.exemplars.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.sum.data_points.start_time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.sum.data_points.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.sum.data_points.exemplars.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.histogram.data_points.start_time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.histogram.data_points.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.histogram.data_points.exemplars.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.exponential_histogram.data_points.start_time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.exponential_histogram.data_points.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.exponential_histogram.data_points.exemplars.time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.summary.data_points.start_time_unix_nano)) < 4294967296000000000
        AND arrayMax(arrayFlatten(resource_metrics.scope_metrics.metrics.summary.data_points.time_unix_nano)) < 4294967296000000000
) ENGINE = Null;

CREATE TABLE IF NOT EXISTS otel_metrics_exponential_histogram {on_cluster} (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime,
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_time_minmax TimeUnix TYPE minmax GRANULARITY 1
) ENGINE = {engine_prefix}MergeTree
{metrics_ttl}
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS otel_metrics_summary {on_cluster} (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_time_minmax TimeUnix TYPE minmax GRANULARITY 1
) ENGINE = {engine_prefix}MergeTree
{metrics_ttl}
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_exponential_histogram_mv {on_cluster}
TO otel_metrics_exponential_histogram
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.key, ss.scope.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.value, ss.scope.attributes.key))) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.key, dp.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.value, dp.attributes.key))) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.count AS Count,
    dp.sum AS Sum,
    dp.scale AS Scale,
    dp.zero_count AS ZeroCount,
    dp.positive.offset AS PositiveOffset,
    dp.positive.bucket_counts AS PositiveBucketCounts,
    dp.negative.offset AS NegativeOffset,
    dp.negative.bucket_counts AS NegativeBucketCounts,
    arrayMap(x -> mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.key, x.filtered_attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.value, x.filtered_attributes.key))), dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> toDateTime(intDiv(x.time_unix_nano, 1000000000)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> x.as_double + toFloat64(x.as_int), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> if(replaceAll(x.span_id, '\0', '') = '', '', lower(hex(x.span_id))), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> if(replaceAll(x.trace_id, '\0', '') = '', '', lower(hex(x.trace_id))), dp.exemplars) AS `Exemplars.TraceId`,
    dp.flags AS Flags,
    dp.min AS Min,
    dp.max AS Max,
    m.exponential_histogram.aggregation_temporality AS AggregationTemporality
FROM (
    SELECT hive_allow_all_keys AS allow_all_keys, mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.exponential_histogram.data_points AS dp;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_summary_mv {on_cluster}
TO otel_metrics_summary
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.key, ss.scope.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.value, ss.scope.attributes.key))) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.key, dp.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.value, dp.attributes.key))) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.count AS Count,
    dp.sum AS Sum,
    arrayMap(q -> q.quantile, dp.quantile_values) AS `ValueAtQuantiles.Quantile`,
    arrayMap(q -> q.value, dp.quantile_values) AS `ValueAtQuantiles.Value`,
    dp.flags AS Flags
FROM (
    SELECT hive_allow_all_keys AS allow_all_keys, mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.summary.data_points AS dp;

ALTER TABLE otlp_metrics_input_to_redaction_dropped_attributes_mv {on_cluster} MODIFY QUERY
SELECT tenant, today() AS day, 'metrics' AS signal, sum(point_drops) AS dropped_attributes
FROM (
    SELECT
        tenant,
        arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)) + arraySum(arrayMap(x -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), x.filtered_attributes.key)), dp.exemplars)), m.sum.data_points)) + arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)) + arraySum(arrayMap(x -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), x.filtered_attributes.key)), dp.exemplars)), m.gauge.data_points)) + arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)) + arraySum(arrayMap(x -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), x.filtered_attributes.key)), dp.exemplars)), m.histogram.data_points)) + arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)) + arraySum(arrayMap(x -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), x.filtered_attributes.key)), dp.exemplars)), m.exponential_histogram.data_points)) + arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)), m.summary.data_points)) AS point_drops
    FROM (
        SELECT
            hive_allow_all_keys AS allow_all_keys,
            if(hive_tenant != '', hive_tenant,
               rs.resource.attributes.value[indexOf(rs.resource.attributes.key, 'hive.tenant.id')].string_value) AS tenant,
            if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), rs.resource.attributes.key)) AS res_dropped,
            rs.scope_metrics AS scopes
        FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
    )
    ARRAY JOIN scopes AS ss
    ARRAY JOIN ss.metrics AS m
)
GROUP BY tenant
HAVING dropped_attributes > 0;
