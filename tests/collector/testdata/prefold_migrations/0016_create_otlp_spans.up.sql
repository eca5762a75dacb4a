-- Trace ingest in two steps, and the redaction allowlist enforced again in the store.
--
-- otlp_traces_input (one row per export request) is flattened once, by one view, into otlp_spans: a
-- Null table with the otel_traces columns plus the batch, the tenant and a count of removed
-- attributes. Cheap views fan each span out from there to otel_traces, usage_staging and the drop
-- counter. Before, two views each flattened the whole request, and ClickHouse analysed both on
-- every insert (most of an insert's fixed cost).
--
-- Allowlist (defence in depth, issue 5): attribute keys of resources, spans, span events and links
-- that are not in redaction_allowed_keys are removed before anything is stored, and counted per
-- tenant and day in redaction_dropped_attributes (each removed key/value pair of each stored span,
-- resource attributes counted on every span that carries them). The store fills
-- redaction_allowed_keys from the redaction policy's exported keys when it opens; a request
-- inserted with hive_allow_all_keys = true (a store opened with allow_all_keys=True, for non-Hive
-- OTLP sources) keeps every key. An empty redaction_allowed_keys keeps nothing (fails closed).
ALTER TABLE otlp_traces_input {on_cluster} ADD COLUMN IF NOT EXISTS hive_allow_all_keys Bool;

-- The attribute keys the store keeps: the policy's exported keys, one row per version of the policy,
-- written by the store when it opens and the policy changed; the highest version is in force. (The
-- views read it with an IN subquery: scalar subqueries inside materialized views yield no rows.)
CREATE TABLE IF NOT EXISTS redaction_allowed_keys {on_cluster} (
    version UInt64,
    keys Array(String)
) ENGINE = {engine_prefix}MergeTree
ORDER BY version;

CREATE TABLE IF NOT EXISTS redaction_dropped_attributes {on_cluster} (
    tenant LowCardinality(String),
    day Date,
    signal LowCardinality(String) COMMENT 'traces | logs | metrics',
    dropped_attributes UInt64 COMMENT 'attribute key/value pairs removed because the policy does not export the key'
) ENGINE = {engine_prefix}SummingMergeTree
ORDER BY (tenant, day, signal);

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

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_to_otel_traces_mv {on_cluster}
TO otel_traces
AS SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes,
    ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Timestamp`, `Events.Name`,
    `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
FROM otlp_spans;

-- LLM (gen_ai.operation.name = chat) and tool (execute_tool) spans become usage candidates, keyed by
-- hive.call_key (else trace_id:span_id). The collector merges them into usage_facts per batch.
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
    toUInt64OrZero(SpanAttributes['gen_ai.usage.cache_creation.input_tokens']) AS cache_creation_tokens,
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
    ResourceAttributes['hive.schema_version'] AS schema_version
FROM otlp_spans
WHERE SpanAttributes['gen_ai.operation.name'] IN ('chat', 'execute_tool');

CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_spans_to_redaction_dropped_attributes_mv {on_cluster}
TO redaction_dropped_attributes
AS SELECT tenant, today() AS day, 'traces' AS signal, sum(dropped_attributes) AS dropped_attributes
FROM otlp_spans
GROUP BY tenant
HAVING dropped_attributes > 0;

-- The one view that reads the nested request: attributes become maps of allowed keys, ids hex.
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

-- Last: the views of 0013 stop only once the new chain is complete, so a live insert is never lost.
DROP VIEW IF EXISTS otlp_traces_input_to_usage_staging_mv {on_cluster};
DROP VIEW IF EXISTS otlp_traces_input_to_otel_traces_mv {on_cluster};
