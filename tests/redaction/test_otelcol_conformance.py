"""One policy, two enforcement points: the real otelcol agent and the in-process processor agree.

A payload carrying secret canaries (tool inputs and results, LLM text, file paths, error messages,
status messages, log bodies, span and event names, and values under allowed keys) goes (a) as raw
OTLP through otelcol-hive running collector/agent.yaml to a loopback OTLP/HTTP receiver, and
(b) through `RedactionProcessor` alone. The attribute keys that survive must be the same, and
neither side may contain a canary. Nothing is mocked: the agent is the binary `make otelcol` built.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from hive_otel import attributes as a
from hive_otel.client.encoding import encode_logs, encode_metrics, encode_spans
from hive_otel.client.mapping.telemetry import LogRecord, Resource, SpanKind, SpanRecord, StatusCode, Telemetry
from hive_otel.client.redaction import RedactionPolicy, RedactionProcessor
from tests.redaction._otelcol import Agent

CANARY = "CANARY7f3a"
API_KEY = f"sk-ant-api03-{CANARY}0123456789abcdef"
HOME_PATH = f"/home/alice/{CANARY}/notes.md"
MAC_PATH = f"/Users/alice/{CANARY}/run.sh"
EMAIL = f"{CANARY}.alice@example.com"
TOKEN = "upstream-test-token"
NOW_NS = 1_767_000_000_000_000_000
RESPONSES = {
    "/v1/traces": ExportTraceServiceResponse,
    "/v1/logs": ExportLogsServiceResponse,
    "/v1/metrics": ExportMetricsServiceResponse,
}


class Upstream(ThreadingHTTPServer):
    """A loopback OTLP/HTTP receiver standing in for the cloud collector: it records every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.received: list[tuple[str, str | None, bytes]] = []  # path, Authorization, body
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self) -> set[str]:
        with self.lock:
            return {path for path, _, _ in self.received}


class _UpstreamHandler(BaseHTTPRequestHandler):
    server: Upstream

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            self.server.received.append((self.path, self.headers.get("Authorization"), body))
        reply = RESPONSES[self.path]().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


def payload() -> Telemetry:
    queen = Resource.of({
        a.SERVICE_NAME: "hive", a.HIVE_SCHEMA_VERSION: a.SCHEMA_VERSION, a.HIVE_SESSION_ID: "session_q1",
        a.HIVE_ROOT_SESSION_ID: "session_q1", a.HIVE_QUEEN_ID: "queen_1", a.HIVE_AGENT_ROLE: a.ROLE_QUEEN,
        a.HIVE_USER_ID: "alice", a.HIVE_TENANT_ID: "acme",
        "host.name": "alices-laptop", "process.command_line": f"hive run --key {API_KEY}",
    })
    worker = Resource.of({
        a.SERVICE_NAME: "hive", a.HIVE_SCHEMA_VERSION: a.SCHEMA_VERSION, a.HIVE_SESSION_ID: "session_w1",
        a.HIVE_PARENT_SESSION_ID: "session_q1", a.HIVE_ROOT_SESSION_ID: "session_q1",
        a.HIVE_COLONY_ID: "colony_1", a.HIVE_WORKER_ID: "worker_1", a.HIVE_AGENT_ROLE: a.ROLE_WORKER,
        a.HIVE_USER_ID: "alice", a.HIVE_TENANT_ID: "acme",
    })
    trace = bytes(range(16))

    def span(number: int, resource: Resource, name: str, kind: SpanKind, attributes: dict,
             status: StatusCode = StatusCode.UNSET, message: str = "") -> SpanRecord:
        return SpanRecord(
            resource=resource, trace_id=trace, span_id=bytes([number]) * 8,
            parent_span_id=b"" if number == 1 else b"\x01" * 8, name=name, kind=kind,
            start_ns=NOW_NS + number * 1_000_000, end_ns=NOW_NS + number * 1_000_000 + 500_000,
            attributes=attributes, status_code=status, status_message=message,
        )

    spans = [
        span(1, queen, "invoke_agent queen_1", SpanKind.INTERNAL, {
            a.GEN_AI_OPERATION_NAME: a.OP_INVOKE_AGENT, a.GEN_AI_AGENT_ID: "queen_1",
            a.GEN_AI_CONVERSATION_ID: "session_q1",
        }),
        span(2, queen, "chat claude-sonnet-4-5", SpanKind.CLIENT, {
            a.GEN_AI_OPERATION_NAME: a.OP_CHAT, a.HIVE_CALL_KEY: "session_q1/planner/1",
            a.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5", a.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5",
            a.GEN_AI_PROVIDER_NAME: "anthropic", a.GEN_AI_USAGE_INPUT_TOKENS: 1200,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 80, a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000,
            a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0, a.HIVE_COST_USD: 0.0123,
            a.HIVE_COST_SOURCE: a.COST_SOURCE_RUNTIME, a.HIVE_LATENCY_MS: 812, a.HIVE_NODE_ID: "planner",
            a.HIVE_EXECUTION_ID: "exec_1", a.HIVE_ITERATION: 1, a.HIVE_STOP_REASON: "end_turn",
            a.HIVE_CALL_SOURCE: "event+log", a.GEN_AI_OUTPUT_TEXT: f"Sure! Your key is {API_KEY} ({CANARY})",
        }),
        span(3, queen, "chat gpt-4o", SpanKind.CLIENT, {
            a.GEN_AI_OPERATION_NAME: a.OP_CHAT, a.HIVE_CALL_KEY: "session_q1/planner/2",
            a.GEN_AI_REQUEST_MODEL: "gpt-4o", a.GEN_AI_PROVIDER_NAME: "openai",
            a.GEN_AI_USAGE_INPUT_TOKENS: 10, a.GEN_AI_USAGE_OUTPUT_TOKENS: 0,
            a.HIVE_COST_USD: 0.0, a.HIVE_COST_SOURCE: a.COST_SOURCE_UNPRICED,
            a.ERROR_TYPE: f"AuthenticationError: Bearer {CANARY}abcdefgh",  # a secret under an allowed key
            a.HIVE_ERROR_MESSAGE: f"401 for {EMAIL} with key {API_KEY}",
        }, StatusCode.ERROR, f"401 Unauthorized for {EMAIL}"),
        span(4, worker, "execute_tool read_file", SpanKind.INTERNAL, {
            a.GEN_AI_OPERATION_NAME: a.OP_EXECUTE_TOOL, a.GEN_AI_TOOL_NAME: "read_file",
            a.GEN_AI_TOOL_CALL_ID: "toolu_01", a.HIVE_CALL_KEY: "session_w1/reader/1/toolu_01",
            a.HIVE_TOOL_IS_ERROR: True, a.ERROR_TYPE: "FileNotFoundError", a.HIVE_LATENCY_MS: 3,
            a.HIVE_NODE_ID: HOME_PATH,  # a path under an allowed key
            a.GEN_AI_TOOL_CALL_ARGUMENTS: f'{{"path": "{HOME_PATH}"}}',
            a.GEN_AI_TOOL_CALL_RESULT: f"secret plans of {CANARY}", a.HIVE_FILE_PATH: HOME_PATH,
            "x.custom.debug": CANARY,
        }, StatusCode.ERROR, f"No such file: {HOME_PATH} ({CANARY})"),
        span(5, worker, f"execute_tool {MAC_PATH}", SpanKind.INTERNAL, {  # a path in a span name
            a.GEN_AI_OPERATION_NAME: a.OP_EXECUTE_TOOL, a.GEN_AI_TOOL_NAME: "shell",
            a.GEN_AI_TOOL_CALL_ID: "toolu_02", a.HIVE_TOOL_IS_ERROR: False,
        }),
    ]
    logs = [
        LogRecord(resource=queen, time_ns=NOW_NS + 1, event_name="hive.queen_phase_changed",
                  severity_number=9, severity_text="INFO",
                  attributes={a.HIVE_EVENT_TYPE: "queen_phase_changed", a.HIVE_QUEEN_PHASE: "colony",
                              a.HIVE_EVENT_SEQ: 7},
                  body=f"user said: my password is {CANARY}", trace_id=trace, span_id=b"\x01" * 8),
        LogRecord(resource=worker, time_ns=NOW_NS + 2, event_name="hive.worker_failed",
                  severity_number=17, severity_text="ERROR",
                  attributes={a.HIVE_EVENT_TYPE: "worker_failed", a.HIVE_WORKER_ID: "worker_1",
                              a.ERROR_TYPE: f"RuntimeError {EMAIL}", a.HIVE_ERROR_MESSAGE: f"crashed on {CANARY}"}),
        LogRecord(resource=worker, time_ns=NOW_NS + 3, event_name=f"hive.custom_{API_KEY}",  # a secret in a name
                  severity_number=9, severity_text="INFO",
                  attributes={a.HIVE_EVENT_TYPE: "custom", a.HIVE_UNKNOWN_EVENT: True,
                              a.HIVE_EVENT_DATA: f'{{"prompt": "{CANARY}"}}'},
                  body=CANARY),
    ]
    return Telemetry(spans=spans, logs=logs)


def traces_view(requests: list[bytes]) -> dict[bytes, tuple]:
    view = {}
    for body in requests:
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            resource_keys = frozenset(kv.key for kv in resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    view[span.span_id] = (resource_keys, frozenset(kv.key for kv in span.attributes),
                                          span.name, span.status.message)
    return view


def logs_view(requests: list[bytes]) -> dict[int, tuple]:
    view = {}
    for body in requests:
        for resource_logs in ExportLogsServiceRequest.FromString(body).resource_logs:
            resource_keys = frozenset(kv.key for kv in resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    view[record.time_unix_nano] = (resource_keys, frozenset(kv.key for kv in record.attributes),
                                                   record.event_name, record.body.WhichOneof("value"))
    return view


def metrics_view(requests: list[bytes]) -> set[tuple]:
    view = set()
    for body in requests:
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            resource_keys = frozenset(kv.key for kv in resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points = getattr(metric, metric.WhichOneof("data")).data_points
                    for point in points:
                        view.add((metric.name, resource_keys, frozenset(kv.key for kv in point.attributes)))
    return view


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def agent(upstream: Upstream, tmp_path: Path) -> Iterator[Agent]:
    running = Agent(upstream.url, TOKEN, tmp_path / "queue", tmp_path / "otelcol.log")
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(120)
def test_agent_and_in_process_redaction_agree_and_leak_nothing(agent: Agent, upstream: Upstream) -> None:
    raw = payload()
    raw_requests = {
        "/v1/traces": encode_spans(raw.spans),
        "/v1/logs": encode_logs(raw.logs),
        "/v1/metrics": encode_metrics(raw.spans, NOW_NS),
    }
    assert all(request is not None and CANARY.encode() in request
               for path, request in raw_requests.items() if path != "/v1/metrics")

    # (a) through the real agent
    for path, request in raw_requests.items():
        assert request is not None
        agent.post(path, request)
    deadline = time.monotonic() + 30
    while upstream.paths() != set(RESPONSES) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert upstream.paths() == set(RESPONSES), f"upstream got only {upstream.paths()}:\n{agent.log_tail()}"
    time.sleep(1.5)  # one more batch timeout, in case the agent split a signal over two requests
    with upstream.lock:
        received = list(upstream.received)

    # (b) through in-process redaction alone
    processor = RedactionProcessor(RedactionPolicy.load(None))
    redacted = processor.process(raw)
    in_process = {
        "/v1/traces": [encode_spans(redacted.spans)],
        "/v1/logs": [encode_logs(redacted.logs)],
        "/v1/metrics": [encode_metrics(redacted.spans, NOW_NS)],
    }
    by_agent: dict[str, list[bytes]] = {path: [] for path in RESPONSES}
    for path, authorization, body in received:
        assert authorization == f"Bearer {TOKEN}"
        by_agent[path].append(body)

    for path, bodies in (*by_agent.items(), *in_process.items()):
        for body in bodies:
            assert body is not None and CANARY.encode() not in body, f"canary leaked in {path}"

    agent_traces, local_traces = traces_view(by_agent["/v1/traces"]), traces_view(in_process["/v1/traces"])
    assert agent_traces == local_traces
    assert len(local_traces) == len(raw.spans)
    assert local_traces[b"\x05" * 8][2] == "execute_tool ****"  # the path in the span name is gone
    assert logs_view(by_agent["/v1/logs"]) == logs_view(in_process["/v1/logs"])
    assert metrics_view(by_agent["/v1/metrics"]) == metrics_view(in_process["/v1/metrics"])

    # Not vacuous: what usage tracking needs got through on both sides.
    chat = local_traces[b"\x02" * 8]
    assert {a.SERVICE_NAME, a.HIVE_SESSION_ID, a.HIVE_USER_ID, a.HIVE_TENANT_ID} <= chat[0]
    assert {a.GEN_AI_REQUEST_MODEL, a.GEN_AI_USAGE_INPUT_TOKENS, a.HIVE_COST_USD, a.HIVE_CALL_KEY} <= chat[1]
    assert processor.counters["attributes_removed"] > 0 and processor.counters["values_masked"] > 0
