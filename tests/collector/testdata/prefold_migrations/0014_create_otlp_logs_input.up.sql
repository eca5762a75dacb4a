-- OTLP log ingest: one ExportLogsServiceRequest per ProtobufSingle row into this Null table, flattened
-- by the view below into otel_logs (hive_tenant / hive_batch as for traces).
-- Generated shape: mirrors the OTLP subset in hive_otel/collector/_otlp_schema.py (a test pins both).
CREATE TABLE IF NOT EXISTS otlp_logs_input {on_cluster} (
    hive_tenant String,
    hive_batch UInt64,
    resource_logs Array(Tuple(resource Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))), scope_logs Array(Tuple(scope Tuple(name String, version String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), dropped_attributes_count UInt32), log_records Array(Tuple(time_unix_nano UInt64, observed_time_unix_nano UInt64, severity_number Int32, severity_text String, body Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))), attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), flags UInt32, trace_id String, span_id String, event_name String)), schema_url String)), schema_url String))
) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_logs_input_to_otel_logs_mv {on_cluster}
TO otel_logs
AS SELECT
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
    mapFromArrays(ss.scope.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), ss.scope.attributes.value)) AS ScopeAttributes,
    mapFromArrays(lr.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), lr.attributes.value)) AS LogAttributes,
    lr.event_name AS EventName
FROM (
    SELECT mapUpdate(mapFromArrays(rs.resource.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), rs.resource.attributes.value)), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.schema_url AS rs_schema_url, rs.scope_logs AS scopes
    FROM otlp_logs_input ARRAY JOIN resource_logs AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.log_records AS lr;
