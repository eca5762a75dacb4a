-- Metric ingest with the redaction allowlist enforced again (see 0016): the three views of 0015 are
-- replaced by views that keep only allowed attribute keys (resource, scope, point and exemplar
-- attributes), and one more view counts what was removed, per stored point.
ALTER TABLE otlp_metrics_input {on_cluster} ADD COLUMN IF NOT EXISTS hive_allow_all_keys Bool;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_sum_v2_mv {on_cluster}
TO otel_metrics_sum
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.key, ss.scope.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.value, ss.scope.attributes.key))) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.key, dp.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.value, dp.attributes.key))) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.as_double + toFloat64(dp.as_int) AS Value,
    dp.flags AS Flags,
    arrayMap(x -> mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.key, x.filtered_attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.value, x.filtered_attributes.key))), dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> toDateTime(intDiv(x.time_unix_nano, 1000000000)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> x.as_double + toFloat64(x.as_int), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> if(replaceAll(x.span_id, '\0', '') = '', '', lower(hex(x.span_id))), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> if(replaceAll(x.trace_id, '\0', '') = '', '', lower(hex(x.trace_id))), dp.exemplars) AS `Exemplars.TraceId`,
    m.sum.aggregation_temporality AS AggregationTemporality,
    m.sum.is_monotonic AS IsMonotonic
FROM (
    SELECT hive_allow_all_keys AS allow_all_keys, mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.sum.data_points AS dp;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_gauge_v2_mv {on_cluster}
TO otel_metrics_gauge
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.key, ss.scope.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.value, ss.scope.attributes.key))) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.key, dp.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.value, dp.attributes.key))) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.as_double + toFloat64(dp.as_int) AS Value,
    dp.flags AS Flags,
    arrayMap(x -> mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.key, x.filtered_attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.value, x.filtered_attributes.key))), dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> toDateTime(intDiv(x.time_unix_nano, 1000000000)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> x.as_double + toFloat64(x.as_int), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> if(replaceAll(x.span_id, '\0', '') = '', '', lower(hex(x.span_id))), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> if(replaceAll(x.trace_id, '\0', '') = '', '', lower(hex(x.trace_id))), dp.exemplars) AS `Exemplars.TraceId`
FROM (
    SELECT hive_allow_all_keys AS allow_all_keys, mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.gauge.data_points AS dp;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_otel_metrics_histogram_v2_mv {on_cluster}
TO otel_metrics_histogram
AS SELECT
    res AS ResourceAttributes,
    rs_schema_url AS ResourceSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.key, ss.scope.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.value, ss.scope.attributes.key))) AS ScopeAttributes,
    ss.scope.dropped_attributes_count AS ScopeDroppedAttrCount,
    ss.schema_url AS ScopeSchemaUrl,
    res['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.key, dp.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), dp.attributes.value, dp.attributes.key))) AS Attributes,
    toDateTime(intDiv(dp.start_time_unix_nano, 1000000000)) AS StartTimeUnix,
    toDateTime(intDiv(dp.time_unix_nano, 1000000000)) AS TimeUnix,
    dp.count AS Count,
    dp.sum AS Sum,
    dp.bucket_counts AS BucketCounts,
    dp.explicit_bounds AS ExplicitBounds,
    arrayMap(x -> mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.key, x.filtered_attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), x.filtered_attributes.value, x.filtered_attributes.key))), dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> toDateTime(intDiv(x.time_unix_nano, 1000000000)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> x.as_double + toFloat64(x.as_int), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> if(replaceAll(x.span_id, '\0', '') = '', '', lower(hex(x.span_id))), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> if(replaceAll(x.trace_id, '\0', '') = '', '', lower(hex(x.trace_id))), dp.exemplars) AS `Exemplars.TraceId`,
    dp.flags AS Flags,
    dp.min AS Min,
    dp.max AS Max,
    m.histogram.aggregation_temporality AS AggregationTemporality
FROM (
    SELECT hive_allow_all_keys AS allow_all_keys, mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_metrics AS scopes
    FROM otlp_metrics_input ARRAY JOIN resource_metrics AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.metrics AS m
ARRAY JOIN m.histogram.data_points AS dp;


CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_metrics_input_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'metrics' AS signal, sum(point_drops) AS dropped_attributes
FROM (
    SELECT
        tenant,
        arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)) + arraySum(arrayMap(x -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), x.filtered_attributes.key)), dp.exemplars)), m.sum.data_points)) + arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)) + arraySum(arrayMap(x -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), x.filtered_attributes.key)), dp.exemplars)), m.gauge.data_points)) + arraySum(arrayMap(dp -> res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), dp.attributes.key)) + arraySum(arrayMap(x -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), x.filtered_attributes.key)), dp.exemplars)), m.histogram.data_points)) AS point_drops
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

DROP VIEW IF EXISTS otlp_metrics_input_to_otel_metrics_histogram_mv {on_cluster};
DROP VIEW IF EXISTS otlp_metrics_input_to_otel_metrics_gauge_mv {on_cluster};
DROP VIEW IF EXISTS otlp_metrics_input_to_otel_metrics_sum_mv {on_cluster};
