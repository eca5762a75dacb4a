-- Back to the query of 0026: a call's time is not checked.

ALTER TABLE otlp_spans_to_usage_staging_mv {on_cluster} MODIFY QUERY
SELECT
    batch,
    tenant,
    if(SpanAttributes['hive.call_key'] != '', SpanAttributes['hive.call_key'],
       if(length(TraceId) = 32 AND length(SpanId) = 16, concat(TraceId, ':', SpanId), '')) AS call_key,
    if(SpanAttributes['gen_ai.operation.name'] = 'execute_tool', 'tool', 'llm') AS kind,
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
    if(SpanAttributes['gen_ai.provider.name'] != '', SpanAttributes['gen_ai.provider.name'],
       SpanAttributes['gen_ai.system']) AS provider,
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
WHERE SpanAttributes['gen_ai.operation.name'] IN ('chat', 'text_completion', 'generate_content', 'embeddings', 'execute_tool');
