"""Metrics → an OTLP ``ExportMetricsServiceRequest`` (metrics.proto), serialized.

The metrics are derived from a batch's spans by :mod:`hive_otel.client.mapping.metrics`;
``encode_metrics(spans, now_ns)`` derives and encodes in one call, ``encode_metric_batch`` writes a
derived batch as it is: explicit-bucket histograms and monotonic sums, delta temporality.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from hive_otel.client.encoding._common import SCOPE_RECORDS, AttributeEncoder, request
from hive_otel.client.encoding._wire import F64, FIXED64, I64, LEN, VARINT, field, fixed64_field, tag
from hive_otel.client.mapping.metrics import HistogramPoint, Metric, MetricBatch, PointKey, derive_metrics
from hive_otel.client.mapping.telemetry import SpanRecord

__all__ = ["encode_metric_batch", "encode_metrics"]

_METRIC_NAME, _METRIC_DESCRIPTION, _METRIC_UNIT = tag(1, LEN), tag(2, LEN), tag(3, LEN)
_METRIC_SUM, _METRIC_HISTOGRAM = tag(7, LEN), tag(9, LEN)
_DATA_POINT = tag(1, LEN)  # Sum/Histogram.data_points
_DELTA = tag(2, VARINT) + b"\x01"  # aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
_MONOTONIC = tag(3, VARINT) + b"\x01"  # Sum.is_monotonic = true
_POINT_START, _POINT_TIME = (2 << 3) | FIXED64, (3 << 3) | FIXED64
_HISTOGRAM_COUNT = (4 << 3) | FIXED64
_HISTOGRAM_SUM, _HISTOGRAM_MIN, _HISTOGRAM_MAX = (bytes(((n << 3) | FIXED64,)) for n in (5, 11, 12))
_HISTOGRAM_BUCKETS, _HISTOGRAM_BOUNDS = tag(6, LEN), tag(7, LEN)
_NUMBER_DOUBLE, _NUMBER_INT = bytes(((4 << 3) | FIXED64,)), bytes(((6 << 3) | FIXED64,))
_HISTOGRAM_ATTRIBUTES, _NUMBER_ATTRIBUTES = AttributeEncoder(9), AttributeEncoder(7)


def _point_times(start_ns: int, now_ns: int) -> bytes:
    return (fixed64_field(_POINT_START, start_ns) if start_ns else b"") + (
        fixed64_field(_POINT_TIME, now_ns) if now_ns else b""
    )


def _histogram(points: dict[PointKey, HistogramPoint], times: bytes) -> bytes:
    data_points = []
    for key, p in points.items():
        body = [times]
        if p.count:
            body.append(fixed64_field(_HISTOGRAM_COUNT, p.count))
        body.append(_HISTOGRAM_SUM + F64.pack(p.sum))
        if p.counts:
            body.append(field(_HISTOGRAM_BUCKETS, struct.pack(f"<{len(p.counts)}Q", *p.counts)))
        if p.bounds:
            body.append(field(_HISTOGRAM_BOUNDS, struct.pack(f"<{len(p.bounds)}d", *map(float, p.bounds))))
        body += _HISTOGRAM_ATTRIBUTES.encode(key)
        body.append(_HISTOGRAM_MIN + F64.pack(p.min))
        body.append(_HISTOGRAM_MAX + F64.pack(p.max))
        data_points.append(field(_DATA_POINT, b"".join(body)))
    return field(_METRIC_HISTOGRAM, b"".join(data_points) + _DELTA)


def _sum(points: dict[PointKey, float] | dict[PointKey, int], times: bytes) -> bytes:
    data_points = []
    for key, v in points.items():
        value = _NUMBER_DOUBLE + F64.pack(v) if isinstance(v, float) else _NUMBER_INT + I64.pack(v)
        data_points.append(field(_DATA_POINT, times + value + b"".join(_NUMBER_ATTRIBUTES.encode(key))))
    return field(_METRIC_SUM, b"".join(data_points) + _DELTA + _MONOTONIC)


def _metric(metric: Metric, times: bytes) -> bytes:
    """One Metric message as a repeated field of its scope."""
    name, unit, description = metric.instrument.name, metric.instrument.unit, metric.instrument.description
    data = _histogram(metric.points, times) if metric.instrument.histogram else _sum(metric.points, times)  # type: ignore[arg-type]
    return field(
        SCOPE_RECORDS,
        (field(_METRIC_NAME, name.encode()) if name else b"")
        + (field(_METRIC_DESCRIPTION, description.encode()) if description else b"")
        + (field(_METRIC_UNIT, unit.encode()) if unit else b"")
        + data,
    )


def encode_metric_batch(batch: MetricBatch) -> bytes:
    """Per resource one ResourceMetrics holding one ScopeMetrics with the batch's metrics, in order."""
    times = _point_times(batch.start_ns, batch.time_ns)
    return request({resource: [_metric(m, times) for m in metrics] for resource, metrics in batch.resources.items()})


def encode_metrics(spans: Sequence[SpanRecord], now_ns: int) -> bytes | None:
    """Delta metrics for the calls in this batch, or None when the batch has no calls."""
    batch = derive_metrics(spans, now_ns)
    return None if batch is None else encode_metric_batch(batch)
