-- The log ingest chain: an OTLP export request in, otel_logs out; as the trace chain (migration
-- create_otlp_traces_input), step by step.
--
-- otlp_logs_input: one ExportLogsServiceRequest per ProtobufSingle row (a Null table); hive_tenant,
-- hive_batch and hive_allow_all_keys as for traces. Its shape mirrors the OTLP subset in
-- hive_otel/collector/store/otlp_schema.py.
CREATE TABLE IF NOT EXISTS otlp_logs_input {on_cluster} (
    hive_tenant String,
    hive_batch UInt64,
    resource_logs Array(Tuple(resource Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))), scope_logs Array(Tuple(scope Tuple(name String, version String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), dropped_attributes_count UInt32), log_records Array(Tuple(time_unix_nano UInt64, observed_time_unix_nano UInt64, severity_number Int32, severity_text String, body Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))), attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), flags UInt32, trace_id String, span_id String, event_name String)), schema_url String)), schema_url String)),
    hive_allow_all_keys Bool
) ENGINE = Null;

-- otlp_log_records: the request flattened once into the otel_logs columns plus the tenant and a count
-- of the attributes the allowlist removed (resource, scope and log record attributes).
CREATE TABLE IF NOT EXISTS otlp_log_records {on_cluster} (
    tenant String,
    Timestamp DateTime64(9),
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    Body String,
    ResourceSchemaUrl LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeSchemaUrl LowCardinality(String),
    ScopeName String,
    ScopeVersion LowCardinality(String),
    ScopeAttributes Map(LowCardinality(String), String),
    LogAttributes Map(LowCardinality(String), String),
    EventName String,
    dropped_attributes UInt64
) ENGINE = Null;

-- otlp_log_records_fresh: the records of otlp_log_records not stored before (key: a hash of all a
-- record carries, the tenant included, looked up in otel_log_keys and earlier in the block).
CREATE TABLE IF NOT EXISTS otlp_log_records_fresh {on_cluster} AS otlp_log_records ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_log_records_fresh_to_otel_logs_mv {on_cluster}
TO otel_logs
AS SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, ResourceSchemaUrl,
          ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName
FROM otlp_log_records_fresh;

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

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_log_records_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'logs' AS signal, sum(dropped_attributes) AS dropped_attributes
FROM otlp_log_records
GROUP BY tenant
HAVING dropped_attributes > 0;

-- The one view that reads the nested request; created last, so an insert never meets a half-built chain.
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_logs_input_to_otlp_log_records_mv {on_cluster}
TO otlp_log_records
AS SELECT
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
