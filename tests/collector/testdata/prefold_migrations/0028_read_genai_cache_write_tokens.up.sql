-- semantic-conventions-genai 1.42 renamed gen_ai.usage.cache_creation.input_tokens to
-- gen_ai.usage.cache_write.input_tokens. Clients send one spelling, or both with the same value
-- (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental/dup), so the usage candidate takes the
-- greater of the two: either spelling, or both, gives the same cache-write count. The view is
-- otherwise the one 0016 created.
DROP VIEW IF EXISTS otlp_spans_to_usage_staging_mv {on_cluster};

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
    ResourceAttributes['hive.schema_version'] AS schema_version
FROM otlp_spans
WHERE SpanAttributes['gen_ai.operation.name'] IN ('chat', 'execute_tool');
