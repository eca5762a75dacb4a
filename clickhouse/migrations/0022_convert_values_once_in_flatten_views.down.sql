-- Back to the views' queries of 0015-0017.

ALTER TABLE otlp_traces_input_to_otlp_spans_mv {on_cluster} MODIFY QUERY
SELECT
    batch,
    res['hive.tenant.id'] AS tenant,
    fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano)) AS Timestamp,
    if(replaceAll(sp.trace_id, '\0', '') = '', '', lower(hex(sp.trace_id))) AS TraceId,
    if(replaceAll(sp.span_id, '\0', '') = '', '', lower(hex(sp.span_id))) AS SpanId,
    if(replaceAll(sp.parent_span_id, '\0', '') = '', '', lower(hex(sp.parent_span_id))) AS ParentSpanId,
    sp.trace_state AS TraceState,
    sp.name AS SpanName,
    ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'][least(greatest(sp.kind, 0), 5) + 1] AS SpanKind,
    res['service.name'] AS ServiceName,
    res AS ResourceAttributes,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), sp.attributes.key, sp.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), sp.attributes.value, sp.attributes.key))) AS SpanAttributes,
    if(sp.end_time_unix_nano > sp.start_time_unix_nano, sp.end_time_unix_nano - sp.start_time_unix_nano, 0) AS Duration,
    ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'][least(greatest(sp.status.code, 0), 2) + 1] AS StatusCode,
    sp.status.message AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), sp.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, sp.events) AS `Events.Name`,
    arrayMap(e -> mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), e.attributes.key, e.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), e.attributes.value, e.attributes.key))), sp.events) AS `Events.Attributes`,
    arrayMap(l -> if(replaceAll(l.trace_id, '\0', '') = '', '', lower(hex(l.trace_id))), sp.links) AS `Links.TraceId`,
    arrayMap(l -> if(replaceAll(l.span_id, '\0', '') = '', '', lower(hex(l.span_id))), sp.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, sp.links) AS `Links.TraceState`,
    arrayMap(l -> mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), l.attributes.key, l.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), l.attributes.value, l.attributes.key))), sp.links) AS `Links.Attributes`,
    res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), sp.attributes.key))
        + arraySum(arrayMap(e -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), e.attributes.key)), sp.events))
        + arraySum(arrayMap(l -> if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), l.attributes.key)), sp.links)) AS dropped_attributes
FROM (
    SELECT
        hive_batch AS batch,
        hive_allow_all_keys AS allow_all_keys,
        mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res,
        if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), rs.resource.attributes.key)) AS res_dropped,
        rs.scope_spans AS scopes
    FROM otlp_traces_input ARRAY JOIN resource_spans AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.spans AS sp;

ALTER TABLE otlp_logs_input_to_otlp_log_records_mv {on_cluster} MODIFY QUERY
SELECT
    res['hive.tenant.id'] AS tenant,
    fromUnixTimestamp64Nano(toInt64(if(lr.time_unix_nano != 0, lr.time_unix_nano, lr.observed_time_unix_nano))) AS Timestamp,
    if(replaceAll(lr.trace_id, '\0', '') = '', '', lower(hex(lr.trace_id))) AS TraceId,
    if(replaceAll(lr.span_id, '\0', '') = '', '', lower(hex(lr.span_id))) AS SpanId,
    toUInt8(bitAnd(lr.flags, 255)) AS TraceFlags,
    lr.severity_text AS SeverityText,
    toUInt8(least(greatest(lr.severity_number, 0), 255)) AS SeverityNumber,
    res['service.name'] AS ServiceName,
    if(lr.body.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), lr.body.array_value.values)), multiIf(lr.body.value = 'string', lr.body.string_value, lr.body.value = 'int', toString(lr.body.int_value), lr.body.value = 'double', toString(lr.body.double_value), lr.body.value = 'bool', if(lr.body.bool_value, 'true', 'false'), lr.body.value = 'bytes', base64Encode(lr.body.bytes_value), '')) AS Body,
    rs_schema_url AS ResourceSchemaUrl,
    res AS ResourceAttributes,
    ss.schema_url AS ScopeSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.key, ss.scope.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.value, ss.scope.attributes.key))) AS ScopeAttributes,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), lr.attributes.key, lr.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), lr.attributes.value, lr.attributes.key))) AS LogAttributes,
    lr.event_name AS EventName,
    res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), lr.attributes.key)) AS dropped_attributes
FROM (
    SELECT
        hive_allow_all_keys AS allow_all_keys,
        mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res,
        if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), rs.resource.attributes.key)) AS res_dropped,
        rs.schema_url AS rs_schema_url,
        rs.scope_logs AS scopes
    FROM otlp_logs_input ARRAY JOIN resource_logs AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.log_records AS lr;

ALTER TABLE otlp_metrics_input_to_otel_metrics_sum_v2_mv {on_cluster} MODIFY QUERY
SELECT
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

ALTER TABLE otlp_metrics_input_to_otel_metrics_gauge_v2_mv {on_cluster} MODIFY QUERY
SELECT
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

ALTER TABLE otlp_metrics_input_to_otel_metrics_histogram_v2_mv {on_cluster} MODIFY QUERY
SELECT
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
