"""Table-driven tests of the pure mapping helpers: ids, timestamps, providers, joiner, status logs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hive_otel import attributes as A
from hive_otel.client.mapping.calls import (
    SOURCE_BOTH,
    SOURCE_EVENT,
    SOURCE_LOG,
    LlmCall,
    llm_call_span,
    merge_llm,
    provider_for_model,
)
from hive_otel.client.mapping.context import ResourceFactory, context_for_stream, root_session_id
from hive_otel.client.mapping.ids import hive_span_id, hive_trace_id, llm_call_key, tool_call_key
from hive_otel.client.mapping.joiner import CallJoiner
from hive_otel.client.mapping.status import status_log
from hive_otel.client.mapping.telemetry import Resource
from hive_otel.client.mapping.timestamps import to_unix_ns
from hive_otel.client.sources.records import SessionContext


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0123456789abcdef0123456789abcdef", bytes.fromhex("0123456789abcdef0123456789abcdef")),
        ("", None),
        ("00000000000000000000000000000000", None),  # all-zero ids are invalid in OTLP
        ("xyz", None),
        (None, None),
        ("0123456789abcdef", None),  # span-sized, not a trace id
    ],
)
def test_hive_trace_id(value: object, expected: bytes | None) -> None:
    assert hive_trace_id(value) == expected


def test_hive_span_id_verbatim() -> None:
    assert hive_span_id("a1b2c3d4e5f60718") == bytes.fromhex("a1b2c3d4e5f60718")


def test_call_keys_are_stable_and_distinct() -> None:
    a = llm_call_key("s1", "n", 3, 100, 20)
    assert a == llm_call_key("s1", "n", 3, 100, 20)
    assert a != llm_call_key("s1", "n", 4, 100, 20)
    assert a != llm_call_key("s2", "n", 3, 100, 20)
    assert tool_call_key("s1", "tu_1") != tool_call_key("s2", "tu_1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T03:04:05+00:00", int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()) * 10**9),
        (
            "2026-01-02T03:04:05.250000+02:00",
            int(datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC).timestamp()) * 10**9 + 250_000_000,
        ),
        (1_700_000_000, 1_700_000_000 * 10**9),
        ("not a time", None),
        ("", None),
        (None, None),
        # Not times Hive writes, and OTLP's unsigned nanoseconds cannot carry them: unusable, not a crash.
        (-1, None),
        (0, None),
        (1e30, None),
        (float("nan"), None),
        (float("inf"), None),
        ("0001-01-01T00:00:00", None),
        ("9999-12-31T23:59:59+00:00", None),
        (True, None),
    ],
)
def test_to_unix_ns(value: object, expected: int | None) -> None:
    assert to_unix_ns(value) == expected


def test_naive_timestamps_are_local_time() -> None:
    naive = "2026-03-04T05:06:07.123456"
    expected = int(datetime.fromisoformat(naive).astimezone().timestamp() * 1_000_000) * 1000
    assert to_unix_ns(naive) == expected


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("claude-sonnet-4-5", "anthropic"),
        ("anthropic/claude-3-haiku", "anthropic"),
        ("gpt-4o", "openai"),
        ("gemini/gemini-2.5-flash", "gcp.gemini"),
        ("gemini-2.5-pro", "gcp.gemini"),
        ("bedrock/anthropic.claude-v2", "aws.bedrock"),
        ("openrouter/anthropic/claude-3.5-sonnet", "openrouter"),
        ("together_ai/deepseek-ai/DeepSeek-V3", "together"),  # the route, not the model's maker
        ("fireworks_ai/accounts/fireworks/models/deepseek-v3-0324", "fireworks"),
        ("watsonx/ibm/granite-13b-chat-v2", "ibm.watsonx.ai"),
        ("my-private-model", None),
        ("", None),
    ],
)
def test_provider_for_model(model: str, provider: str | None) -> None:
    assert provider_for_model(model) == provider


def test_worker_stream_in_queen_file_is_the_workers_session() -> None:
    queen = SessionContext("session_q", queen_id="q", colony_id="c")
    worker = context_for_stream(queen, "worker:session_w")
    assert (worker.session_id, worker.parent_session_id, worker.agent_role) == ("session_w", "session_q", "worker")
    assert root_session_id(worker) == "session_q"
    assert context_for_stream(queen, "queen") is queen
    assert root_session_id(queen) == "session_q"


def _call(source: str, **kw: object) -> LlmCall:
    base = dict(
        call_key="k",
        source=source,
        resource=Resource.of({}),
        session_id="s",
        node_id="n",
        iteration=1,
        input_tokens=10,
        output_tokens=2,
    )
    base.update(kw)
    return LlmCall(**base)  # type: ignore[arg-type]


def test_merge_keeps_hive_ids_and_event_detail() -> None:
    event = _call(SOURCE_EVENT, model="gpt-4o", cost_usd=0.5, cached_tokens=4, end_ns=2_000_000_000)
    log = _call(SOURCE_LOG, trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x03" * 8, latency_ms=500)
    span = llm_call_span(merge_llm(event, log))
    assert (span.trace_id, span.span_id, span.parent_span_id) == (b"\x01" * 16, b"\x02" * 8, b"\x03" * 8)
    assert span.attributes[A.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert span.attributes[A.HIVE_COST_SOURCE] == A.COST_SOURCE_RUNTIME
    assert span.attributes[A.HIVE_CALL_SOURCE] == SOURCE_BOTH
    assert span.end_ns - span.start_ns == 500_000_000


def test_zero_cost_is_unpriced_not_free() -> None:
    span = llm_call_span(_call(SOURCE_EVENT, model="x", cost_usd=0.0, end_ns=1))
    assert span.attributes[A.HIVE_COST_SOURCE] == A.COST_SOURCE_UNPRICED


@pytest.mark.parametrize("order", [("event", "log"), ("log", "event")])
def test_joiner_merges_in_either_order(order: tuple[str, str]) -> None:
    joiner = CallJoiner[str](lambda e, lg: f"{e}+{lg}", window_ns=None)
    assert joiner.add("k", order[0], order[0], 0) is None
    assert joiner.add("k", order[1], order[1], 1) == "event+log"
    assert len(joiner) == 0 and joiner.merged == 1


def test_joiner_releases_alone_after_window_and_on_flush() -> None:
    joiner = CallJoiner[str](lambda e, lg: e + lg, window_ns=10)
    joiner.add("a", "ev", "event", 0)
    joiner.add("b", "lg", "log", 5)
    assert joiner.expired(9) == []
    assert joiner.expired(11) == ["ev"]
    assert joiner.flush() == ["lg"]
    assert joiner.released_alone == 2


def test_joiner_releases_what_a_clock_step_back_left_in_the_future() -> None:
    """A half is stamped with its event's time, read from the wall clock: after the clock stepped back
    600 s, it and every call behind it waited 600 s (an audit's live export stored 0 of 101 calls)."""
    joiner = CallJoiner[str](lambda e, lg: e + lg, window_ns=10)
    joiner.add("before", "old", "event", 1_000)
    assert joiner.expired(400) == ["old"]  # the clock went back by 600
    joiner.add("after", "new", "event", 401)
    assert joiner.expired(405) == [] and joiner.expired(411) == ["new"]


def test_joiner_is_bounded() -> None:
    joiner = CallJoiner[int](lambda e, lg: e, window_ns=None, max_pending=3)
    for i in range(5):
        joiner.add(str(i), i, "event", i)
    assert joiner.expired(0) == [0, 1]


def test_joiner_releases_over_the_cap_then_past_the_window_oldest_first() -> None:
    joiner = CallJoiner[int](lambda e, lg: e, window_ns=10, max_pending=3)
    for i in range(5):
        joiner.add(str(i), i, "event", i)
    assert joiner.expired(12) == [0, 1, 2]  # 0 and 1 over the cap, 2 seen at the deadline
    assert len(joiner) == 2 and joiner.released_alone == 3
    assert joiner.flush() == [3, 4]
    assert len(joiner) == 0


def test_status_log_unknown_type_is_flagged_and_content_private() -> None:
    resource = ResourceFactory().for_context(SessionContext("s"))
    event = {"type": "brand_new_thing", "stream_id": "queen", "seq": 7, "data": {"secret": "x"}}
    quiet = status_log(event, resource, 1, b"\x01" * 16, b"\x02" * 8, include_content=False)
    assert quiet.attributes[A.HIVE_UNKNOWN_EVENT] is True
    assert A.HIVE_EVENT_DATA not in quiet.attributes
    loud = status_log(event, resource, 1, b"\x01" * 16, b"\x02" * 8, include_content=True)
    assert "secret" in loud.attributes[A.HIVE_EVENT_DATA]


def test_status_log_phase_and_task() -> None:
    resource = ResourceFactory().for_context(SessionContext("s"))
    phase = status_log({"type": "queen_phase_changed", "data": {"phase": "colony"}}, resource, 1, b"", b"", False)
    assert phase.event_name == "hive.queen_phase_changed"
    assert phase.attributes[A.HIVE_QUEEN_PHASE] == "colony"
    task = status_log(
        {"type": "task_updated", "data": {"task_id": "3", "after": {"id": 3, "status": "completed"}}},
        resource,
        1,
        b"",
        b"",
        False,
    )
    assert task.attributes[A.HIVE_TASK_ID] == "3" and task.attributes[A.HIVE_TASK_STATUS] == "completed"
