-- IngestBatch: the id of the insert that stored a raw span or log record (the batch of the ingest
-- trailer; 0 for rows stored before this migration). A raw row is committed before the views under its
-- table run (the keys that keep a replay out, the trace-id lookup, session state), so an insert that
-- fails or dies between the two left rows without their keys: the retry stored them again, and the
-- derived rows of the views that had not run were never written. The store now notes the batches of
-- each insert until it returns, and after a failure or a crash runs the views under the raw tables
-- again for the rows of those batches (idempotent writes: keys, min/max and argMax folds), before the
-- retry comes in. This column is how it finds those rows.
ALTER TABLE otel_traces {on_cluster} ADD COLUMN IF NOT EXISTS IngestBatch UInt64 DEFAULT 0 CODEC(ZSTD(1));
ALTER TABLE otel_logs {on_cluster} ADD COLUMN IF NOT EXISTS IngestBatch UInt64 DEFAULT 0 CODEC(ZSTD(1));

-- Log records carry their batch through the log chain too (spans always did, for usage_staging).
ALTER TABLE otlp_log_records {on_cluster} ADD COLUMN IF NOT EXISTS batch UInt64;
ALTER TABLE otlp_log_records_fresh {on_cluster} ADD COLUMN IF NOT EXISTS batch UInt64;

ALTER TABLE otlp_logs_input_to_otlp_log_records_mv {on_cluster} MODIFY QUERY
SELECT
    batch,
    res['hive.tenant.id'] AS tenant,
    fromUnixTimestamp64Nano(toInt64(if(lr.time_unix_nano != 0, lr.time_unix_nano, lr.observed_time_unix_nano))) AS Timestamp,
    if(replaceAll(lr.trace_id, '\0', '') = '', '', lower(hex(lr.trace_id))) AS TraceId,
    if(replaceAll(lr.span_id, '\0', '') = '', '', lower(hex(lr.span_id))) AS SpanId,
    toUInt8(bitAnd(lr.flags, 255)) AS TraceFlags,
    lr.severity_text AS SeverityText,
    toUInt8(least(greatest(lr.severity_number, 0), 255)) AS SeverityNumber,
    res['service.name'] AS ServiceName,
    multiIf(lr.body.value = 'string', lr.body.string_value, lr.body.value = 'int', toString(lr.body.int_value), lr.body.value = 'double', toString(lr.body.double_value), lr.body.value = 'bool', if(lr.body.bool_value, 'true', 'false'), lr.body.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), lr.body.array_value.values)), lr.body.value = 'bytes', base64Encode(lr.body.bytes_value), '') AS Body,
    rs_schema_url AS ResourceSchemaUrl,
    res AS ResourceAttributes,
    ss.schema_url AS ScopeSchemaUrl,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.key, ss.scope.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), ss.scope.attributes.value, ss.scope.attributes.key))) AS ScopeAttributes,
    mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), lr.attributes.key, lr.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), lr.attributes.value, lr.attributes.key))) AS LogAttributes,
    lr.event_name AS EventName,
    res_dropped + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), ss.scope.attributes.key)) + if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), lr.attributes.key)) AS dropped_attributes
FROM (
    SELECT
        hive_batch AS batch,
        hive_allow_all_keys AS allow_all_keys,
        mapUpdate(mapFromArrays(arrayFilter((k, v) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.key, rs.resource.attributes.value), arrayMap(v -> multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), v.value = 'bytes', base64Encode(v.bytes_value), ''), arrayFilter((v, k) -> (allow_all_keys OR k IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys)), rs.resource.attributes.value, rs.resource.attributes.key))), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res,
        if(allow_all_keys, 0, arrayCount(k -> k NOT IN (SELECT arrayJoin(argMax(keys, version)) FROM redaction_allowed_keys), rs.resource.attributes.key)) AS res_dropped,
        rs.schema_url AS rs_schema_url,
        rs.scope_logs AS scopes
    FROM otlp_logs_input ARRAY JOIN resource_logs AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.log_records AS lr;

ALTER TABLE otlp_spans_fresh_to_otel_traces_mv {on_cluster} MODIFY QUERY
SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes,
    ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Timestamp`, `Events.Name`,
    `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`, batch AS IngestBatch
FROM otlp_spans_fresh;

ALTER TABLE otlp_log_records_fresh_to_otel_logs_mv {on_cluster} MODIFY QUERY
SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, ResourceSchemaUrl,
       ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName,
       batch AS IngestBatch
FROM otlp_log_records_fresh;
