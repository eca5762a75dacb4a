"""The usage query layer: JSON shape, table choice, time keys, and the owner's remote query contract."""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hive_otel.collector.queries.remote import USAGE_PATH, RemoteStore
from hive_otel.collector.queries.text_table import cell, render_table
from hive_otel.collector.queries.usage import MEASURES, usage
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import BASE_NS, LlmCall, Session, SessionBatch, ToolCall, traces_request

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
QUEEN = Session("sess-u1", "sess-u1", colony="colony-u")


@pytest.fixture
def loaded(store: Store, tenant: str) -> str:
    spans = [
        LlmCall("u:1", model="gpt-4o", cost_usd=0.01, at_ns=BASE_NS).span(),
        LlmCall("u:2", model="gpt-4o", cost_usd=0.02, at_ns=BASE_NS + HOUR_NS + 5).span(),
        LlmCall("u:3", model="no-such-model-xyz", at_ns=BASE_NS + 40 * DAY_NS).span(),
        ToolCall("u:t1", is_error=True, at_ns=BASE_NS + 10).span(),
    ]
    store.ingest_traces(traces_request([SessionBatch(QUEEN, spans)]), tenant=tenant)
    return tenant


def test_json_shape_is_exactly_the_documented_one(store: Store, loaded: str) -> None:
    report = usage(store, ["model"], since="2026-01-01", until="2026-03-01", tenant=loaded).as_dict()
    assert list(report) == ["group_by", "since", "until", "rows", "totals"]
    assert report["group_by"] == ["model"]
    assert report["since"] == "2026-01-01T00:00:00+00:00" and report["until"] == "2026-03-01T00:00:00+00:00"
    assert all(list(row) == ["model", *MEASURES] for row in report["rows"])
    assert list(report["totals"]) == list(MEASURES)
    by_model = {row["model"]: row for row in report["rows"]}
    assert by_model["gpt-4o"]["llm_calls"] == 2 and by_model["gpt-4o"]["cost_usd"] == 0.03
    assert by_model["no-such-model-xyz"]["unpriced_calls"] == 1  # nobody prices it: counted, never $0
    assert report["totals"]["tool_calls"] == 1 and report["totals"]["tool_errors"] == 1
    json.dumps(report)


@pytest.mark.parametrize(
    ("keys", "since", "until", "table"),
    [
        (["model"], None, None, "usage_daily"),
        (["month"], "2026-01-01", None, "usage_daily"),
        (["hour"], None, None, "usage_hourly"),
        (["model"], "2026-01-01T01:00:00", None, "usage_hourly"),
        (["session"], None, None, "usage_facts"),
        (["model"], "2026-01-01T00:30:00", None, "usage_facts"),
    ],
)
def test_each_query_reads_the_smallest_table_that_is_exact(
    store: Store, loaded: str, keys: list[str], since: str | None, until: str | None, table: str
) -> None:
    report = usage(store, keys, since=since, until=until, tenant=loaded)
    assert report.source == table
    facts = usage(store, ["session"], since=since, until=until, tenant=loaded)
    assert report.totals == facts.totals  # every table answers the same totals


def test_time_keys_and_ranges(store: Store, loaded: str) -> None:
    months = usage(store, ["month"], tenant=loaded)
    assert [(r["month"], r["llm_calls"]) for r in months.rows] == [("2026-01-01", 2), ("2026-02-01", 1)]
    hours = usage(store, ["hour", "model"], until="2026-01-02", tenant=loaded)
    assert [(r["hour"], r["model"], r["llm_calls"], r["tool_calls"]) for r in hours.rows] == [
        ("2026-01-01 00:00:00", "", 0, 1),
        ("2026-01-01 00:00:00", "gpt-4o", 1, 0),
        ("2026-01-01 01:00:00", "gpt-4o", 1, 0),
    ]
    assert usage(store, ["model"], since="2026-01-01T01:00:00", until="2026-01-01T02:00:00", tenant=loaded).totals[
        "cost_usd"
    ] == pytest.approx(0.02)


def test_a_filter_on_an_hour_reads_a_table_that_has_hours(store: Store, loaded: str) -> None:
    """A range on whole days chose usage_daily, whose day has no hour: ClickHouse refused toStartOfHour(Date)."""
    report = usage(store, ["model"], tenant=loaded, filters={"hour": "2026-01-01T01:00:00"})
    assert report.source == "usage_hourly"
    assert [(row["model"], row["llm_calls"]) for row in report.rows] == [("gpt-4o", 1)]


def test_bad_keys_and_ranges_are_usage_errors(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown group-by"):
        usage(store, ["nope"])
    with pytest.raises(ValueError, match="before"):
        usage(store, ["model"], since="2026-02-01", until="2026-01-01")
    with pytest.raises(ValueError, match="ISO"):
        usage(store, ["model"], since="yesterday")


# A model name any tenant's sender may choose: clear the screen, paint red, set the window title, ring, then
# NUL, a new line, C1's CSI and DEL.
HOSTILE_MODEL = "gpt-4o\x1b[2J\x1b[31mFAKE\x1b]0;pwned\x07\x00\n\x9b\x7f"


def test_the_table_shows_each_control_character_as_its_escape(store: Store, tenant: str) -> None:
    spans = [LlmCall("u:ctl", model=HOSTILE_MODEL, cost_usd=0.01).span()]
    store.ingest_traces(traces_request([SessionBatch(QUEEN, spans)]), tenant=tenant)
    report = usage(store, ["model"], tenant=tenant)
    assert [row["model"] for row in report.rows] == [HOSTILE_MODEL]  # stored and answered as sent
    columns = ["model", *MEASURES]
    table = render_table(columns, [[row[c] for c in columns] for row in report.rows])
    lines = table.split("\n")
    assert len(lines) == 3  # header, rule, the one row
    assert not [ch for line in lines for ch in line if unicodedata.category(ch) == "Cc"]
    assert lines[2].startswith(r"gpt-4o\x1b[2J\x1b[31mFAKE\x1b]0;pwned\x07\x00\n\x9b\x7f ")
    assert cell(HOSTILE_MODEL) == HOSTILE_MODEL  # CSV quotes the value as stored


def test_the_table_shows_invisible_reordering_characters_as_escapes() -> None:
    """A right-to-left override or a zero-width space printed raw made the table show another name."""
    spoof = "gpt-4o\u202einiм\u200b\u2028x"
    assert render_table(["model"], [[spoof]]).split("\n")[2] == r"gpt-4o\u202einiм\u200b\u2028x"


@pytest.fixture
def asked() -> list[dict]:
    """The documents the owner below received."""
    return []


@pytest.fixture
def owner(store: Store, asked: list[dict]) -> Iterator[str]:
    """A minimal server side of the usage contract (by parameters), the way the collector's HTTP receiver serves it."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert self.path == USAGE_PATH
            doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(doc)
            report = usage(store, doc["group_by"], doc["since"], doc["until"], doc["tenant"], filters=doc.get("filters"))
            body = json.dumps(report.as_dict()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_usage_through_the_owner_equals_usage_on_the_store(store: Store, loaded: str, owner: str) -> None:
    remote = usage(RemoteStore(owner), ["model", "day"], tenant=loaded)
    local = usage(store, ["model", "day"], tenant=loaded)
    assert remote.as_dict() == local.as_dict()


def test_a_set_of_sessions_travels_to_the_owner_as_a_list(store: Store, loaded: str, owner: str, asked: list[dict]) -> None:
    """A list, where a collector took only strings: one older than the set refuses it (400, "filter session:
    expected a string value, got list", a ValueError here), rather than answer for every session."""
    batch = SessionBatch(Session("sess-u2", "sess-u1", parent="sess-u1"), [LlmCall("u:s2", input_tokens=7).span()])
    store.ingest_traces(traces_request([batch]), tenant=loaded)
    filters = {"session": ["sess-u2", "sess-u1"], "model": "gpt-4o"}
    remote = usage(RemoteStore(owner), ["session"], tenant=loaded, filters=filters)
    assert asked[-1]["filters"] == {"model": "gpt-4o", "session": ["sess-u1", "sess-u2"]}
    assert remote.as_dict() == usage(store, ["session"], tenant=loaded, filters=filters).as_dict()
    assert [(row["session"], row["llm_calls"]) for row in remote.rows] == [("sess-u1", 2), ("sess-u2", 1)]
