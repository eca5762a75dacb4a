"""OTLP requests shaped like the hive-otel client's payload contract (COMMON.md), for store tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from hive_otel import attributes as A

BASE_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def key_values(attrs: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items() if v is not None]


@dataclass(frozen=True)
class Session:
    session: str
    root: str
    role: str = A.ROLE_QUEEN
    colony: str = ""
    queen: str = "queen-1"
    worker: str = ""
    parent: str = ""
    user: str = "alice"
    tenant: str = "acme"

    def resource(self) -> dict[str, object]:
        return {
            A.SERVICE_NAME: "hive",
            A.HIVE_SCHEMA_VERSION: A.SCHEMA_VERSION,
            A.HIVE_SESSION_ID: self.session,
            A.HIVE_ROOT_SESSION_ID: self.root,
            A.HIVE_PARENT_SESSION_ID: self.parent or None,
            A.HIVE_QUEEN_ID: self.queen,
            A.HIVE_COLONY_ID: self.colony or None,
            A.HIVE_WORKER_ID: self.worker or None,
            A.HIVE_AGENT_ROLE: self.role,
            A.HIVE_USER_ID: self.user,
            A.HIVE_TENANT_ID: self.tenant,
        }


@dataclass
class LlmCall:
    """One LLM call as the client sends it, from the bus event (source="event") or L3 ("log")."""

    call_key: str
    model: str = "gpt-4o"
    provider: str = "openai"
    input_tokens: int = 1000
    output_tokens: int = 100
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    at_ns: int = BASE_NS
    source: str = "event"
    span_id: bytes = b""
    latency_ms: int = 1200

    def span(self) -> Span:
        from_log = self.source == "log"
        attrs: dict[str, object] = {
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
            A.HIVE_CALL_KEY: self.call_key,
            A.GEN_AI_REQUEST_MODEL: None if from_log else self.model,
            A.GEN_AI_RESPONSE_MODEL: None if from_log else self.model,
            A.GEN_AI_PROVIDER_NAME: None if from_log else self.provider,
            A.GEN_AI_USAGE_INPUT_TOKENS: self.input_tokens,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: self.output_tokens,
            A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: None if from_log else self.cached_tokens,
            A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: None if from_log else self.cache_creation_tokens,
            A.HIVE_COST_USD: 0.0 if from_log else self.cost_usd,
            A.HIVE_COST_SOURCE: A.COST_SOURCE_RUNTIME if self.cost_usd and not from_log else A.COST_SOURCE_UNPRICED,
            A.HIVE_LATENCY_MS: self.latency_ms,
            A.HIVE_NODE_ID: "node-1",
            A.HIVE_EXECUTION_ID: "exec-1",
            A.HIVE_CALL_SOURCE: self.source,
        }
        span_id = self.span_id or (abs(hash((self.call_key, self.source))) % (1 << 63) or 1).to_bytes(8, "big")
        return Span(
            trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
            span_id=span_id,
            name=f"chat {self.model}",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=self.at_ns,
            end_time_unix_nano=self.at_ns + self.latency_ms * 1_000_000,
            attributes=key_values(attrs),
        )


@dataclass
class ToolCall:
    call_key: str
    tool: str = "web_search"
    is_error: bool = False
    at_ns: int = BASE_NS

    def span(self) -> Span:
        attrs = {
            A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
            A.GEN_AI_TOOL_NAME: self.tool,
            A.GEN_AI_TOOL_CALL_ID: f"call-{self.call_key}",
            A.HIVE_CALL_KEY: self.call_key,
            A.HIVE_TOOL_IS_ERROR: self.is_error,
            A.ERROR_TYPE: "ToolError" if self.is_error else None,
            A.HIVE_LATENCY_MS: 30,
        }
        return Span(
            trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
            span_id=(abs(hash(self.call_key)) % (1 << 63) or 1).to_bytes(8, "big"),
            name=f"execute_tool {self.tool}",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=self.at_ns,
            end_time_unix_nano=self.at_ns + 30_000_000,
            attributes=key_values(attrs),
            status=Status(code=Status.STATUS_CODE_ERROR) if self.is_error else Status(),
        )


@dataclass
class SessionBatch:
    session: Session
    spans: list[Span] = field(default_factory=list)


def session_span(session: Session, start_ns: int, end_ns: int, failed: bool = False) -> Span:
    name = session.worker or session.queen
    return Span(
        trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        span_id=(abs(hash(("session", session.session))) % (1 << 63) or 1).to_bytes(8, "big"),
        name=f"invoke_agent {name}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        attributes=key_values({A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT}),
        status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_OK),
    )


def traces_request(batches: Iterable[SessionBatch]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for batch in batches:
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(key_values(batch.session.resource()))
        ss = rs.scope_spans.add()
        ss.scope.name = "hive_otel"
        ss.scope.version = "0.1.0"
        ss.spans.extend(batch.spans)
    return request


def logs_request(session: Session, events: list[tuple[int, str, dict[str, object]]]) -> ExportLogsServiceRequest:
    """``events``: (time_ns, event_type without the "hive." prefix, attributes)."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(key_values(session.resource()))
    sl = rl.scope_logs.add()
    sl.scope.name = "hive_otel"
    for time_ns, event_type, attrs in events:
        sl.log_records.append(
            LogRecord(
                time_unix_nano=time_ns,
                event_name=f"hive.{event_type}",
                severity_number=9,
                severity_text="INFO",
                attributes=key_values({A.HIVE_EVENT_TYPE: event_type, **attrs}),
            )
        )
    return request
