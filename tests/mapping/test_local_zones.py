"""Bus events' naive local times in zones off the whole hour and across DST changes.

Each time is written as Hive writes it, ``AgentEvent(timestamp=datetime.now()).to_dict()``, at a known
instant (``datetime.fromtimestamp(t)`` is what ``datetime.now()`` returns at ``t``), then read back in
the same zone, minute by minute and in order, as a long-running ``hive-otel watch`` reads them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from framework.host.event_bus import AgentEvent, EventType

from hive_otel import attributes as A
from hive_otel.client.mapping import timestamps
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.timestamps import to_unix_ns
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext

RUN = "session_20261025_000000_0a1b2c3d"
HOUR = 3600


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``zone(name)`` sets the process's local zone; the zone and an empty offset cache are restored after."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()
        timestamps._offset_by_hour.clear()  # offsets cached in another zone are not this one's

    yield set_zone
    monkeypatch.undo()
    time.tzset()
    timestamps._offset_by_hour.clear()


def _hive_timestamp(t: float) -> str:
    """The ``timestamp`` of a bus event Hive publishes at instant ``t``."""
    return AgentEvent(type=EventType.LLM_TURN_COMPLETE, stream_id="queen", timestamp=datetime.fromtimestamp(t)).to_dict()[
        "timestamp"
    ]


def _ambiguous(t: float) -> bool:
    """Whether the local wall time at ``t`` happens twice (the hour a DST change repeats)."""
    wall = datetime.fromtimestamp(t)
    return wall.replace(fold=0).timestamp() != wall.replace(fold=1).timestamp()


@pytest.mark.parametrize(
    ("name", "around"),
    [
        ("Asia/Kolkata", "2026-10-24T20:00:00+00:00"),  # +5:30, across local midnight
        ("America/St_Johns", "2026-03-08T05:30:00+00:00"),  # -3:30 to -2:30 at 02:00
        ("America/St_Johns", "2026-11-01T04:30:00+00:00"),  # -2:30 to -3:30: 01:00-02:00 twice
        ("Europe/Berlin", "2026-03-29T01:00:00+00:00"),  # 02:00 becomes 03:00
        ("Europe/Berlin", "2026-10-25T01:00:00+00:00"),  # 03:00 becomes 02:00: 02:00-03:00 twice
        ("Australia/Lord_Howe", "2026-04-04T15:00:00+00:00"),  # falls back half an hour, at 02:00
        ("Pacific/Chatham", "2026-04-04T14:00:00+00:00"),  # falls back at 03:45: 03:45-03:59 once only
    ],
)
def test_a_naive_time_is_the_instant_hive_wrote_it(zone: Any, name: str, around: str) -> None:
    zone(name)
    change = datetime.fromisoformat(around).timestamp()
    wrong = []
    for t in range(int(change) - 3 * HOUR, int(change) + 3 * HOUR, 59):  # in order, one cache, as a watch reads
        written = _hive_timestamp(t)
        # The hour a change repeats cannot be told apart from the bus event alone (README, Timestamps):
        # it reads as its first pass, as datetime.astimezone() does.
        expected = datetime.fromisoformat(written).timestamp() if _ambiguous(t) else t
        if to_unix_ns(written) != int(expected) * 10**9:
            wrong.append((written, (to_unix_ns(written) or 0) / 1e9 - t))
    assert not wrong, wrong[:3]


def test_the_offset_cache_is_bounded(zone: Any) -> None:
    zone("Asia/Kolkata")
    start, cap = datetime(2020, 1, 1, tzinfo=UTC).timestamp(), getattr(timestamps, "_OFFSET_CACHE_HOURS", 4096)
    for hour in range(2 * cap + 10):  # a backfill of a year, or a watch left running as long
        t = start + hour * HOUR
        assert to_unix_ns(_hive_timestamp(t)) == int(t) * 10**9
    assert 0 < len(timestamps._offset_by_hour) <= cap


def _llm_start(records: list[HiveRecord]) -> int:
    mapper = EventMapper(ResourceFactory(), None)
    spans = [s for r in records for s in mapper.map(r, 1).spans] + mapper.flush().spans
    (span,) = [s for s in spans if str(s.attributes.get(A.HIVE_CALL_KEY, "")).startswith("llm-")]
    return span.start_ns


@pytest.mark.parametrize(
    ("when", "event_error_s"),
    [
        ("2026-10-25T00:30:00+00:00", 0),  # 02:30 CEST, the hour's first pass
        ("2026-10-25T02:30:00+00:00", 0),  # 03:30 CET
        ("2026-03-29T01:01:00+00:00", 0),  # 03:01 CEST, just after spring-forward
        # 02:30 CET, the second pass: the bus event reads an hour early, and a joined call takes its time
        # (call_merge: the bus event's time wins), though the L3 half's tool call knows the instant.
        ("2026-10-25T01:30:00+00:00", -HOUR),
    ],
)
def test_a_calls_time_across_berlins_dst_changes(zone: Any, when: str, event_error_s: int) -> None:
    zone("Europe/Berlin")
    t = datetime.fromisoformat(when).timestamp()
    event = AgentEvent(
        type=EventType.LLM_TURN_COMPLETE,
        stream_id="default",
        node_id="n",
        execution_id=RUN,
        timestamp=datetime.fromtimestamp(t),
        data={"iteration": 0, "input_tokens": 900, "output_tokens": 40, "model": "claude-sonnet-4-5"},
    ).to_dict()
    step = {"node_id": "n", "step_index": 0, "input_tokens": 900, "output_tokens": 40, "latency_ms": 0,
            "tool_calls": [{"tool_use_id": "tu_1", "tool_name": "x", "duration_s": 0.0,
                            "start_timestamp": datetime.fromtimestamp(t + 1, UTC).isoformat()}]}  # fmt: skip
    context = SessionContext(RUN)
    bus, l3 = HiveRecord(RecordKind.EVENT, event, context), HiveRecord(RecordKind.NODE_STEP, step, context)
    true_ns = int(t) * 10**9
    assert _llm_start([l3]) == true_ns + 10**9  # an L3-only LLM call is dated by its tool call, in UTC
    assert _llm_start([bus]) == true_ns + event_error_s * 10**9
    assert _llm_start([bus, l3]) == _llm_start([l3, bus]) == true_ns + event_error_s * 10**9
