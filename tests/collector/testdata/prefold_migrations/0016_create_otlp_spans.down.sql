DROP VIEW IF EXISTS otlp_traces_input_to_otlp_spans_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_to_redaction_dropped_attributes_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_to_usage_staging_mv {on_cluster};
DROP VIEW IF EXISTS otlp_spans_to_otel_traces_mv {on_cluster};
DROP TABLE IF EXISTS otlp_spans {on_cluster};
DROP TABLE IF EXISTS redaction_dropped_attributes {on_cluster};
DROP TABLE IF EXISTS redaction_allowed_keys {on_cluster};
ALTER TABLE otlp_traces_input {on_cluster} DROP COLUMN IF EXISTS hive_allow_all_keys;

-- The views of 0013, as they were.
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_traces_input_to_otel_traces_mv {on_cluster}
TO otel_traces
AS SELECT
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
    mapFromArrays(sp.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), sp.attributes.value)) AS SpanAttributes,
    if(sp.end_time_unix_nano > sp.start_time_unix_nano, sp.end_time_unix_nano - sp.start_time_unix_nano, 0) AS Duration,
    ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'][least(greatest(sp.status.code, 0), 2) + 1] AS StatusCode,
    sp.status.message AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), sp.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, sp.events) AS `Events.Name`,
    arrayMap(e -> mapFromArrays(e.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), e.attributes.value)), sp.events) AS `Events.Attributes`,
    arrayMap(l -> if(replaceAll(l.trace_id, '\0', '') = '', '', lower(hex(l.trace_id))), sp.links) AS `Links.TraceId`,
    arrayMap(l -> if(replaceAll(l.span_id, '\0', '') = '', '', lower(hex(l.span_id))), sp.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, sp.links) AS `Links.TraceState`,
    arrayMap(l -> mapFromArrays(l.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), l.attributes.value)), sp.links) AS `Links.Attributes`
FROM (
    SELECT mapUpdate(mapFromArrays(rs.resource.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), rs.resource.attributes.value)), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.scope_spans AS scopes
    FROM otlp_traces_input ARRAY JOIN resource_spans AS rs
)
ARRAY JOIN scopes AS ss
ARRAY JOIN ss.spans AS sp;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_traces_input_to_usage_staging_mv {on_cluster}
TO usage_staging
AS SELECT
    batch,
    res['hive.tenant.id'] AS tenant,
    if(a['hive.call_key'] != '', a['hive.call_key'],
       if(length(sp.trace_id) = 16 AND length(sp.span_id) = 8,
          concat(lower(hex(sp.trace_id)), ':', lower(hex(sp.span_id))), '')) AS call_key,
    if(op = 'chat', 'llm', 'tool') AS kind,
    res['hive.user.id'] AS user,
    res['hive.session.id'] AS session,
    res['hive.root_session.id'] AS root_session,
    res['hive.parent_session.id'] AS parent_session,
    res['hive.colony.id'] AS colony,
    res['hive.queen.id'] AS queen,
    res['hive.worker.id'] AS worker,
    res['hive.agent.role'] AS agent_role,
    if(a['gen_ai.response.model'] != '', a['gen_ai.response.model'], a['gen_ai.request.model']) AS model,
    a['gen_ai.provider.name'] AS provider,
    toUInt64OrZero(a['gen_ai.usage.input_tokens']) AS input_tokens,
    toUInt64OrZero(a['gen_ai.usage.output_tokens']) AS output_tokens,
    toUInt64OrZero(a['gen_ai.usage.cache_read.input_tokens']) AS cached_tokens,
    toUInt64OrZero(a['gen_ai.usage.cache_creation.input_tokens']) AS cache_creation_tokens,
    toDecimal64OrZero(a['hive.cost_usd'], 10) AS cost_usd,
    a['hive.cost_source'] AS cost_source,
    if(toUInt64OrZero(a['hive.latency_ms']) > 0, toUInt64OrZero(a['hive.latency_ms']),
       intDiv(if(sp.end_time_unix_nano > sp.start_time_unix_nano, sp.end_time_unix_nano - sp.start_time_unix_nano, 0), 1000000)) AS latency_ms,
    a['gen_ai.tool.name'] AS tool_name,
    toUInt8(a['hive.tool.is_error'] = 'true' OR a['error.type'] != '' OR sp.status.code = 2) AS is_error,
    a['error.type'] AS error_type,
    fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano)) AS occurred_at,
    toUInt8(position(a['hive.call.source'], 'event') > 0) AS time_rank,
    lower(hex(sp.trace_id)) AS trace_id,
    lower(hex(sp.span_id)) AS span_id,
    a['hive.execution.id'] AS execution_id,
    a['hive.node.id'] AS node_id,
    a['hive.call.source'] AS call_source,
    res['hive.schema_version'] AS schema_version
FROM (
    SELECT
        batch, res, sp,
        arrayFirst(kv -> kv.key = 'gen_ai.operation.name', sp.attributes).value.string_value AS op,
        mapFromArrays(sp.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), sp.attributes.value)) AS a
    FROM (
        SELECT hive_batch AS batch, mapUpdate(mapFromArrays(rs.resource.attributes.key, arrayMap(v -> if(v.value = 'array', toJSONString(arrayMap(x -> multiIf(x.value = 'string', x.string_value, x.value = 'int', toString(x.int_value), x.value = 'double', toString(x.double_value), x.value = 'bool', if(x.bool_value, 'true', 'false'), x.value = 'bytes', base64Encode(x.bytes_value), ''), v.array_value.values)), multiIf(v.value = 'string', v.string_value, v.value = 'int', toString(v.int_value), v.value = 'double', toString(v.double_value), v.value = 'bool', if(v.bool_value, 'true', 'false'), v.value = 'bytes', base64Encode(v.bytes_value), '')), rs.resource.attributes.value)), if(hive_tenant != '', map('hive.tenant.id', hive_tenant), map())) AS res, rs.scope_spans AS scopes
        FROM otlp_traces_input ARRAY JOIN resource_spans AS rs
    )
    ARRAY JOIN scopes AS ss
    ARRAY JOIN ss.spans AS sp
    WHERE op IN ('chat', 'execute_tool')
);
