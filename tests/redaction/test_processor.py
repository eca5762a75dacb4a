"""The in-process redaction step: fail closed, mask blocked values, count everything it does."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_otel import attributes as a
from hive_otel.client.mapping.telemetry import LogRecord, Resource, SpanKind, SpanRecord, StatusCode, Telemetry
from hive_otel.client.redaction import COUNTER_NAMES, MASK, RedactionPolicy, RedactionProcessor

POLICY_FILE = Path(__file__).resolve().parents[2] / "collector" / "redaction.yaml"
API_KEY = "sk-ant-api03-CANARYabcdefghijklmnop"
HOME_PATH = "/home/alice/CANARY/notes.md"

RESOURCE = Resource.of({
    a.SERVICE_NAME: "hive",
    a.HIVE_SCHEMA_VERSION: "1",
    a.HIVE_SESSION_ID: "session_20250101_120000_abc",
    a.HIVE_USER_ID: "alice@example.com",
    "host.name": "alices-laptop",  # from OTEL_RESOURCE_ATTRIBUTES, not on the allowlist
})


def policy(**changes: object) -> RedactionPolicy:
    document = RedactionPolicy.load(POLICY_FILE).model_dump()
    opt_in = document["opt_in"] | dict(changes.pop("opt_in", {}))  # type: ignore[arg-type]
    return RedactionPolicy.from_mapping(document | changes | {"opt_in": opt_in})


def chat_span(**attributes: object) -> SpanRecord:
    return SpanRecord(
        resource=RESOURCE,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        parent_span_id=b"\x03" * 8,
        name="chat claude-sonnet-4-5",
        kind=SpanKind.CLIENT,
        start_ns=1,
        end_ns=2,
        attributes={
            a.GEN_AI_OPERATION_NAME: a.OP_CHAT,
            a.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
            a.GEN_AI_USAGE_INPUT_TOKENS: 120,
            a.HIVE_COST_USD: 0.0125,
            a.HIVE_TOOL_IS_ERROR: False,
            **attributes,
        },
        status_code=StatusCode.ERROR,
        status_message=f"failed reading {HOME_PATH}",
        links=[(b"\x04" * 16, b"\x05" * 8)],
    )


def status_log(body: str | None = "the user asked about /home/alice/CANARY") -> LogRecord:
    return LogRecord(
        resource=RESOURCE,
        time_ns=5,
        event_name="hive.queen_phase_changed",
        severity_number=9,
        severity_text="INFO",
        attributes={a.HIVE_EVENT_TYPE: "queen_phase_changed", a.HIVE_QUEEN_PHASE: "colony",
                    a.HIVE_EVENT_DATA: '{"prompt": "CANARY"}'},
        body=body,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
    )


def test_unknown_and_private_keys_are_removed_and_counted() -> None:
    processor = RedactionProcessor(policy())
    span = chat_span(**{a.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": "CANARY"}', "x.custom": "CANARY"})
    out = processor.process(Telemetry(spans=[span])).spans[0]
    assert set(out.attributes) == {
        a.GEN_AI_OPERATION_NAME, a.GEN_AI_REQUEST_MODEL, a.GEN_AI_USAGE_INPUT_TOKENS,
        a.HIVE_COST_USD, a.HIVE_TOOL_IS_ERROR,
    }
    assert out.resource.as_dict() == {
        a.SERVICE_NAME: "hive", a.HIVE_SCHEMA_VERSION: "1",
        a.HIVE_SESSION_ID: "session_20250101_120000_abc", a.HIVE_USER_ID: "alice@example.com",
    }
    assert processor.counters["attributes_removed"] == 3
    assert processor.removed_keys == {a.GEN_AI_TOOL_CALL_ARGUMENTS: 1, "x.custom": 1, "host.name": 1}


def test_values_keep_their_types_and_the_input_is_not_modified() -> None:
    span = chat_span()
    original_attributes = dict(span.attributes)
    out = RedactionProcessor(policy()).process(Telemetry(spans=[span])).spans[0]
    assert span.attributes == original_attributes and span.status_message.startswith("failed")
    assert out.attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert out.attributes[a.HIVE_COST_USD] == 0.0125
    assert out.attributes[a.HIVE_TOOL_IS_ERROR] is False
    assert (out.trace_id, out.span_id, out.parent_span_id) == (span.trace_id, span.span_id, span.parent_span_id)
    assert (out.kind, out.start_ns, out.end_ns, out.status_code) == (SpanKind.CLIENT, 1, 2, StatusCode.ERROR)
    assert out.links == span.links


def test_blocked_values_are_masked_under_allowed_keys() -> None:
    processor = RedactionProcessor(policy())
    span = chat_span(**{
        a.ERROR_TYPE: f"AuthError {API_KEY}",
        a.HIVE_NODE_ID: HOME_PATH,
        a.GEN_AI_RESPONSE_FINISH_REASONS: ["stop", f"key {API_KEY}"],
    })
    out = processor.process(Telemetry(spans=[span])).spans[0]
    assert out.attributes[a.ERROR_TYPE] == f"AuthError {MASK}"
    assert out.attributes[a.HIVE_NODE_ID] == MASK
    assert out.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop", f"key {MASK}"]
    assert processor.counters["values_masked"] == 3


def test_a_value_the_encoder_would_str_is_masked_as_that_text() -> None:
    """The mapping sends strings, numbers and lists of them; should anything else reach an allowed key,
    the encoder writes its ``str()``, so that text is what gets masked (it went out unmasked once)."""
    processor = RedactionProcessor(policy())
    span = chat_span(**{a.HIVE_VERDICT: {"p": HOME_PATH}, a.GEN_AI_RESPONSE_FINISH_REASONS: ["stop", {"k": API_KEY}]})
    out = processor.process(Telemetry(spans=[span])).spans[0]
    assert HOME_PATH not in str(out.attributes) and API_KEY not in str(out.attributes)
    assert out.attributes[a.HIVE_VERDICT] == f"{{'p': '{MASK}"  # a path runs to the next blank
    assert out.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop", f"{{'k': '{MASK}'}}"]


def test_ignored_keys_are_exported_unmasked() -> None:
    out = RedactionProcessor(policy()).process(Telemetry(spans=[chat_span()])).spans[0]
    assert out.resource.as_dict()[a.HIVE_USER_ID] == "alice@example.com"


def test_call_keys_stay_whole_whatever_pattern_a_user_adds() -> None:
    """The store counts each call once by its key: a pattern that matches hex must not mask it."""
    from hive_otel.client.mapping.ids import llm_call_key

    key = llm_call_key("session_20250101_120000_abc", "queen", 0, 1200, 80)
    hex_secrets = policy(blocked_values=[*RedactionPolicy.load(POLICY_FILE).blocked_values, "[0-9a-f]{16,}"])
    out = RedactionProcessor(hex_secrets).process(Telemetry(spans=[chat_span(**{a.HIVE_CALL_KEY: key})])).spans[0]
    assert out.attributes[a.HIVE_CALL_KEY] == key


def test_span_names_keep_allowed_values_and_lose_blocked_ones() -> None:
    processor = RedactionProcessor(policy())
    fine = chat_span()
    leaky = chat_span()
    leaky.name = f"execute_tool read_file {HOME_PATH}"
    out = processor.process(Telemetry(spans=[fine, leaky])).spans
    assert out[0].name == "chat claude-sonnet-4-5"
    assert out[1].name == f"execute_tool read_file {MASK}"
    assert processor.counters["span_names_masked"] == 1


def test_status_messages_are_dropped_unless_opted_in_then_masked() -> None:
    dropping = RedactionProcessor(policy())
    assert dropping.process(Telemetry(spans=[chat_span()])).spans[0].status_message == ""
    assert dropping.counters["status_messages_dropped"] == 1

    keeping = RedactionProcessor(policy(opt_in={"status_messages": True}))
    assert keeping.process(Telemetry(spans=[chat_span()])).spans[0].status_message == f"failed reading {MASK}"
    assert keeping.counters["status_messages_masked"] == 1


def test_log_bodies_are_dropped_unless_opted_in_then_masked() -> None:
    dropping = RedactionProcessor(policy())
    log = dropping.process(Telemetry(logs=[status_log(), status_log(body=None)])).logs
    assert [record.body for record in log] == [None, None]
    assert dropping.counters["log_bodies_dropped"] == 1
    assert set(log[0].attributes) == {a.HIVE_EVENT_TYPE, a.HIVE_QUEEN_PHASE}
    assert log[0].event_name == "hive.queen_phase_changed"
    assert (log[0].time_ns, log[0].severity_number, log[0].trace_id) == (5, 9, b"\x01" * 16)

    keeping = RedactionProcessor(policy(opt_in={"log_bodies": True}))
    assert keeping.process(Telemetry(logs=[status_log()])).logs[0].body == f"the user asked about {MASK}"
    assert keeping.counters["log_bodies_masked"] == 1


def test_log_event_names_are_masked() -> None:
    processor = RedactionProcessor(policy())
    log = status_log()
    log.event_name = f"hive.{API_KEY}"
    assert processor.process(Telemetry(logs=[log])).logs[0].event_name == f"hive.{MASK}"
    assert processor.counters["event_names_masked"] == 1


def test_opt_in_keys_pass_with_blocked_values_still_masked() -> None:
    processor = RedactionProcessor(policy(opt_in={"allowed_keys": [a.HIVE_ERROR_MESSAGE]}))
    span = chat_span(**{a.HIVE_ERROR_MESSAGE: f"401 for key {API_KEY}"})
    out = processor.process(Telemetry(spans=[span])).spans[0]
    assert out.attributes[a.HIVE_ERROR_MESSAGE] == f"401 for key {MASK}"


def test_resource_is_redacted_once_but_counted_per_record() -> None:
    processor = RedactionProcessor(policy())
    out = processor.process(Telemetry(spans=[chat_span(), chat_span()], logs=[status_log()]))
    assert out.spans[0].resource is out.spans[1].resource is out.logs[0].resource
    assert processor.removed_keys["host.name"] == 3


@pytest.mark.parametrize("summary", ["info", "debug"])
def test_summary_attributes_follow_the_collector(summary: str) -> None:
    processor = RedactionProcessor(policy(summary=summary))
    span = chat_span(**{"x.custom": "1", a.GEN_AI_OUTPUT_TEXT: "hi", a.ERROR_TYPE: API_KEY})
    out = processor.process(Telemetry(spans=[span])).spans[0]
    assert out.attributes["redaction.redacted.count"] == 2
    assert out.attributes["redaction.masked.count"] == 1
    if summary == "debug":
        assert out.attributes["redaction.redacted.keys"] == f"{a.GEN_AI_OUTPUT_TEXT},x.custom"
        assert out.attributes["redaction.masked.keys"] == a.ERROR_TYPE
    else:
        assert "redaction.redacted.keys" not in out.attributes
    assert out.resource.as_dict()["redaction.redacted.count"] == 1  # host.name


def test_silent_summary_adds_nothing_and_strips_upstream_summaries() -> None:
    span = chat_span(**{"redaction.redacted.count": 4})
    out = RedactionProcessor(policy()).process(Telemetry(spans=[span])).spans[0]
    assert not [key for key in out.attributes if key.startswith("redaction.")]


def test_policy_without_blocked_values_still_fails_closed() -> None:
    processor = RedactionProcessor(policy(blocked_values=[]))
    out = processor.process(Telemetry(spans=[chat_span(**{"x.custom": API_KEY, a.ERROR_TYPE: API_KEY})]))
    assert "x.custom" not in out.spans[0].attributes
    assert out.spans[0].attributes[a.ERROR_TYPE] == API_KEY


def test_counters_start_at_zero_and_an_empty_batch_stays_empty() -> None:
    processor = RedactionProcessor(policy())
    assert not processor.process(Telemetry())
    assert processor.counters == dict.fromkeys(COUNTER_NAMES, 0)
