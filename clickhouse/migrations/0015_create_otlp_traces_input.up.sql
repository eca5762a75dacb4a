-- The trace ingest chain: an OTLP export request in, otel_traces and usage_staging out.
--
-- otlp_traces_input: the collector inserts each ExportTraceServiceRequest as one ProtobufSingle row
-- into this Null table (nothing is stored here). hive_tenant (field 1000), hive_batch (1001) and
-- hive_allow_all_keys (1002) are appended to the request bytes by the collector: the tenant it
-- authenticated (overrides hive.tenant.id), the id of this insert, and whether the store keeps every
-- attribute key (see redaction_allowed_keys). Its shape mirrors the OTLP subset in
-- hive_otel/collector/store/otlp_schema.py (tests/collector/test_migrations.py checks it against
-- opentelemetry-proto).
CREATE TABLE IF NOT EXISTS otlp_traces_input {on_cluster} (
    hive_tenant String,
    hive_batch UInt64,
    resource_spans Array(Tuple(resource Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))), scope_spans Array(Tuple(scope Tuple(name String, version String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), dropped_attributes_count UInt32), spans Array(Tuple(trace_id String, span_id String, trace_state String, parent_span_id String, name String, kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))), events Array(Tuple(time_unix_nano UInt64, name String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))))), links Array(Tuple(trace_id String, span_id String, trace_state String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string' = 1, 'bool' = 2, 'int' = 3, 'double' = 4, 'array' = 5, 'kvlist' = 6, 'bytes' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))))), status Tuple(message String, code Int32))), schema_url String)), schema_url String)),
    hive_allow_all_keys Bool
) ENGINE = Null;

-- otlp_spans: the request flattened once, by one view, into the otel_traces columns plus the batch,
-- the tenant and a count of removed attributes (a Null table). Cheap views fan each span out from here
-- to otel_traces, usage_staging and the drop counter, so ClickHouse analyses the nested request once
-- per insert, not once per destination (most of an insert's fixed cost).
CREATE TABLE IF NOT EXISTS otlp_spans {on_cluster} (
    batch UInt64,
    tenant String,
    Timestamp DateTime64(9),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64,
    StatusCode LowCardinality(String),
    StatusMessage String,
    `Events.Timestamp` Array(DateTime64(9)),
    `Events.Name` Array(LowCardinality(String)),
    `Events.Attributes` Array(Map(LowCardinality(String), String)),
    `Links.TraceId` Array(String),
    `Links.SpanId` Array(String),
    `Links.TraceState` Array(String),
    `Links.Attributes` Array(Map(LowCardinality(String), String)),
    dropped_attributes UInt64
) ENGINE = Null;

-- otlp_spans_fresh: the spans of otlp_spans not stored before (Null). A view drops the rows whose key
-- (tenant, TraceId, SpanId) is in otel_span_keys or repeated earlier in the block; otel_traces is
-- filled from here. Spans without valid ids are never dropped. usage_staging still reads every span:
-- usage has its own exactly-once merge (usage_key_index).
CREATE TABLE IF NOT EXISTS otlp_spans_fresh {on_cluster} AS otlp_spans ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_fresh_to_otel_traces_mv {on_cluster}
TO otel_traces
AS SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes,
    ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Timestamp`, `Events.Name`,
    `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
FROM otlp_spans_fresh;

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

-- LLM (gen_ai.operation.name = chat) and tool (execute_tool) spans become usage candidates, keyed by
-- hive.call_key (else trace_id:span_id). The collector merges them into usage_facts per batch.
-- gen_ai.usage.cache_write.input_tokens (semantic-conventions-genai 1.42) and its old name
-- gen_ai.usage.cache_creation.input_tokens: clients send one spelling, or both with the same value
-- (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental/dup), so the greater of the two is taken.
-- Out of sane bounds a candidate is refused, never summed (refused says why): a token count that is
-- negative, not a finite number or above 1e12, or a hive.cost_usd that is negative, not finite or
-- above 1e6 (USD per call).
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_to_usage_staging_mv {on_cluster}
TO usage_staging
AS SELECT
    batch,
    tenant,
    if(SpanAttributes['hive.call_key'] != '', SpanAttributes['hive.call_key'],
       if(length(TraceId) = 32 AND length(SpanId) = 16, concat(TraceId, ':', SpanId), '')) AS call_key,
    if(SpanAttributes['gen_ai.operation.name'] = 'chat', 'llm', 'tool') AS kind,
    ResourceAttributes['hive.user.id'] AS user,
    ResourceAttributes['hive.session.id'] AS session,
    ResourceAttributes['hive.root_session.id'] AS root_session,
    ResourceAttributes['hive.parent_session.id'] AS parent_session,
    ResourceAttributes['hive.colony.id'] AS colony,
    ResourceAttributes['hive.queen.id'] AS queen,
    ResourceAttributes['hive.worker.id'] AS worker,
    ResourceAttributes['hive.agent.role'] AS agent_role,
    if(SpanAttributes['gen_ai.response.model'] != '', SpanAttributes['gen_ai.response.model'],
       SpanAttributes['gen_ai.request.model']) AS model,
    SpanAttributes['gen_ai.provider.name'] AS provider,
    toUInt64OrZero(SpanAttributes['gen_ai.usage.input_tokens']) AS input_tokens,
    toUInt64OrZero(SpanAttributes['gen_ai.usage.output_tokens']) AS output_tokens,
    toUInt64OrZero(SpanAttributes['gen_ai.usage.cache_read.input_tokens']) AS cached_tokens,
    greatest(toUInt64OrZero(SpanAttributes['gen_ai.usage.cache_write.input_tokens']),
             toUInt64OrZero(SpanAttributes['gen_ai.usage.cache_creation.input_tokens'])) AS cache_creation_tokens,
    toDecimal64OrZero(SpanAttributes['hive.cost_usd'], 10) AS cost_usd,
    SpanAttributes['hive.cost_source'] AS cost_source,
    if(toUInt64OrZero(SpanAttributes['hive.latency_ms']) > 0, toUInt64OrZero(SpanAttributes['hive.latency_ms']),
       intDiv(Duration, 1000000)) AS latency_ms,
    SpanAttributes['gen_ai.tool.name'] AS tool_name,
    toUInt8(SpanAttributes['hive.tool.is_error'] = 'true' OR SpanAttributes['error.type'] != ''
            OR StatusCode = 'STATUS_CODE_ERROR') AS is_error,
    SpanAttributes['error.type'] AS error_type,
    Timestamp AS occurred_at,
    toUInt8(position(SpanAttributes['hive.call.source'], 'event') > 0) AS time_rank,
    TraceId AS trace_id,
    SpanId AS span_id,
    SpanAttributes['hive.execution.id'] AS execution_id,
    SpanAttributes['hive.node.id'] AS node_id,
    SpanAttributes['hive.call.source'] AS call_source,
    ResourceAttributes['hive.schema_version'] AS schema_version,
    multiIf(
        arrayExists(v -> v != '' AND NOT (isFinite(ifNull(toFloat64OrNull(v), nan)) AND toFloat64OrNull(v) BETWEEN 0 AND 1e12),
                    [SpanAttributes['gen_ai.usage.input_tokens'], SpanAttributes['gen_ai.usage.output_tokens'],
                     SpanAttributes['gen_ai.usage.cache_read.input_tokens'],
                     SpanAttributes['gen_ai.usage.cache_write.input_tokens'],
                     SpanAttributes['gen_ai.usage.cache_creation.input_tokens']]),
        'a token count that is negative, not a finite number or above 1e12',
        SpanAttributes['hive.cost_usd'] != ''
            AND NOT (isFinite(ifNull(toFloat64OrNull(SpanAttributes['hive.cost_usd']), nan))
                     AND toFloat64OrNull(SpanAttributes['hive.cost_usd']) BETWEEN 0 AND 1e6),
        'a hive.cost_usd that is negative, not a finite number or above 1e6',
        '') AS refused
FROM otlp_spans
WHERE SpanAttributes['gen_ai.operation.name'] IN ('chat', 'execute_tool');

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'traces' AS signal, sum(dropped_attributes) AS dropped_attributes
FROM otlp_spans
GROUP BY tenant
HAVING dropped_attributes > 0;

-- The one view that reads the nested request: attributes become maps of allowed keys, ids hex.
-- Created last, so an insert never meets a half-built chain.
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_traces_input_to_otlp_spans_mv {on_cluster}
TO otlp_spans
AS SELECT
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
