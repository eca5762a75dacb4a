"""GenAI semantic-convention names: the pinned release, ``OTEL_SEMCONV_STABILITY_OPT_IN``, and a
collector that reads old and new names alike.

The same aden-hive EventBus calls go through ``hive_otel.instrument()`` (mapping, redaction, outbox,
OTLP/HTTP) once per opt-in value, each as its own tenant, into one real collector on chDB. Token
counts are the ones published here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from framework.host.event_bus import EventBus
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import hive_otel
from hive_otel import attributes as A
from hive_otel.client.encoding import encode_logs, encode_spans
from hive_otel.client.mapping.semconv import GenAiConventions
from hive_otel.client.mapping.telemetry import LogRecord, Resource, SpanKind, SpanRecord
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, open_store
from hive_otel.settings import ClientSettings
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

CACHE_WRITE, CACHE_CREATION = A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
COST = (A.GEN_AI_USAGE_COST_AMOUNT, A.GEN_AI_USAGE_COST_CURRENCY, A.GEN_AI_USAGE_COST_SOURCE)
OPT_INS = {"pinned": None, "latest": "gen_ai_latest_experimental", "dup": "http/dup,gen_ai_latest_experimental/dup"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, GenAiConventions.PINNED),
        ("", GenAiConventions.PINNED),
        ("http,database/dup", GenAiConventions.PINNED),  # other categories are not ours
        ("gen_ai_latest_experimental", GenAiConventions.LATEST),
        (" http , gen_ai_latest_experimental ", GenAiConventions.LATEST),
        ("gen_ai_latest_experimental/dup", GenAiConventions.LATEST_DUP),
        ("gen_ai_latest_experimental,gen_ai_latest_experimental/dup", GenAiConventions.LATEST_DUP),  # /dup wins
    ],
)
def test_opt_in_is_read_as_opentelemetry_instrumentations_read_it(value: str | None, expected: GenAiConventions) -> None:
    assert GenAiConventions.from_opt_in(value) is expected


def test_every_request_names_the_pinned_schema_url() -> None:
    resource = Resource.of({A.HIVE_SESSION_ID: "s"})
    span = SpanRecord(resource, b"\x01" * 16, b"\x02" * 8, b"", "chat", SpanKind.CLIENT, 1, 2, {})
    traces = ExportTraceServiceRequest.FromString(encode_spans([span]))
    assert A.SEMCONV_SCHEMA_URL == "https://opentelemetry.io/schemas/1.42.0"
    assert traces.resource_spans[0].schema_url == A.SEMCONV_SCHEMA_URL
    assert traces.resource_spans[0].scope_spans[0].schema_url == A.SEMCONV_SCHEMA_URL
    logs = ExportLogsServiceRequest.FromString(encode_logs([LogRecord(resource, 1, "hive.x", 9, "INFO", {})]))
    assert logs.resource_logs[0].schema_url == logs.resource_logs[0].scope_logs[0].schema_url == A.SEMCONV_SCHEMA_URL


async def _calls(bus: EventBus) -> None:
    await bus.emit_execution_started("queen", "exec-s")
    await bus.emit_llm_turn_complete("queen", "queen", "stop", "claude-sonnet-4-5", 2000, 150, cached_tokens=700,
                                     cache_creation_tokens=400, cost_usd=0.02,
                                     execution_id="exec-s", iteration=0)  # fmt: skip
    await bus.emit_llm_turn_complete("queen", "queen", "stop", "acme-internal-7b", 900, 60, cached_tokens=0,
                                     cache_creation_tokens=250, cost_usd=0.0,
                                     execution_id="exec-s", iteration=1)  # fmt: skip
    await bus.emit_execution_completed("queen", "exec-s")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Store]]:
    work = tmp_path_factory.mktemp("semconv")
    store = open_store(f"chdb://{work / 'store'}")
    server = Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1)
    server.start()
    for tenant, opt_in in OPT_INS.items():
        client = work / tenant
        env = {
            "HIVE_HOME": str(client),
            "HIVE_OTEL_STATE_DIR": str(client / "state"),
            "HIVE_OTEL_ENDPOINT": server.http_url,
            "HIVE_OTEL_JOIN_WINDOW_S": "0",
            "HIVE_OTEL_HEARTBEAT_S": "0",
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-hive-tenant-id={tenant}",
            **({"OTEL_SEMCONV_STABILITY_OPT_IN": opt_in} if opt_in else {}),
        }
        bus = EventBus()
        live = hive_otel.instrument(bus, session_id=f"session_{tenant}", settings=ClientSettings.from_env(env))
        asyncio.run(_calls(bus))
        live.shutdown(timeout_millis=10_000)
    # A client that still sends only the name 1.42 replaced.
    old = [LlmCall("old:1", model="claude-sonnet-4-5", input_tokens=2000, output_tokens=150, cached_tokens=700,
                   cache_creation_tokens=400, cost_usd=0.02).span()]  # fmt: skip
    body = traces_request([SessionBatch(Session("session_old", "session_old"), old)]).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": "old"}
    assert httpx.post(server.http_url + "/v1/traces", content=body, headers=headers, timeout=30).status_code == 200
    yield server, store
    server.stop()
    store.close()


def _chat_attributes(store: Store, tenant: str) -> list[dict[str, Any]]:
    _, rows = store.query(
        f"SELECT SpanAttributes FROM otel_traces WHERE ResourceAttributes['hive.tenant.id'] = '{tenant}' "
        "AND SpanAttributes['gen_ai.operation.name'] = 'chat' ORDER BY SpanAttributes['hive.iteration']"
    )
    return [dict(row[0]) for row in rows]


def test_the_pinned_names_by_default(loaded: tuple[Collector, Store]) -> None:
    _, store = loaded
    priced, unpriced = _chat_attributes(store, "pinned")
    assert priced[CACHE_WRITE] == "400" and unpriced[CACHE_WRITE] == "250"
    assert not any(key in span for span in (priced, unpriced) for key in (CACHE_CREATION, *COST))


def test_latest_experimental_adds_the_proposed_cost_group_to_priced_calls(loaded: tuple[Collector, Store]) -> None:
    _, store = loaded
    priced, unpriced = _chat_attributes(store, "latest")
    assert [priced[key] for key in COST] == ["0.02", "USD", "local"]
    assert not any(key in unpriced for key in COST)  # an unpriced call has no cost, not a cost of zero
    assert CACHE_CREATION not in priced and priced[CACHE_WRITE] == "400"


def test_dup_sends_the_replaced_names_too(loaded: tuple[Collector, Store]) -> None:
    _, store = loaded
    for span in _chat_attributes(store, "dup"):
        assert span[CACHE_CREATION] == span[CACHE_WRITE]
    assert [span[CACHE_WRITE] for span in _chat_attributes(store, "dup")] == ["400", "250"]


def test_old_new_and_both_names_give_identical_usage(loaded: tuple[Collector, Store]) -> None:
    _, store = loaded
    reports = {tenant: usage(store, ["model"], tenant=tenant).as_dict() for tenant in (*OPT_INS, "old")}
    assert reports["pinned"] == reports["latest"] == reports["dup"]
    by_model = {row["model"]: row for row in reports["pinned"]["rows"]}
    assert by_model["claude-sonnet-4-5"]["cache_creation_tokens"] == 400
    assert by_model["acme-internal-7b"]["cache_creation_tokens"] == 250
    [old] = reports["old"]["rows"]
    assert old == {**by_model["claude-sonnet-4-5"], "cost_estimated_usd": old["cost_estimated_usd"]}


def test_usage_is_on_the_leaf_chat_spans_only(loaded: tuple[Collector, Store]) -> None:
    _, store = loaded
    _, rows = store.query(
        "SELECT SpanAttributes['gen_ai.operation.name'] AS op, count() FROM otel_traces "
        "WHERE arrayExists(k -> startsWith(k, 'gen_ai.usage.'), mapKeys(SpanAttributes)) GROUP BY op"
    )
    assert {op for op, _ in rows} == {"chat"}
