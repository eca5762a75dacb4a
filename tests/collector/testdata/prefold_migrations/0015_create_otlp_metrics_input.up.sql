-- OTLP metric ingest: one ExportMetricsServiceRequest per ProtobufSingle row into this Null table,
-- flattened by the views below into otel_metrics_sum / _gauge / _histogram. Exponential histograms
-- and summaries are not stored (hive-otel sends neither).
-- Generated shape: mirrors the OTLP subset in hive_otel/collector/_otlp_schema.py (a test pins both).
CREATE TABLE IF NOT EXISTS otlp_metrics_input {on_cluster} (
    hive_tenant String,
    hive_batch UInt64,
    resource_metrics Array(Tuple(resource Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))), scope_metrics Array(Tuple(scope Tuple(name String, version String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), dropped_attributes_count UInt32), metrics Array(Tuple(name String, description String, unit String, gauge Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, as_double Float64, as_int Int64, exemplars Array(Tuple(filtered_attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), time_unix_nano UInt64, as_double Float64, as_int Int64, span_id String, trace_id String)), flags UInt32))), sum Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, as_double Float64, as_int Int64, exemplars Array(Tuple(filtered_attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), time_unix_nano UInt64, as_double Float64, as_int Int64, span_id String, trace_id String)), flags UInt32)), aggregation_temporality Int32, is_monotonic Bool), histogram Tuple(data_points Array(Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), start_time_unix_nano UInt64, time_unix_nano UInt64, count UInt64, sum Float64, bucket_counts Array(UInt64), explicit_bounds Array(Float64), exemplars Array(Tuple(filtered_attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), time_unix_nano UInt64, as_double Float64, as_int Int64, span_id String, trace_id String)), flags UInt32, min Float64, max Float64)), aggregation_temporality Int32))), schema_url String)), schema_url String))
) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_sum_mv {on_cluster}
TO otel_metrics_sum
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(ss.scope.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), ss.scope.attributes.value)) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(dp.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), dp.attributes.value)) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.as_double + toFloat64(dp.as_int) AS Value,
    dp.flags AS Flags,
    arrayMap(x -> mapFromArrays(x.filtered_attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), x.filtered_attributes.value)), dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> toDateTime(intDiv(x.time_unix_nano, 1000000000)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> x.as_double + toFloat64(x.as_int), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> if(replaceAll(x.span_id, '\0', '') = '', '', lower(hex(x.span_id))), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> if(replaceAll(x.trace_id, '\0', '') = '', '', lower(hex(x.trace_id))), dp.exemplars) AS `Exemplars.TraceId`,
    m.sum.aggregation_temporality AS AggregationTemporality,
    m.sum.is_monotonic AS IsMonotonic
FROM (
    SELECT mapUpdate(mapFromArrays(rs.resource.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), rs.resource.attributes.value)), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.sum.data_points AS dp;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_gauge_mv {on_cluster}
TO otel_metrics_gauge
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(ss.scope.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), ss.scope.attributes.value)) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(dp.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), dp.attributes.value)) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.as_double + toFloat64(dp.as_int) AS Value,
    dp.flags AS Flags,
    arrayMap(x -> mapFromArrays(x.filtered_attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), x.filtered_attributes.value)), dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> toDateTime(intDiv(x.time_unix_nano, 1000000000)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> x.as_double + toFloat64(x.as_int), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> if(replaceAll(x.span_id, '\0', '') = '', '', lower(hex(x.span_id))), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> if(replaceAll(x.trace_id, '\0', '') = '', '', lower(hex(x.trace_id))), dp.exemplars) AS `Exemplars.TraceId`
FROM (
    SELECT mapUpdate(mapFromArrays(rs.resource.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), rs.resource.attributes.value)), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.gauge.data_points AS dp;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_histogram_mv {on_cluster}
TO otel_metrics_histogram
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(ss.scope.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), ss.scope.attributes.value)) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(dp.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), dp.attributes.value)) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.count AS Count,
    dp.sum AS Sum,
    dp.bucket_counts AS BucketCounts,
    dp.explicit_bounds AS ExplicitBounds,
    arrayMap(x -> mapFromArrays(x.filtered_attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), x.filtered_attributes.value)), dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> toDateTime(intDiv(x.time_unix_nano, 1000000000)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> x.as_double + toFloat64(x.as_int), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> if(replaceAll(x.span_id, '\0', '') = '', '', lower(hex(x.span_id))), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> if(replaceAll(x.trace_id, '\0', '') = '', '', lower(hex(x.trace_id))), dp.exemplars) AS `Exemplars.TraceId`,
    dp.flags AS Flags,
    dp.min AS Min,
    dp.max AS Max,
    m.histogram.aggregation_temporality AS AggregationTemporality
FROM (
    SELECT mapUpdate(mapFromArrays(rs.resource.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), rs.resource.attributes.value)), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.histogram.data_points AS dp;
