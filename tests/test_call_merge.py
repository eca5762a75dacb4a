"""One merge rule for the two halves of a call (hive_otel/call_merge.py), applied by the client and the
store alike: a call joined in the client and the same call joined in the store are the same row, ids
included, whichever half reaches the store first.

The halves come from real Hive output, mapped by the real client mapping: the workload (aden-hive's
EventBus and RuntimeLogger; forks and colonies copy calls), whose queens and workers have a bus but
no RuntimeLogger in 1.0.12 and whose graph agents the reverse, plus one host session that has both, as
a host running an agent loop with a RuntimeLogStore in its session directory would, and a fork of it
(``fork_session_dir``). The store is the real one on chDB. One chDB path per process: the "stores"
compared are tenants of one store, whose rows never mix (key (tenant, call_key)).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from framework.host.event_bus import EventBus
from framework.observability import set_trace_context
from framework.server.session_fork import fork_session_dir
from framework.tracker.runtime_log_store import RuntimeLogStore
from framework.tracker.runtime_logger import RuntimeLogger
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from devtools.workload import WorkloadTruth, write_workload
from hive_otel import attributes as A
from hive_otel.call_merge import RULES, SOURCE_EVENT, SOURCE_LOG, Winner, pick, ranked_tuple_sql, rule_of_column
from hive_otel.client.encoding import encode_spans
from hive_otel.client.mapping.calls import LlmCall, ToolCall
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.telemetry import SpanRecord
from hive_otel.client.sources.checkpoints import Checkpoints
from hive_otel.client.sources.files import FileTailer
from hive_otel.collector.rollups.settle import MERGED_SQL
from hive_otel.collector.rollups.usage_merge import CANDIDATE_COLUMNS, FACT_COLUMNS
from hive_otel.collector.store.migrations import migrations_dir
from hive_otel.collector.store.store import Store, open_store

_END_OF_TIME = 1 << 62
_ROW_COLUMNS = [c for c in FACT_COLUMNS if c != "tenant"]
_COMPARED = [c for c in _ROW_COLUMNS if c != "version"]  # every column of a call, ids included


HOST_SID = "session_20260115_100000_b0th0001"
FORK_SID = "session_20260115_110000_b0th0002"
HIVE_TRACE_ID = "0a" * 16


async def _turn(bus: EventBus, logger: RuntimeLogger, sid: str, iteration: int) -> None:
    """One agent-loop turn as Hive records it on both channels: bus events, then the L3 step."""
    node, tokens = "queen", (1000 + 37 * iteration, 50 + iteration)
    if iteration % 2:  # a streamed turn: its first delta dates the call
        await bus.emit_llm_text_delta("queen", node, "Working", "Working", execution_id=sid)
    tool_calls = []
    for t in range(iteration % 3):
        tool_use_id = f"toolu_{sid[-4:]}{iteration:03d}{t}"
        await bus.emit_tool_call_started("queen", node, tool_use_id, "web_search", {"q": "x"}, execution_id=sid)
        await asyncio.sleep(0.002)
        error = (iteration + t) % 4 == 0
        await bus.emit_tool_call_completed("queen", node, tool_use_id, "web_search", "ok", error, execution_id=sid)
        tool_calls.append({"tool_use_id": tool_use_id, "tool_name": "web_search", "tool_input": {"q": "x"},
                           "content": "ok", "is_error": error, "start_timestamp": datetime.now(UTC).isoformat(),
                           "duration_s": 0.001 * (5 + iteration)})  # fmt: skip
    model = ("claude-sonnet-4-5", "gpt-4o", "my-private-model")[iteration % 3]
    await bus.emit_llm_turn_complete(
        "queen", node, stop_reason="tool_calls" if tool_calls else "stop", model=model, input_tokens=tokens[0],
        output_tokens=tokens[1], cached_tokens=100 * (iteration % 2), cost_usd=0.001 * (iteration % 3),
        execution_id=sid, iteration=iteration,
    )  # fmt: skip
    logger.log_step(node_id=node, node_type="event_loop", step_index=iteration, tool_calls=tool_calls,
                    input_tokens=tokens[0], output_tokens=tokens[1], latency_ms=(0, 3, 2500)[iteration % 3],
                    verdict="CONTINUE", is_partial=iteration == 4)  # fmt: skip


async def _host_session(home: Path, turns: int) -> Path:
    """A session with both halves of every call (events.jsonl and L3 logs in its directory), then a fork."""
    queen_dir = home / "queens" / "host_queen"
    session_dir = queen_dir / "sessions" / HOST_SID
    bus = EventBus()
    bus.set_session_log(session_dir / "events.jsonl")
    # A trace id that sorts below the ids derived for bus-only halves: "the largest id pair wins" would
    # keep the derived ids in the store while the client keeps Hive's.
    set_trace_context(trace_id=HIVE_TRACE_ID, execution_id="ec" * 16, stream_id="queen")
    logger = RuntimeLogger(store=RuntimeLogStore(session_dir), agent_id="host_queen")  # logs in the session
    logger.start_run(session_id=HOST_SID)
    for iteration in range(turns):
        await _turn(bus, logger, HOST_SID, iteration)
    await logger.end_run(status="success", duration_ms=1000)
    bus.close_session_log()
    (session_dir / "conversations").mkdir()  # what fork_session_dir cuts (the agent loop's; empty here)
    return fork_session_dir(session_dir, FORK_SID)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth]:
    home = tmp_path_factory.mktemp("merge") / "home"
    truth = write_workload(home, queens=1, colonies=1, workers_per_colony=1, turns_per_session=3, forks=1, seed=12)
    asyncio.run(_host_session(home, turns=9))
    return home, truth


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(f"chdb://{tmp_path_factory.mktemp('chdb') / 'store'}")
    yield opened
    opened.close()


def _call_spans(home: Path, state: Path, *, join: bool) -> list[SpanRecord]:
    """The LLM and tool call spans of one backfill pass: halves joined by the client (``join``), or
    every half released alone before its partner is read (a join window of 0, released after each record;
    the joiner dates a half by its record's own time, so "now" is the end of time)."""
    tailer = FileTailer(home, Checkpoints(state))
    mapper = EventMapper(ResourceFactory(user_id="u"), join_window_ns=None if join else 0)
    spans: list[SpanRecord] = []
    for now, record in enumerate(tailer.poll()):
        spans += mapper.map(record, now).spans
        if not join:
            spans += mapper.release(_END_OF_TIME).spans
    spans += mapper.flush().spans
    tailer.close()
    return [s for s in spans if A.HIVE_CALL_KEY in s.attributes]


def _send(store: Store, spans: list[SpanRecord], tenant: str) -> None:
    result = store.ingest_traces(ExportTraceServiceRequest.FromString(encode_spans(spans)), tenant=tenant)
    assert result.rejected == 0


def _rows(store: Store, sql: str, tenant: str) -> dict[str, dict[str, object]]:
    columns, rows = store.query(f"SELECT {', '.join(_ROW_COLUMNS)} FROM ({sql}) WHERE tenant = '{tenant}'")
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}  # by call key


def _facts(store: Store, tenant: str) -> dict[str, dict[str, object]]:
    return _rows(store, "SELECT * FROM usage_facts FINAL", tenant)


def _columns(rows: dict[str, dict[str, object]], columns: Iterable[str]) -> dict[str, list[object]]:
    """Per call key, the values of ``columns`` (a dict comparison names the calls that differ)."""
    return {key: [(c, row[c]) for c in columns] for key, row in rows.items()}


@pytest.fixture(scope="module")
def stored(home: tuple[Path, WorkloadTruth], store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Tenant ``client``: the client-joined calls, one request. ``event-first`` / ``log-first``: the
    halves alone, the bus halves in one request and the L3 halves in another, in both orders.
    ``bus-only`` / ``l3-only``: one kind of half each."""
    joined = _call_spans(home[0], tmp_path_factory.mktemp("state"), join=True)
    halves = _call_spans(home[0], tmp_path_factory.mktemp("state"), join=False)
    events = [s for s in halves if s.attributes[A.HIVE_CALL_SOURCE] == SOURCE_EVENT]
    logs = [s for s in halves if s.attributes[A.HIVE_CALL_SOURCE] == SOURCE_LOG]
    assert len(events) + len(logs) == len(halves)
    _send(store, joined, "client")
    for tenant, order in (("event-first", (events, logs)), ("log-first", (logs, events))):
        for spans in order:
            _send(store, spans, tenant)
    _send(store, events, "bus-only")
    _send(store, logs, "l3-only")
    return {"joined": joined, "halves": halves}


def test_the_host_session_has_calls_joined_in_the_client_with_hive_ids(stored: dict) -> None:
    """The comparison below is not empty: LLM and tool calls with both halves, in Hive's trace."""
    both = [s for s in stored["joined"] if s.attributes[A.HIVE_CALL_SOURCE] == "event+log"]
    kinds = {s.attributes[A.GEN_AI_OPERATION_NAME] for s in both}
    assert kinds == {"chat", "execute_tool"}
    assert {s.trace_id.hex() for s in both} == {HIVE_TRACE_ID}
    ids_by_key: dict[object, set[tuple[bytes, bytes]]] = {}
    for s in both:
        ids_by_key.setdefault(s.attributes[A.HIVE_CALL_KEY], set()).add((s.trace_id, s.span_id))
    # The fork's copy of each call is the call itself: same key, same Hive ids (so the store sees a replay).
    assert len(both) == 2 * len(ids_by_key) and all(len(ids) == 1 for ids in ids_by_key.values())


@pytest.mark.parametrize("order", ["event-first", "log-first"])
def test_store_joined_calls_equal_client_joined_calls_ids_included(store: Store, stored: dict, order: str) -> None:
    client, joined_in_store = _facts(store, "client"), _facts(store, order)
    assert _columns(joined_in_store, ("trace_id", "span_id")) == _columns(client, ("trace_id", "span_id"))
    assert _columns(joined_in_store, _COMPARED) == _columns(client, _COMPARED)


# event-first: the derived ids of the bus half went in first, as a version of their own
@pytest.mark.parametrize("tenant", ["client", "event-first", "log-first"])
def test_usage_calls_merges_the_versions_to_the_same_row(store: Store, stored: dict, tenant: str) -> None:
    """ClickHouse's own merge of every fact version (what ``settle`` reads) ends where the ingest merge did."""
    facts, merged = _facts(store, tenant), _rows(store, MERGED_SQL, tenant)
    # The estimate of an unpriced call is settle's to reconcile (tests/collector/test_two_collectors.py).
    compared = [c for c in _COMPARED if c not in ("cost_source", "cost_estimated_usd")]
    assert _columns(merged, compared) == _columns(facts, compared)


def test_a_joined_call_keeps_hive_ids_and_they_name_the_l3_span(store: Store, stored: dict) -> None:
    """The stored ids of an event+log call are Hive's L3 ids: the L3 half's span, stored in otel_traces."""
    halves = {(s.attributes[A.HIVE_CALL_KEY], s.attributes[A.HIVE_CALL_SOURCE]): s for s in stored["halves"]}
    facts = _facts(store, "event-first")
    checked = 0
    for key, row in facts.items():
        if row["call_source"] != "event+log" or row["kind"] != "llm":
            continue
        log = halves[(key, SOURCE_LOG)]
        assert (row["trace_id"], row["span_id"]) == (log.trace_id.hex(), log.span_id.hex())
        checked += 1
    assert checked
    _, rows = store.query(
        "SELECT count() FROM usage_facts FINAL WHERE tenant = 'event-first' AND (trace_id, span_id) NOT IN "
        "(SELECT TraceId, SpanId FROM otel_traces WHERE ResourceAttributes['hive.tenant.id'] = 'event-first')"
    )
    assert rows == [[0]]  # every stored call's ids are a span in the raw traces


def test_every_field_of_a_call_and_every_candidate_column_has_one_rule() -> None:
    for cls in (LlmCall, ToolCall):
        for name in cls.__dataclass_fields__:
            assert sum(name in rule.fields for rule in RULES.values()) == 1, (cls.__name__, name)
    for column in CANDIDATE_COLUMNS:
        if column != "cost_source":  # decided after the merge, from the merged cost (usage_merge._price)
            assert sum(column in rule.columns for rule in RULES.values()) == 1, column


def test_the_usage_calls_migration_agrees_with_the_rules() -> None:
    """usage_calls (AggregatingMergeTree) encodes the rules in its column types and its view."""
    # Found by what it creates, not by number: the last migration that makes the table is the one in force.
    sql = [text for path in sorted(migrations_dir().glob("*.up.sql"))
           if "CREATE TABLE IF NOT EXISTS usage_calls " in (text := path.read_text())][-1]  # fmt: skip
    assert sql.count(f"{ranked_tuple_sql('ids')} AS ids") == 1 and f", {ranked_tuple_sql('ids')}," in sql
    assert f"{ranked_tuple_sql('time')} AS time" in sql
    for column in re.findall(r"^    (\w+) SimpleAggregateFunction\(max, (?!Tuple)", sql, flags=re.M):
        rule = rule_of_column(column)
        if rule is not None:
            assert rule.winner not in (Winner.LOG, Winner.EVENT), column  # a ranked rule needs a ranked tuple


@pytest.mark.parametrize(
    ("winner", "event", "log", "joined"),
    [
        (Winner.LOG, "e", "l", "l"),
        (Winner.LOG, "e", None, "e"),
        (Winner.EVENT, "e", "l", "e"),
        (Winner.EVENT, "", "l", "l"),
        (Winner.LARGER, 3, 5, 5),
        (Winner.LARGER, False, True, True),
        (Winner.BOTH, "event", "log", "event+log"),
    ],
)
def test_pick(winner: Winner, event: object, log: object, joined: object) -> None:
    assert pick(winner, event, log) == joined


def test_two_collectors_each_taking_one_half_for_new_settle_to_the_client_joined_call(store: Store, stored: dict) -> None:
    """The race ``usage_calls`` and ``settle`` are for: two collectors each found the call new and each
    wrote a fact with only its half (here: the facts of ``bus-only`` and ``l3-only``, written as one tenant's)."""
    columns = ", ".join(_ROW_COLUMNS)
    store.execute(
        f"INSERT INTO usage_facts (tenant, {columns}) SELECT 'raced', {columns} FROM usage_facts FINAL "
        "WHERE tenant IN ('bus-only', 'l3-only')"
    )
    store.settle()
    assert _columns(_facts(store, "raced"), _COMPARED) == _columns(_facts(store, "client"), _COMPARED)
