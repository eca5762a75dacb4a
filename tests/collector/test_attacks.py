"""Attacks on the collector's local API and store, each a test that fails if the attack works.

A real collector (Collector over HTTP on 127.0.0.1) on a real chDB store. The SQL console
(``POST /hive/v1/query``, ``hive-otel sql``) must not read files, fetch URLs, write files, run a
second statement or serve a browser; one caller's failed query must leave nothing for the next.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, StoreError
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

CANARY = "hive-otel-canary-7f3a"


@pytest.fixture
def collector(store: Store) -> Iterator[Collector]:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as server:
        yield server


def _post(collector: Collector, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _sql(collector: Collector, store: Store, sql: str, **headers: str) -> tuple[int, str]:
    sent = {"Content-Type": "application/json", "Authorization": f"Bearer {store.admin_token}"}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return _post(collector, "/hive/v1/query", json.dumps({"sql": sql}).encode(), sent)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(CANARY)
    return path


def test_the_console_runs_a_plain_select(collector: Collector, store: Store) -> None:
    status, body = _sql(collector, store, "/* a comment */ SELECT count() AS n FROM usage_facts FINAL -- and another")
    assert status == 200, body
    assert json.loads(body)["columns"] == ["n"]


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT * FROM file('{canary}', 'LineAsString')",
        "SELECT file('{canary}')",
        "SELECT FiLe('{canary}')",
        "SELECT 1 WHERE 1 IN (SELECT * FROM file('{canary}', 'LineAsString'))",
        "WITH x AS (SELECT * FROM file('{canary}', 'LineAsString')) SELECT * FROM x",
        "SELECT * FROM url('http://127.0.0.1:9/{canary}', 'LineAsString')",
        "SELECT * FROM s3('http://127.0.0.1:9/b/{canary}')",
        "SELECT * FROM remote('127.0.0.1:9', default, usage_facts)",
        "SELECT * FROM mysql('127.0.0.1:9', 'd', 't', 'u', 'p')",
        "SELECT * FROM postgresql('127.0.0.1:9', 'd', 't', 'u', 'p')",
        "SELECT * FROM executable('cat {canary}', 'LineAsString', 'x String')",
        "SELECT * FROM hdfs('hdfs://127.0.0.1:9/{canary}', 'LineAsString')",
        "SELECT * FROM jdbc('x', 'y', 'z')",
        "SELECT * FROM odbc('x', 'y', 'z')",
        "SELECT * FROM input('x String')",
        "SELECT * FROM Python(x)",
        "SELECT * FROM system.users",
        "SELECT query FROM `system`.query_log",
        "SELECT * FROM information_schema.tables",
        "SELECT getSetting('readonly')",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT 1 FORMAT Native",
        "-- a comment first\nSELECT '{canary}' INTO OUTFILE '{canary}.out'",
        "/* a comment first */ SELECT '{canary}' INTO OUTFILE '{canary}.out' TRUNCATE",
        "SELECT 1; SELECT * FROM file('{canary}', 'LineAsString')",
        "SELECT * APPLY(file) FROM (SELECT '{canary}' AS p)",  # APPLY hides its function from EXPLAIN AST
        "SELECT * APPLY(x -> file(x)) FROM (SELECT '{canary}' AS p)",
        "SELECT COLUMNS('p') APPLY(sleep) FROM (SELECT 1 AS p)",
        "SELECT arrayMap(file, ['{canary}'])",  # a function passed by name
        "SELECT * REPLACE(file('{canary}') AS p) FROM (SELECT 1 AS p)",
        "SELECT 'UTC' IN system.time_zones",  # `x IN table` names a table without FROM
        "SELECT 1 WHERE 'x' NOT IN `system`.users",
        "SELECT length(groupArray(number)) FROM numbers(400000000)",  # ~3 GB: over the console's memory cap
        "SELECT 1; DROP TABLE usage_facts",
        "DROP TABLE usage_facts",
        "INSERT INTO usage_facts SELECT * FROM usage_facts",
        "SYSTEM SHUTDOWN",
        "SHOW TABLES",
    ],
)
def test_each_attack_through_the_console_is_refused(collector: Collector, store: Store, canary: Path, attack: str) -> None:
    status, body = _sql(collector, store, attack.format(canary=canary))
    assert status == 400, body
    assert CANARY not in body
    assert not Path(f"{canary}.out").exists()
    assert store.query("SELECT count() FROM system.tables WHERE name = 'usage_facts'")[1] == [[1]]


def test_a_result_past_the_consoles_byte_cap_is_refused_before_python_reads_it(collector: Collector, store: Store) -> None:
    """128 MB of 1 KB strings, under the row cap, is refused with ClickHouse's reason in a second or so, instead
    of being parsed and sent whole (999,999 spans of a 2M-span store took the collector to 5.4 GB of
    memory); the console then serves a small result as before."""
    # A constant column too: ClickHouse counts its bytes once per block unless it is materialized.
    for sql in ("SELECT repeat(toString(number % 10), 1024) AS s FROM numbers(131072)",
                "SELECT repeat('x', 1024) AS s FROM numbers(131072)"):  # fmt: skip
        started = time.monotonic()
        status, body = _sql(collector, store, sql)
        assert status == 400, body[:200]
        assert "TOO_MANY_ROWS_OR_BYTES" in body
        assert time.monotonic() - started < 10
    status, body = _sql(collector, store, "SELECT repeat('x', 1024) AS s, number AS `a (b)` FROM numbers(1000)")
    assert status == 200, body[:200]
    answer = json.loads(body)
    assert len(answer["rows"]) == 1000 and answer["columns"] == ["s", "a (b)"]  # the names as the statement wrote them


def test_the_store_console_refuses_the_same(store: Store, canary: Path) -> None:
    """`hive-otel sql` on an unowned store runs Store.console_query: the same policy."""
    with pytest.raises(ValueError, match="not allowed"):
        store.console_query(f"SELECT file('{canary}')")
    with pytest.raises(ValueError, match="only one SELECT"):
        store.console_query(f"-- x\nSELECT 1 INTO OUTFILE '{canary}.out'")
    assert not Path(f"{canary}.out").exists()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": ""}, 401),  # no token, even on loopback and without a tokens file
        ({"Authorization": "Bearer not-the-admin-token"}, 401),
        ({"Content-Type": "text/plain"}, 415),  # a browser form posts text/plain without a preflight
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "evil.example:4318"}, 403),  # DNS rebinding: a foreign name resolving to 127.0.0.1
    ],
)
def test_the_console_serves_only_an_admin_token_from_a_local_tool(
    collector: Collector, store: Store, headers: dict[str, str], status: int
) -> None:
    sent = {"Content-Type": "application/json", "Authorization": f"Bearer {store.admin_token}", **headers}
    sent = {k: v for k, v in sent.items() if v}
    code, body = _post(collector, "/hive/v1/query", b'{"sql": "SELECT 1"}', sent)
    assert code == status, body


def test_the_local_admin_token_is_readable_by_the_store_owner_only(store: Store, collector: Collector) -> None:
    from hive_otel.collector.store.transport import ADMIN_TOKEN_FILE, read_admin_token

    path = Path(store.url.removeprefix("chdb://"))
    assert read_admin_token(path) == store.admin_token
    assert (path / ADMIN_TOKEN_FILE).stat().st_mode & 0o777 == 0o600


# --- one failed query leaves nothing for the next caller ------------------------------------------


def _spans(session: Session, calls: int) -> bytes:
    llm = [LlmCall(f"{session.session}:n:{i}", model="gpt-4o", input_tokens=100 + i) for i in range(calls)]
    return traces_request([SessionBatch(session, [c.span() for c in llm])]).SerializeToString()


def test_a_failed_query_does_not_corrupt_another_tenants_read_or_ingest(
    collector: Collector, store: Store, tenant: str
) -> None:
    # Tenant A's query fails after it produced output (chDB used to put that output in front of the
    # next result, so B's next read was garbage and B's ingest failed).
    failing = "SELECT number, throwIf(number = 5000) FROM numbers(100000) SETTINGS max_block_size = 10"
    for _ in range(2):
        with pytest.raises(StoreError):
            store.query(failing)
        status, body = _sql(collector, store, "SELECT number, throwIf(number = 5000) AS x FROM numbers(100000)")
        assert status == 400, body
        assert store.query("SELECT 42 AS answer") == (["answer"], [[42]])
        with pytest.raises(StoreError):
            store._transport.query_arrow(failing)  # the Arrow output of a failed query, too
        status, _ = _post(
            collector, "/v1/traces", _spans(Session(f"{tenant}-s", f"{tenant}-s"), 3),
            {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant},
        )  # fmt: skip
        assert status == 200
    report = usage(store, ["model"], tenant=tenant)
    assert report.totals["llm_calls"] == 3
    assert report.totals["input_tokens"] == 100 + 101 + 102


def test_an_export_waits_less_than_the_exporters_timeout_behind_a_long_console_statement(
    collector: Collector, store: Store, tenant: str
) -> None:
    """The embedded store runs one statement at a time, so an export waits for a console statement: the
    console stops it after 5 s, and the export is stored within the OTLP client's 10 s timeout (with
    the console's 60 s, a 1-span export took 9.26 s behind a 10 s statement, and longer behind a longer one)."""
    outcome: list[tuple[int, str]] = []
    endless = "SELECT sum(cityHash64(number)) AS s FROM numbers(1000000000000)"
    console = threading.Thread(target=lambda: outcome.append(_sql(collector, store, endless)))
    console.start()
    time.sleep(1)  # the statement is running
    started = time.monotonic()
    status, _ = _post(
        collector, "/v1/traces", _spans(Session(f"{tenant}-s", f"{tenant}-s"), 1),
        {"Content-Type": "application/x-protobuf", "x-hive-tenant-id": tenant},
    )  # fmt: skip
    waited = time.monotonic() - started
    console.join()
    assert status == 200
    assert waited < 8
    assert outcome[0][0] == 400
    assert "TIMEOUT_EXCEEDED" in outcome[0][1] or "TOO_SLOW" in outcome[0][1], outcome[0][1]


def _request(collector: Collector, method: str, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=30)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {"Origin": "http://evil.example"}),  # a page in the user's browser
        ("DELETE", {"Origin": "http://evil.example"}),
        ("GET", {"Host": "evil.example"}),  # a DNS-rebinding page: same origin under a foreign name
        ("DELETE", {"Host": "evil.example:4318"}),
    ],
)
def test_the_api_without_tokens_serves_no_web_page(collector: Collector, method: str, headers: dict[str, str]) -> None:
    assert _request(collector, "GET", "/api/quotas/some-tenant", {}) == 200  # a local tool is served
    assert _request(collector, method, "/api/quotas/some-tenant", headers) == 403
