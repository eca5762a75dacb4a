"""Tenant auth on the real receiver and store (chDB), over real sockets on 127.0.0.1.

With a tokens file the token alone decides the tenant (the payload's ``hive.tenant.id`` and the
``x-hive-tenant-id`` header are overwritten), a request without a known token gets 401 /
UNAUTHENTICATED with nothing stored, and usage reads are confined to the token's tenant. Without a
tokens file the collector is single-tenant and will not listen beyond loopback.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from hive_otel.cli import run
from hive_otel.collector.auth.tokens import TokenTable, add_token, hash_token
from hive_otel.collector.config import HostPort, ReceiverConfig
from hive_otel.collector.queries.remote import RemoteStore
from hive_otel.collector.queries.status import recent_sessions
from hive_otel.collector.queries.usage import usage
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store, StoreError
from hive_otel.environment_variables import HIVE_OTEL_COLLECTOR_TOKENS
from hive_otel.settings import SettingsError
from tests.collector.otlp_builders import LlmCall, Session, SessionBatch, traces_request

TOKEN_A = "token-of-tenant-a-7f3c9e21b5d84a06"
TOKEN_B = "token-of-tenant-b-1e0d6c4f8a2b9357"
TOKEN_ADMIN = "token-of-the-operator-5b7e2c91d04f"
TENANT_A, TENANT_B = "tenancy-a", "tenancy-b"


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    add_token(path, TOKEN_A, TENANT_A, label="team a")
    add_token(path, TOKEN_B, TENANT_B)
    add_token(path, TOKEN_ADMIN, "tenancy-ops", admin=True)
    return path


@pytest.fixture
def collector(store: Store, tokens_file: Path) -> Iterator[Collector]:
    tokens = TokenTable.load(tokens_file)
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1, tokens=tokens) as server:
        yield server


def _spans(session_id: str, payload_tenant: str, calls: int = 2) -> trace_service_pb2.ExportTraceServiceRequest:
    session = Session(session_id, session_id, tenant=payload_tenant)
    return traces_request([SessionBatch(session, [LlmCall(f"{session_id}:llm:{i}").span() for i in range(calls)])])


def _post(server: Collector, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.ports.http, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _post_traces(server: Collector, request: object, **headers: str) -> tuple[int, dict[str, str], bytes]:
    body = request.SerializeToString()  # type: ignore[attr-defined]
    return _post(server, "/v1/traces", body, {"Content-Type": "application/x-protobuf", **headers})


def _grpc_traces(server: Collector, request: object, metadata: list[tuple[str, str]]) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, metadata=metadata, timeout=30)


def _tenants_of_session(store: Store, session_id: str) -> dict[str, set[str]]:
    """Which tenants the rows of one session landed under, table by table."""
    out = {}
    for table, tenant, session in (
        ("otel_traces", "ResourceAttributes['hive.tenant.id']", "ResourceAttributes['hive.session.id']"),
        ("usage_facts FINAL", "tenant", "session"),
        ("agent_sessions", "tenant", "session"),
    ):
        _, rows = store.query(f"SELECT DISTINCT {tenant} FROM {table} WHERE {session} = '{session_id}'")
        out[table.split()[0]] = {row[0] for row in rows}
    return out


# --- writes ----------------------------------------------------------------------------------------


def test_the_token_decides_the_tenant_over_payload_and_header(collector: Collector, store: Store) -> None:
    # Tenant A's token, a payload claiming B, and the old tenant header claiming B as well.
    status, _, body = _post_traces(
        collector, _spans("tenancy-http", TENANT_B), authorization=f"Bearer {TOKEN_A}", **{"x-hive-tenant-id": TENANT_B}
    )
    assert status == 200, body
    _grpc_traces(
        collector,
        _spans("tenancy-grpc", TENANT_B),
        [("authorization", f"Bearer {TOKEN_A}"), ("x-hive-tenant-id", TENANT_B)],
    )
    for session_id in ("tenancy-http", "tenancy-grpc"):
        assert _tenants_of_session(store, session_id) == {
            "otel_traces": {TENANT_A},
            "usage_facts": {TENANT_A},
            "agent_sessions": {TENANT_A},
        }
    _, rows = store.query(f"SELECT count() FROM usage_facts FINAL WHERE tenant = '{TENANT_B}'")
    assert rows == [[0]]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing_token"),
        ("Basic dXNlcjpwYXNz", "malformed_token"),
        ("Bearer ", "malformed_token"),
        ("Bearer not-a-known-token-0123456789", "unknown_token"),
        (f"Bearer {TOKEN_A}x", "unknown_token"),
    ],
)
def test_http_without_a_known_token_is_401_and_stores_nothing(
    collector: Collector, store: Store, caplog: pytest.LogCaptureFixture, authorization: str | None, reason: str
) -> None:
    session_id = f"tenancy-401-{reason}-{len(authorization or '')}"
    headers = {"authorization": authorization} if authorization is not None else {}
    with caplog.at_level(logging.WARNING, logger="hive_otel.collector.receiver.receiver"):
        status, response_headers, body = _post_traces(
            collector, _spans(session_id, TENANT_A), **headers, **{"x-hive-tenant-id": TENANT_A}
        )
    assert status == 401
    assert response_headers["www-authenticate"].startswith("Bearer")
    status_body = status_pb2.Status.FromString(body)  # OTLP/HTTP's error body
    assert status_body.code == grpc.StatusCode.UNAUTHENTICATED.value[0] and "token" in status_body.message.lower()
    assert _tenants_of_session(store, session_id) == {"otel_traces": set(), "usage_facts": set(), "agent_sessions": set()}
    assert collector.counters()["unauthenticated"] == {reason: 1}
    assert collector.counters()["items_accepted"] == {}
    assert reason in caplog.text and "refused unauthenticated" in caplog.text
    assert TOKEN_A not in caplog.text and "not-a-known-token" not in caplog.text  # the log never holds a token


def test_grpc_without_a_known_token_is_unauthenticated_and_stores_nothing(
    collector: Collector, store: Store
) -> None:
    for metadata in ([], [("authorization", "Bearer wrong-token-0123456789abcdef")]):
        with pytest.raises(grpc.RpcError) as error:
            _grpc_traces(collector, _spans("tenancy-grpc-401", TENANT_A), [*metadata, ("x-hive-tenant-id", TENANT_A)])
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _tenants_of_session(store, "tenancy-grpc-401")["otel_traces"] == set()
    assert collector.counters()["unauthenticated"] == {"missing_token": 1, "unknown_token": 1}


# --- reads -----------------------------------------------------------------------------------------


def _usage(collector: Collector, token: str | None, **body: object) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    status, _, raw = _post(collector, "/hive/v1/usage", json.dumps({"group_by": ["session"], **body}).encode(), headers)
    return status, json.loads(raw)


def test_a_tenant_reads_its_own_usage_and_never_another_tenants(collector: Collector) -> None:
    assert _post_traces(collector, _spans("tenancy-read-a", TENANT_A, 3), authorization=f"Bearer {TOKEN_A}")[0] == 200
    assert _post_traces(collector, _spans("tenancy-read-b", TENANT_B, 5), authorization=f"Bearer {TOKEN_B}")[0] == 200

    status, report_b = _usage(collector, TOKEN_B)
    assert status == 200
    assert [row["session"] for row in report_b["rows"]] == ["tenancy-read-b"]
    assert report_b["totals"]["llm_calls"] == 5

    status, report_a = _usage(collector, TOKEN_A)
    assert status == 200 and "tenancy-read-b" not in {row["session"] for row in report_a["rows"]}

    status, refusal = _usage(collector, TOKEN_A, tenant=TENANT_B)
    assert status == 403 and TENANT_A in refusal["error"]
    assert _usage(collector, None)[0] == 401
    assert _usage(collector, "not-a-known-token-0123456789")[0] == 401

    status, report = _usage(collector, TOKEN_ADMIN, tenant=TENANT_B)  # the operator may read any tenant
    assert status == 200 and report == report_b


def test_remote_usage_and_status_are_asked_by_parameters_and_narrowed_to_the_token(
    collector: Collector, store: Store
) -> None:
    """`hive-otel usage` and `status` against a collector: a tenant token (no SQL console for it) gets
    its own tenant's answers, equal to the store's own, and a 403 for another tenant."""
    assert _post_traces(collector, _spans("tenancy-remote-a", TENANT_A, 2), authorization=f"Bearer {TOKEN_A}")[0] == 200
    assert _post_traces(collector, _spans("tenancy-remote-b", TENANT_B, 1), authorization=f"Bearer {TOKEN_B}")[0] == 200
    remote = RemoteStore(collector.http_url, token=TOKEN_A)
    assert usage(remote, ["session"]).as_dict() == usage(store, ["session"], tenant=TENANT_A).as_dict()
    columns, rows = recent_sessions(remote, None, 50)
    assert (columns, rows) == recent_sessions(store, TENANT_A, 50)
    assert "tenancy-remote-a" in {r[1] for r in rows} and {r[0] for r in rows} == {TENANT_A}
    with pytest.raises(StoreError, match="403"):
        recent_sessions(remote, TENANT_B, 50)
    with pytest.raises(StoreError, match="403"):
        usage(remote, ["session"], tenant=TENANT_B)
    _, rows_b = recent_sessions(RemoteStore(collector.http_url, token=TOKEN_ADMIN), TENANT_B, 50)  # the operator
    assert "tenancy-remote-b" in {r[1] for r in rows_b} and {r[0] for r in rows_b} == {TENANT_B}


def test_sql_needs_an_admin_token_when_tokens_are_in_use(collector: Collector) -> None:
    body = json.dumps({"sql": "SELECT DISTINCT tenant FROM usage_facts FINAL"}).encode()

    def query(token: str | None) -> int:
        headers = {"Content-Type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
        return _post(collector, "/hive/v1/query", body, headers)[0]

    assert query(None) == 401
    assert query(TOKEN_A) == 403  # a tenant token cannot read other tenants' rows through SQL
    assert query(TOKEN_ADMIN) == 200


def test_cli_reads_through_a_token_collector_with_an_admin_token(collector: Collector, monkeypatch) -> None:
    """hive-otel usage/sql/status ask the collector that owns the store, sending HIVE_OTEL_TOKEN."""
    monkeypatch.setenv("HIVE_OTEL_TOKEN", TOKEN_ADMIN)
    columns, _ = RemoteStore(collector.http_url).query("SELECT count() AS n FROM usage_facts FINAL")
    assert columns == ["n"]
    monkeypatch.setenv("HIVE_OTEL_TOKEN", TOKEN_A)
    with pytest.raises(StoreError, match="403"):
        RemoteStore(collector.http_url).query("SELECT 1")


# --- the tokens file and the single-tenant mode -----------------------------------------------------


def test_tokens_file_holds_hashes_only_and_is_validated(tokens_file: Path, tmp_path: Path) -> None:
    text = tokens_file.read_text()
    assert TOKEN_A not in text and hash_token(TOKEN_A) in text
    assert yaml.safe_load(text)["tokens"][0] == {"sha256": hash_token(TOKEN_A), "tenant": TENANT_A, "label": "team a"}
    table = TokenTable.load(tokens_file)
    assert (len(table), table.lookup(TOKEN_A).tenant, table.lookup(TOKEN_ADMIN).admin) == (3, TENANT_A, True)
    assert table.lookup("anything else at all") is None

    with pytest.raises(ValueError, match="already lists"):
        add_token(tokens_file, TOKEN_A, "someone-else")
    with pytest.raises(ValueError, match="shorter than 16"):
        add_token(tokens_file, "short", TENANT_A)
    with pytest.raises(ValueError, match="--tenant"):
        add_token(tokens_file, TOKEN_A + "-new", "no spaces allowed")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tokens": [{"sha256": "not-hex", "tenant": "t"}]}))
    with pytest.raises(SettingsError, match=r"^--tokens .*bad.json: tokens\.0\.sha256"):
        TokenTable.load(bad)
    bad.write_text(json.dumps({"tokens": [{"sha256": hash_token(TOKEN_A), "tenant": "t"}] * 2}))
    with pytest.raises(SettingsError, match="listed twice"):
        TokenTable.load(bad)
    with pytest.raises(SettingsError, match=r"^--tokens .*missing\.yaml: cannot read"):
        ReceiverConfig.from_env({}, tokens=tmp_path / "missing.yaml")
    with pytest.raises(SettingsError, match=rf"^\${HIVE_OTEL_COLLECTOR_TOKENS} .*missing\.yaml: cannot read"):
        ReceiverConfig.from_env({HIVE_OTEL_COLLECTOR_TOKENS: str(tmp_path / "missing.yaml")})
    from_env = ReceiverConfig.from_env({HIVE_OTEL_COLLECTOR_TOKENS: str(tokens_file)}, tokens=None)
    assert from_env.tokens is not None and from_env.tokens.lookup(TOKEN_B).tenant == TENANT_B


def test_tokens_command_hashes_and_adds_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN_B + "\n"))
    assert run(["tokens", "hash"]) == 0
    assert capsys.readouterr().out == hash_token(TOKEN_B) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("short-token\n"))  # a hash added by hand must be as strong
    assert run(["tokens", "hash"]) == 2
    assert capsys.readouterr() == ("", "hive-otel tokens hash: the token is shorter than 16 characters; "
                                   "`hive-otel tokens add --generate` makes a strong one\n")  # fmt: skip

    path = tmp_path / "tokens.json"
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN_B + "\n"))
    assert run(["tokens", "add", "--tenant", TENANT_B, "--file", str(path)]) == 0
    assert capsys.readouterr().out == ""  # a token read from stdin is never echoed
    assert json.loads(path.read_text()) == {"tokens": [{"sha256": hash_token(TOKEN_B), "tenant": TENANT_B}]}

    assert run(["tokens", "add", "--tenant", "ops", "--admin", "--generate", "--file", str(path)]) == 0
    generated = capsys.readouterr().out.strip()
    grant = TokenTable.load(path).lookup(generated)
    assert grant is not None and (grant.tenant, grant.admin) == ("ops", True)
    assert generated not in path.read_text()


def test_without_tokens_the_collector_refuses_to_listen_beyond_loopback(
    store: Store, tokens_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag, address in (("--grpc", "0.0.0.0:0"), ("--http", "10.1.2.3:0"), ("--http", "[::]:0")):
        with pytest.raises(SettingsError, match=f"^{flag} .*without --tokens FILE"):
            Collector(store, **{"grpc_addr" if flag == "--grpc" else "http_addr": address})
    assert run(["collector", "--store", "chdb:///nonexistent/never-opened", "--http", "0.0.0.0:4318"]) == 2
    assert "--http 0.0.0.0:4318: without --tokens FILE" in capsys.readouterr().err
    # Loopback in any spelling is fine, and with tokens any address is.
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        ReceiverConfig(http_endpoint=HostPort(host, 0))
    ReceiverConfig(http_endpoint=HostPort("0.0.0.0", 0), tokens=TokenTable.load(tokens_file))


def test_without_tokens_the_tenant_is_local_or_the_header(store: Store) -> None:
    with Collector(store, "127.0.0.1:0", "127.0.0.1:0", shutdown_grace_s=1) as server:
        assert _post_traces(server, _spans("tenancy-local", "payload-tenant"))[0] == 200
        assert _post_traces(server, _spans("tenancy-labelled", "payload-tenant"), **{"x-hive-tenant-id": "lab"})[0] == 200
    assert _tenants_of_session(store, "tenancy-local")["usage_facts"] == {"local"}
    assert _tenants_of_session(store, "tenancy-labelled")["usage_facts"] == {"lab"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"group_by": ["model"], "filters": {"model": 123}}',
        b'{"group_by": ["model"], "filters": {"model": null}}',
        b'{"group_by": ["model"], "filters": {"model": ["gpt-4o"]}}',
        b'{"group_by": ["model"], "filters": {"": "gpt-4o"}}',
        b'{"group_by": ["model"], "filters": {"hour": "garbage"}}',
        b'{"group_by": ["model"], "filters": ["model"]}',
        b'{"group_by": ["model"], "since": "now-9999999999d"}',
        b'{"group_by": ["model"], "since": "now-100000000w"}',
        b'{"group_by": ["model"], "since": "now-99999999999999999999999M"}',
        b'{"group_by": ["model"], "since": "9999-12-31T23:59:59.999999-23:59"}',
        b"[" * 100_000,
    ],
)
def test_tenant_input_that_failed_as_a_500_is_a_400_with_its_reason(collector: Collector, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "authorization": f"Bearer {TOKEN_B}"}
    status, _, raw = _post(collector, "/hive/v1/usage", body, headers)
    assert status == 400, raw
    assert json.loads(raw)["error"]


def test_usage_filters_are_read_as_the_keys_they_name(collector: Collector) -> None:
    assert _post_traces(collector, _spans("tenancy-filters", TENANT_B, 2), authorization=f"Bearer {TOKEN_B}")[0] == 200
    status, report = _usage(collector, TOKEN_B, filters={" session ": "tenancy-filters"})  # trimmed, as group_by is
    assert status == 200 and report["totals"]["llm_calls"] == 2
    _, days = _usage(collector, TOKEN_B, group_by=["day"], filters={"session": "tenancy-filters"})
    (day,) = [row["day"] for row in days["rows"]]
    status, by_day = _usage(collector, TOKEN_B, group_by=["session"], filters={"day": day})  # a time key's value: an instant
    assert status == 200 and "tenancy-filters" in {row["session"] for row in by_day["rows"]}


def test_a_status_limit_past_what_a_read_lists_is_a_400(collector: Collector) -> None:
    headers = {"Content-Type": "application/json", "authorization": f"Bearer {TOKEN_B}"}
    status, _, raw = _post(collector, "/hive/v1/status", json.dumps({"limit": 10**30}).encode(), headers)
    assert status == 400 and "limit must be between 1 and 100000" in json.loads(raw)["error"]


def test_a_request_that_fails_inside_the_collector_is_counted_and_the_next_one_served(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug, injected (none is left to trigger on purpose): the caller gets a 500, /healthz counts it
    by route, and the collector goes on."""

    def broken(*_: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr("hive_otel.collector.receiver.otlp_http.recent_sessions", broken)
    headers = {"Content-Type": "application/json", "authorization": f"Bearer {TOKEN_B}"}
    assert _post(collector, "/hive/v1/status", b"{}", headers)[0] == 500
    # Starlette answers the 500, then re-raises to the port's dispatch, which counts it: a moment later.
    deadline = time.monotonic() + 10
    while not collector.counters()["server_errors"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert collector.counters()["server_errors"] == {"/hive/v1/status": 1}
    monkeypatch.undo()
    assert _post(collector, "/hive/v1/status", b"{}", headers)[0] == 200
