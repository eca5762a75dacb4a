"""Spans → the metrics derived from them: the LLM and tool calls of one batch, as delta points.

Metrics are computed from the very spans in the batch (delta temporality, one point set per
batch), so span totals and metric totals agree by construction. Usage accounting downstream reads
the spans (deduplicated by call key); the metrics are for backends that chart them.

Pure, like the rest of the mapping: the batch's time comes in as an argument. The encoder
(:mod:`hive_otel.client.encoding.metrics`) writes a :class:`MetricBatch` as it is, in its order.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hive_otel import attributes as A
from hive_otel.client.mapping.telemetry import AttrValue, Resource, SpanRecord

__all__ = ["HistogramPoint", "Instrument", "Metric", "MetricBatch", "PointKey", "derive_metrics"]

PointKey = tuple[tuple[str, AttrValue], ...]  # a point's attributes, in the order they are written


@dataclass(frozen=True, slots=True)
class Instrument:
    name: str
    unit: str
    description: str
    histogram: bool  # else a monotonic sum


TOKEN_USAGE = Instrument(A.METRIC_TOKEN_USAGE, "{token}", "Tokens used per LLM call", histogram=True)
OPERATION_DURATION = Instrument(A.METRIC_OPERATION_DURATION, "s", "Duration of LLM calls", histogram=True)
COST = Instrument(A.METRIC_COST, "USD", "Runtime-reported LLM cost", histogram=False)
TOOL_CALLS = Instrument(A.METRIC_TOOL_CALLS, "{call}", "Tool calls", histogram=False)
ERRORS = Instrument(A.METRIC_ERRORS, "{error}", "Failed LLM and tool calls", histogram=False)


class HistogramPoint:
    """An explicit-bucket histogram point: counts per bucket, count, sum, min and max."""

    __slots__ = ("bounds", "count", "counts", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count, self.sum = 0, 0.0
        self.min, self.max = float("inf"), float("-inf")

    def record(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value


@dataclass(slots=True)
class Metric:
    instrument: Instrument
    points: dict[PointKey, HistogramPoint] | dict[PointKey, float] | dict[PointKey, int]


@dataclass(slots=True)
class MetricBatch:
    """The metrics of one batch: every point spans ``start_ns`` (the earliest call) to ``time_ns``."""

    start_ns: int
    time_ns: int
    resources: dict[Resource, list[Metric]]


_INPUT, _OUTPUT = (A.GEN_AI_TOKEN_TYPE, "input"), (A.GEN_AI_TOKEN_TYPE, "output")


class _Aggregates:
    """The points of a batch's calls: resource → attribute set → point, one table per instrument."""

    __slots__ = ("costs", "durations", "errors", "start_ns", "tokens", "tool_calls")

    def __init__(self, now_ns: int) -> None:
        self.tokens: dict[Resource, dict[PointKey, HistogramPoint]] = defaultdict(dict)
        self.durations: dict[Resource, dict[PointKey, HistogramPoint]] = defaultdict(dict)
        self.costs: dict[Resource, dict[PointKey, float]] = defaultdict(lambda: defaultdict(float))
        self.tool_calls: dict[Resource, dict[PointKey, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: dict[Resource, dict[PointKey, int]] = defaultdict(lambda: defaultdict(int))
        self.start_ns = now_ns

    def add(self, s: SpanRecord) -> None:
        """Count one span if it is a call (``chat`` or ``execute_tool``)."""
        a = s.attributes
        op = a.get(A.GEN_AI_OPERATION_NAME)
        if op != A.OP_CHAT and op != A.OP_EXECUTE_TOOL:
            return
        if s.start_ns < self.start_ns:
            self.start_ns = s.start_ns
        if A.ERROR_TYPE in a:
            self.errors[s.resource][((A.GEN_AI_OPERATION_NAME, op), (A.ERROR_TYPE, a[A.ERROR_TYPE]))] += 1
        if op == A.OP_EXECUTE_TOOL:
            key = ((A.GEN_AI_TOOL_NAME, a.get(A.GEN_AI_TOOL_NAME, "")), (A.HIVE_TOOL_IS_ERROR, a.get(A.HIVE_TOOL_IS_ERROR)))
            self.tool_calls[s.resource][key] += 1  # type: ignore[index]
        else:
            self._add_llm_call(s, op)

    def _add_llm_call(self, s: SpanRecord, op: AttrValue) -> None:
        a = s.attributes
        base: PointKey = ((A.GEN_AI_OPERATION_NAME, op),)
        if A.GEN_AI_PROVIDER_NAME in a:
            base += ((A.GEN_AI_PROVIDER_NAME, a[A.GEN_AI_PROVIDER_NAME]),)
        if A.GEN_AI_REQUEST_MODEL in a:
            base += ((A.GEN_AI_REQUEST_MODEL, a[A.GEN_AI_REQUEST_MODEL]),)
        tokens = self.tokens[s.resource]
        for key, value in (
            ((*base, _INPUT), a.get(A.GEN_AI_USAGE_INPUT_TOKENS, 0)),
            ((*base, _OUTPUT), a.get(A.GEN_AI_USAGE_OUTPUT_TOKENS, 0)),
        ):
            point = tokens.get(key)
            if point is None:
                point = tokens[key] = HistogramPoint(A.TOKEN_USAGE_BUCKETS)
            point.record(float(value))  # type: ignore[arg-type]
        durations = self.durations[s.resource]
        point = durations.get(base)
        if point is None:
            point = durations[base] = HistogramPoint(A.OPERATION_DURATION_BUCKETS)
        point.record(max(0, s.end_ns - s.start_ns) / 1e9)
        if A.HIVE_COST_USD in a:
            self.costs[s.resource][(*base, (A.HIVE_COST_SOURCE, a.get(A.HIVE_COST_SOURCE, "")))] += a[A.HIVE_COST_USD]  # type: ignore[operator]

    def metrics(self, resource: Resource) -> list[Metric]:
        """A resource's metrics, each with points, in the order they are written."""
        tables = (
            (TOKEN_USAGE, self.tokens),
            (OPERATION_DURATION, self.durations),
            (COST, self.costs),
            (TOOL_CALLS, self.tool_calls),
            (ERRORS, self.errors),
        )
        return [Metric(instrument, table[resource]) for instrument, table in tables if table.get(resource)]


def derive_metrics(spans: Sequence[SpanRecord], now_ns: int) -> MetricBatch | None:
    """Delta metrics for the calls among ``spans``, or None when there are none."""
    aggregates = _Aggregates(now_ns)
    for s in spans:
        aggregates.add(s)
    # A set's order, as the reference encoder in tests/test_encoding.py takes it.
    resources = set(aggregates.tokens) | set(aggregates.tool_calls) | set(aggregates.errors)
    if not resources:
        return None
    return MetricBatch(aggregates.start_ns, now_ns, {r: aggregates.metrics(r) for r in resources})
