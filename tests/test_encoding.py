"""hive_otel.client.encoding writes OTLP bytes by hand; they must be exactly what opentelemetry-proto gives.

The reference below builds the same requests as opentelemetry-proto messages (the way the encoder
did before it wrote the wire format itself) and serializes them. Every case checks the bytes are
identical and that they decode, with the official classes, to the reference messages.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from devtools.workload import WorkloadTruth
from hive_otel import __version__
from hive_otel import attributes as A
from hive_otel.client.encoding import _common, _wire, encode_logs, encode_metrics, encode_spans
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.telemetry import LogRecord, Resource, SpanKind, SpanRecord, StatusCode, Telemetry
from hive_otel.client.redaction import RedactionPolicy, RedactionProcessor
from hive_otel.client.sources.files import Checkpoints, FileTailer

# ------------------------------------------------------------------ the reference: proto messages

SCOPE = InstrumentationScope(name="hive_otel", version=__version__)
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def any_value(value: object) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def key_values(attrs: Iterable[tuple[str, object]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs]


def ref_resource(resource: Resource, cache: dict[Resource, PbResource]) -> PbResource:
    pb = cache.get(resource)
    if pb is None:
        pb = cache[resource] = PbResource(attributes=key_values(resource.attributes))
    return pb


def ref_spans(spans: Sequence[SpanRecord]) -> ExportTraceServiceRequest:
    by_resource: dict[Resource, list[PbSpan]] = defaultdict(list)
    for s in spans:
        by_resource[s.resource].append(
            PbSpan(
                trace_id=s.trace_id,
                span_id=s.span_id,
                parent_span_id=s.parent_span_id,
                name=s.name,
                kind=int(s.kind),
                start_time_unix_nano=s.start_ns,
                end_time_unix_nano=s.end_ns,
                attributes=key_values(s.attributes.items()),
                status=Status(code=int(s.status_code), message=s.status_message),
                links=[PbSpan.Link(trace_id=t, span_id=i) for t, i in s.links],
            )
        )
    cache: dict[Resource, PbResource] = {}
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=ref_resource(r, cache),
                scope_spans=[ScopeSpans(scope=SCOPE, spans=pb_spans, schema_url=A.SEMCONV_SCHEMA_URL)],
                schema_url=A.SEMCONV_SCHEMA_URL,
            )
            for r, pb_spans in by_resource.items()
        ]
    )


def ref_logs(logs: Sequence[LogRecord]) -> ExportLogsServiceRequest:
    by_resource: dict[Resource, list[PbLogRecord]] = defaultdict(list)
    for r in logs:
        by_resource[r.resource].append(
            PbLogRecord(
                time_unix_nano=r.time_ns,
                observed_time_unix_nano=r.time_ns,
                severity_number=r.severity_number,  # type: ignore[arg-type]
                severity_text=r.severity_text,
                event_name=r.event_name,
                body=AnyValue(string_value=r.body) if r.body is not None else None,
                attributes=key_values(r.attributes.items()),
                trace_id=r.trace_id,
                span_id=r.span_id,
            )
        )
    cache: dict[Resource, PbResource] = {}
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=ref_resource(r, cache),
                scope_logs=[ScopeLogs(scope=SCOPE, log_records=records, schema_url=A.SEMCONV_SCHEMA_URL)],
                schema_url=A.SEMCONV_SCHEMA_URL,
            )
            for r, records in by_resource.items()
        ]
    )


class RefPoint:
    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count, self.sum = 0, 0.0
        self.min, self.max = float("inf"), float("-inf")

    def record(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)


def ref_metrics(spans: Sequence[SpanRecord], now_ns: int) -> ExportMetricsServiceRequest | None:
    tokens: dict[Resource, dict[tuple, RefPoint]] = defaultdict(dict)
    durations: dict[Resource, dict[tuple, RefPoint]] = defaultdict(dict)
    costs: dict[Resource, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
    tool_calls: dict[Resource, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    errors: dict[Resource, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    start_ns = now_ns
    for s in spans:
        a = s.attributes
        op = a.get(A.GEN_AI_OPERATION_NAME)
        if op not in (A.OP_CHAT, A.OP_EXECUTE_TOOL):
            continue
        start_ns = min(start_ns, s.start_ns)
        if A.ERROR_TYPE in a:
            errors[s.resource][((A.GEN_AI_OPERATION_NAME, op), (A.ERROR_TYPE, a[A.ERROR_TYPE]))] += 1
        if op == A.OP_EXECUTE_TOOL:
            tool = a.get(A.GEN_AI_TOOL_NAME, "")
            tool_calls[s.resource][((A.GEN_AI_TOOL_NAME, tool), (A.HIVE_TOOL_IS_ERROR, a.get(A.HIVE_TOOL_IS_ERROR)))] += 1
            continue
        base = tuple((k, a[k]) for k in (A.GEN_AI_OPERATION_NAME, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_REQUEST_MODEL) if k in a)
        for token_type, attr in (("input", A.GEN_AI_USAGE_INPUT_TOKENS), ("output", A.GEN_AI_USAGE_OUTPUT_TOKENS)):
            key = (*base, (A.GEN_AI_TOKEN_TYPE, token_type))
            point = tokens[s.resource].get(key)
            if point is None:
                point = tokens[s.resource][key] = RefPoint(A.TOKEN_USAGE_BUCKETS)
            point.record(float(a.get(attr, 0)))  # type: ignore[arg-type]
        point = durations[s.resource].get(base)
        if point is None:
            point = durations[s.resource][base] = RefPoint(A.OPERATION_DURATION_BUCKETS)
        point.record(max(0, s.end_ns - s.start_ns) / 1e9)
        if A.HIVE_COST_USD in a:
            costs[s.resource][(*base, (A.HIVE_COST_SOURCE, a.get(A.HIVE_COST_SOURCE, "")))] += a[A.HIVE_COST_USD]  # type: ignore[operator]
    resources = set(tokens) | set(tool_calls) | set(errors)
    if not resources:
        return None

    def histogram(name: str, unit: str, description: str, points: dict[tuple, RefPoint]) -> Metric:
        data_points = [
            HistogramDataPoint(
                attributes=key_values(k),
                start_time_unix_nano=start_ns,
                time_unix_nano=now_ns,
                count=p.count,
                sum=p.sum,
                min=p.min,
                max=p.max,
                bucket_counts=p.counts,
                explicit_bounds=[float(b) for b in p.bounds],
            )
            for k, p in points.items()
        ]
        return Metric(
            name=name,
            unit=unit,
            description=description,
            histogram=Histogram(aggregation_temporality=DELTA, data_points=data_points),
        )

    def counter(name: str, unit: str, description: str, points: dict[tuple, float] | dict[tuple, int]) -> Metric:
        data_points = []
        for k, v in points.items():
            dp = NumberDataPoint(attributes=key_values(k), start_time_unix_nano=start_ns, time_unix_nano=now_ns)
            if isinstance(v, float):
                dp.as_double = v
            else:
                dp.as_int = v
            data_points.append(dp)
        return Metric(
            name=name,
            unit=unit,
            description=description,
            sum=Sum(aggregation_temporality=DELTA, is_monotonic=True, data_points=data_points),
        )

    cache: dict[Resource, PbResource] = {}
    resource_metrics = []
    for r in resources:
        metrics = []
        if tokens.get(r):
            metrics.append(histogram(A.METRIC_TOKEN_USAGE, "{token}", "Tokens used per LLM call", tokens[r]))
            metrics.append(histogram(A.METRIC_OPERATION_DURATION, "s", "Duration of LLM calls", durations[r]))
        if costs.get(r):
            metrics.append(counter(A.METRIC_COST, "USD", "Runtime-reported LLM cost", costs[r]))
        if tool_calls.get(r):
            metrics.append(counter(A.METRIC_TOOL_CALLS, "{call}", "Tool calls", tool_calls[r]))
        if errors.get(r):
            metrics.append(counter(A.METRIC_ERRORS, "{error}", "Failed LLM and tool calls", errors[r]))
        resource_metrics.append(
            ResourceMetrics(
                resource=ref_resource(r, cache),
                scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=metrics, schema_url=A.SEMCONV_SCHEMA_URL)],
                schema_url=A.SEMCONV_SCHEMA_URL,
            )
        )
    return ExportMetricsServiceRequest(resource_metrics=resource_metrics)


# ------------------------------------------------------------------ checks


def assert_spans_match(spans: Sequence[SpanRecord]) -> None:
    got, want = encode_spans(spans), ref_spans(spans)
    assert ExportTraceServiceRequest.FromString(got) == want
    assert got == want.SerializeToString()


def assert_logs_match(logs: Sequence[LogRecord]) -> None:
    got, want = encode_logs(logs), ref_logs(logs)
    assert ExportLogsServiceRequest.FromString(got) == want
    assert got == want.SerializeToString()


def assert_metrics_match(spans: Sequence[SpanRecord], now_ns: int = 1_700_000_000_000_000_000) -> None:
    got, want = encode_metrics(spans, now_ns), ref_metrics(spans, now_ns)
    if want is None:
        assert got is None
        return
    assert got is not None
    assert ExportMetricsServiceRequest.FromString(got) == want
    assert got == want.SerializeToString()


RES = Resource.of({"service.name": "hive", "hive.session.id": "s1", "hive.schema_version": "1"})
RES2 = Resource.of({"service.name": "hive", "hive.session.id": "s2 ☃", "hive.queen.id": "ünïcödé"})
T0 = 1_700_000_000_123_456_789


def span(attributes: dict | None = None, resource: Resource = RES, **fields: object) -> SpanRecord:
    base: dict = {
        "resource": resource,
        "trace_id": bytes(range(16)),
        "span_id": bytes(range(8, 16)),
        "parent_span_id": bytes(range(1, 9)),
        "name": "chat claude-sonnet-4",
        "kind": SpanKind.CLIENT,
        "start_ns": T0,
        "end_ns": T0 + 1_500_000_000,
        "attributes": {} if attributes is None else attributes,
    }
    base.update(fields)
    return SpanRecord(**base)


def log(attributes: dict | None = None, resource: Resource = RES, **fields: object) -> LogRecord:
    base: dict = {
        "resource": resource,
        "time_ns": T0,
        "event_name": "hive.queen_phase_changed",
        "severity_number": 9,
        "severity_text": "INFO",
        "attributes": {"hive.event.type": "queen_phase_changed"} if attributes is None else attributes,
        "trace_id": bytes(range(16)),
        "span_id": bytes(range(8)),
    }
    base.update(fields)
    return LogRecord(**base)


ATTRIBUTE_CASES = {
    "str": {"k": "value"},
    "empty str": {"k": ""},
    "empty key": {"": "v"},
    "unicode": {"clé ☃": "値 🐝 \u0000 \u2028"},
    "long str": {"k": "x" * 300},  # a two-byte length
    "bools": {"t": True, "f": False},
    "zero": {"k": 0},
    "small ints": {"a": 1, "b": 127, "c": 128, "d": 16383, "e": 16384},
    "negative ints": {"a": -1, "b": -128, "c": -(2**40)},
    "int64 bounds": {"max": 2**63 - 1, "min": -(2**63)},
    "floats": {"a": 0.0, "b": -0.0, "c": 0.1, "d": 1e-300, "e": -2.5e300},
    "special floats": {"inf": math.inf, "-inf": -math.inf, "nan": math.nan},
    "string list": {"k": ["stop", "", "ünï"]},
    "empty list": {"k": []},
    "mixed list": {"k": ["a", 1, True, 2.5, ["nested", 3], None]},
    "other types": {"none": None, "tuple": ("a", 1), "dict": {"x": 1}, "bytes": b"\x00\xff"},
    "int enum": {"k": SpanKind.CLIENT, "s": StatusCode.ERROR},
    "many": {f"key.{i}": (f"v{i}" if i % 3 == 0 else i if i % 3 == 1 else i / 7) for i in range(40)},
}


@pytest.mark.parametrize("attributes", ATTRIBUTE_CASES.values(), ids=ATTRIBUTE_CASES.keys())
def test_attribute_values_of_every_type(attributes: dict) -> None:
    # Twice: the second pass takes the cached encodings.
    for _ in range(2):
        assert_spans_match([span(attributes)])
        assert_logs_match([log(attributes)])
    # Also as resource attributes (a list value would make the Resource unhashable).
    if not any(isinstance(v, (list, dict)) for v in attributes.values()):
        resource = Resource.of(attributes)
        assert_spans_match([span({}, resource=resource), span({"a": 1}, resource=resource)])


SPAN_CASES = {
    "root span, no parent": {"parent_span_id": b""},
    "no ids at all": {"trace_id": b"", "span_id": b"", "parent_span_id": b""},
    "odd id lengths": {"trace_id": b"\x01\x02", "span_id": bytes(range(16)), "parent_span_id": b"\xff" * 3},
    "empty name": {"name": ""},
    "unicode name": {"name": "execute_tool 検索 🔧"},
    "internal": {"kind": SpanKind.INTERNAL},
    "server": {"kind": SpanKind.SERVER},
    "kind as plain int": {"kind": 3},
    "unspecified kind": {"kind": 0},
    "zero times": {"start_ns": 0, "end_ns": 0},
    "zero start": {"start_ns": 0},
    "zero end": {"end_ns": 0},
    "max time": {"end_ns": 2**64 - 1},
    "error status with message": {"status_code": StatusCode.ERROR, "status_message": "boom ☠"},
    "ok status": {"status_code": StatusCode.OK},
    "message without code": {"status_message": "m"},
    "one link": {"links": [(bytes(range(16)), bytes(range(8)))]},
    "links with empty ids": {"links": [(b"", b""), (b"\x01" * 16, b""), (b"", b"\x02" * 8)]},
    "many links": {"links": [(bytes([i]) * 16, bytes([i]) * 8) for i in range(5)]},
}


@pytest.mark.parametrize("fields", SPAN_CASES.values(), ids=SPAN_CASES.keys())
def test_span_fields_present_absent_and_odd(fields: dict) -> None:
    assert_spans_match([span({"gen_ai.operation.name": "chat", "n": 1}, **fields)])


LOG_CASES = {
    "body": {"body": "a body ☃"},
    "empty body is still present": {"body": ""},
    "no trace context": {"trace_id": b"", "span_id": b""},
    "zero time": {"time_ns": 0},
    "no severity": {"severity_number": 0, "severity_text": ""},
    "warn": {"severity_number": 13, "severity_text": "WARN"},
    "empty event name": {"event_name": ""},
    "unicode event name": {"event_name": "hive.ünknown ☃"},
    "no attributes": {"attributes": {}},
}


@pytest.mark.parametrize("fields", LOG_CASES.values(), ids=LOG_CASES.keys())
def test_log_fields_present_absent_and_odd(fields: dict) -> None:
    assert_logs_match([log(**fields)])


def test_empty_batches() -> None:
    assert encode_spans([]) == b"" == ref_spans([]).SerializeToString()
    assert encode_logs([]) == b""
    assert encode_metrics([], 1) is None
    assert encode_metrics([span({"gen_ai.operation.name": "invoke_agent"})], 1) is None


def test_records_group_by_resource_in_first_seen_order() -> None:
    empty = Resource(())
    spans = [span({"i": i}, resource=(RES, RES2, empty)[i % 3]) for i in range(10)]
    assert_spans_match(spans)
    assert_logs_match([log({"i": i}, resource=(RES2, RES, empty)[i % 3]) for i in range(10)])
    decoded = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert [len(rs.scope_spans[0].spans) for rs in decoded.resource_spans] == [4, 3, 3]


def test_equal_resources_with_different_value_types_are_not_confused() -> None:
    # ("k", 1) == ("k", True) == ("k", 1.0) as dict keys; each must still be encoded as itself.
    for value in (1, True, 1.0, "1"):
        resource = Resource((("k", value),))
        assert_spans_match([span({}, resource=resource)])
        assert_logs_match([log({}, resource=resource)])


def test_same_key_and_equal_values_of_other_types_are_not_confused() -> None:
    for _ in range(2):
        for value in (1, True, 1.0, "1", 0, False, 0.0, -0.0, "0"):
            assert_spans_match([span({"k": value})])
            assert_logs_match([log({"k": value})])


@pytest.mark.parametrize(
    "attributes", [{"k": 2**63}, {"k": -(2**63) - 1}, {"k": [1, 2**64]}], ids=["2**63", "-2**63-1", "in a list"]
)
def test_ints_beyond_int64_are_refused_as_the_reference_does(attributes: dict) -> None:
    with pytest.raises(ValueError):
        ref_spans([span(attributes)])
    with pytest.raises(ValueError):
        encode_spans([span(attributes)])
    with pytest.raises(ValueError):
        encode_logs([log(attributes)])


@pytest.mark.parametrize("fields", [{"start_ns": -1}, {"end_ns": 2**64}], ids=["negative", "beyond uint64"])
def test_times_out_of_range_are_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        ref_spans([span(**fields)])
    with pytest.raises(ValueError):
        encode_spans([span(**fields)])


def test_caches_start_again_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wire, "CACHE_LIMIT", 8)
    monkeypatch.setattr(_common, "_RESOURCE_CACHE_LIMIT", 2)
    resources = [Resource.of({"service.name": "hive", "hive.session.id": f"s{i}"}) for i in range(5)]
    spans = [
        span({"key": f"v{i % 11}", "n": i % 13, "b": i % 2 == 0}, resource=resources[i % 5], name=f"n{i % 9}")
        for i in range(60)
    ]
    for _ in range(2):
        assert_spans_match(spans)
        assert_logs_match([log({"key": f"v{i % 11}"}, resource=resources[i % 5]) for i in range(60)])


def _random_value(rng: random.Random) -> object:
    choice = rng.randrange(6)
    if choice == 0:
        return rng.choice(["", "a", "ünï", "x" * rng.randrange(200), "chat"])
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.choice([0, 1, -1, rng.randrange(-(2**63), 2**63), rng.randrange(2**20)])
    if choice == 3:
        return rng.choice([0.0, -0.0, rng.uniform(-1e9, 1e9), 1e-9])
    if choice == 4:
        return [rng.choice(["a", "b", ""]) for _ in range(rng.randrange(4))]
    return rng.randrange(10**6)


def test_random_spans_and_logs_match() -> None:
    rng = random.Random(7)
    resources = [Resource.of({"service.name": "hive", "hive.session.id": f"s{i}"}) for i in range(4)]
    spans, logs = [], []
    for i in range(300):
        attrs = {rng.choice(["a", "b", "c", "d", "é", ""]) + str(rng.randrange(5)): _random_value(rng) for _ in range(8)}
        spans.append(
            span(
                attrs,
                resource=rng.choice(resources),
                name=rng.choice(["chat", "execute_tool x", "", f"n{i}"]),
                kind=rng.choice(list(SpanKind)),
                parent_span_id=rng.choice([b"", rng.randbytes(8)]),
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                start_ns=rng.randrange(2**62),
                end_ns=rng.randrange(2**62),
                status_code=rng.choice(list(StatusCode)),
                status_message=rng.choice(["", "err"]),
                links=[(rng.randbytes(16), rng.randbytes(8)) for _ in range(rng.randrange(3))],
            )
        )
        logs.append(log(attrs, resource=rng.choice(resources), body=rng.choice([None, "", "b"])))
    assert_spans_match(spans)
    assert_logs_match(logs)


def _call(op: str, resource: Resource = RES, **attrs: object) -> SpanRecord:
    return span({A.GEN_AI_OPERATION_NAME: op, **attrs}, resource=resource)


def test_metrics_from_chat_and_tool_spans() -> None:
    priced = {A.GEN_AI_REQUEST_MODEL: "m", A.GEN_AI_PROVIDER_NAME: "anthropic", A.HIVE_COST_SOURCE: "runtime"}
    tool_error = {A.GEN_AI_TOOL_NAME: "search", A.HIVE_TOOL_IS_ERROR: True, A.ERROR_TYPE: "tool_error"}
    spans = [
        _call(
            "chat", **priced, **{A.GEN_AI_USAGE_INPUT_TOKENS: 1200, A.GEN_AI_USAGE_OUTPUT_TOKENS: 3, A.HIVE_COST_USD: 0.1}
        ),
        _call("chat", resource=RES2, **{A.GEN_AI_USAGE_INPUT_TOKENS: 5, A.ERROR_TYPE: "partial"}),
        _call("chat", **{**priced, A.GEN_AI_USAGE_INPUT_TOKENS: 10**7, A.HIVE_COST_USD: 0.0, A.HIVE_COST_SOURCE: "none"}),
        _call("execute_tool", **{A.GEN_AI_TOOL_NAME: "search", A.HIVE_TOOL_IS_ERROR: False}),
        _call("execute_tool", resource=RES2, **tool_error),
        _call("execute_tool"),  # no tool name, no is_error
        _call("invoke_agent"),
        span({}),
    ]
    assert_metrics_match(spans)
    assert_metrics_match(spans[3:])  # tool calls only
    assert_metrics_match([spans[1]])  # an error without cost
    assert_metrics_match(spans, now_ns=0)


# ------------------------------------------------------------------ real mapped output


def _mapped(home: Path, tmp_path: Path) -> Telemetry:
    records = list(FileTailer(home, Checkpoints(tmp_path / "state")).poll())
    mapper = EventMapper(ResourceFactory(user_id="u", tenant_id="t"), None)
    telemetry = Telemetry()
    for record in records:
        telemetry.extend(mapper.map(record, T0))
    telemetry.extend(mapper.flush())
    return telemetry


def test_a_real_workload_encodes_identically(hive_workload: tuple[Path, WorkloadTruth], tmp_path: Path) -> None:
    home, _ = hive_workload
    telemetry = _mapped(home, tmp_path)
    redacted = RedactionProcessor(RedactionPolicy.load()).process(telemetry)
    for batch in (telemetry, redacted):
        assert batch.spans and batch.logs
        for i in range(0, len(batch.spans), 100):
            assert_spans_match(batch.spans[i : i + 100])
            assert_metrics_match(batch.spans[i : i + 100])
        for i in range(0, len(batch.logs), 100):
            assert_logs_match(batch.logs[i : i + 100])
