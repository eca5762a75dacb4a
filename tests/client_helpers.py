"""For the client end-to-end tests: decoding what a loopback receiver got, and our collector on chDB."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store


def value_of(v: AnyValue) -> object:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attrs(kvs: Iterable[KeyValue]) -> dict[str, object]:
    return {kv.key: value_of(kv.value) for kv in kvs}


@dataclass
class Delivered:
    """Spans and log records as (resource attributes, item) pairs, plus the raw bodies."""

    spans: list[tuple[dict[str, object], object]] = field(default_factory=list)
    logs: list[tuple[dict[str, object], object]] = field(default_factory=list)
    metrics: list[tuple[dict[str, object], object]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def chat_spans(self) -> list[tuple[dict[str, object], object, dict[str, object]]]:
        out = []
        for resource, span in self.spans:
            a = attrs(span.attributes)
            if a.get("gen_ai.operation.name") == "chat":
                out.append((resource, span, a))
        return out


def decode(delivered: Iterable[tuple[str, bytes]]) -> Delivered:
    out = Delivered()
    for signal, body in delivered:
        out.bodies.append(body)
        if signal == "traces":
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = attrs(rs.resource.attributes)
                out.spans.extend((resource, s) for ss in rs.scope_spans for s in ss.spans)
        elif signal == "logs":
            for rl in ExportLogsServiceRequest.FromString(body).resource_logs:
                resource = attrs(rl.resource.attributes)
                out.logs.extend((resource, r) for sl in rl.scope_logs for r in sl.log_records)
        elif signal == "metrics":
            for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
                resource = attrs(rm.resource.attributes)
                out.metrics.extend((resource, m) for sm in rm.scope_metrics for m in sm.metrics)
    return out


def count_hive_records(home: Path) -> int:
    """Records Hive wrote under ``home``, counted from the files: every non-blank line of every
    ``*.jsonl`` (events, L2 details, L3 tool logs) plus every L1 ``summary.json``."""
    lines = sum(
        sum(1 for line in path.read_bytes().split(b"\n") if line.strip()) for path in home.rglob("*.jsonl")
    )
    return lines + sum(1 for _ in home.rglob("summary.json"))


@contextmanager
def running_collector(path: Path, **options: object) -> Iterator[tuple[Store, Collector, str]]:
    """Our collector in this process on loopback (ports chosen by the OS) over a chDB store at ``path``:
    (store, server, store URL); ``options`` go to :class:`Collector` (tokens, limits)."""
    store = open_store(f"chdb://{path}")
    server = Collector(store, "127.0.0.1:0", "127.0.0.1:0", **options)  # type: ignore[arg-type]
    server.start()
    try:
        yield store, server, f"chdb://{path}"
    finally:
        server.stop()
        store.close()


class SteppedClock:
    """The wall clock as NTP may step it: real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset
