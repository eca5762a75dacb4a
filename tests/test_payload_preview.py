"""``hive-otel doctor --show-payload``: one session's redacted payload as OTLP/JSON, nothing sent.

The Hive home is written by the real aden-hive runtime pieces with secret canaries in tool inputs
and results, LLM text, error messages and file paths; the preview runs the real client pipeline.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from devtools.workload import CANARIES, WorkloadTruth, write_workload
from hive_otel import attributes as A
from hive_otel.cli import run
from hive_otel.client.preview import preview_session
from hive_otel.settings import ClientSettings


@pytest.fixture(scope="module")
def canary_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth]:
    home = tmp_path_factory.mktemp("preview_home")
    return home, write_workload(home, queens=1, colonies=1, workers_per_colony=2, turns_per_session=3, canaries=True)


def _attributes(item: dict) -> dict[str, object]:
    return {kv["key"]: next(iter(kv["value"].values()), None) for kv in item.get("attributes", [])}


def _chat_spans(document: dict) -> list[tuple[dict, dict]]:
    """(resource attributes, span) of every LLM call span in the preview."""
    out = []
    for request in document["requests"]:
        for resource_spans in request["body"].get("resourceSpans", []):
            resource = _attributes(resource_spans["resource"])
            for scope in resource_spans["scopeSpans"]:
                out.extend((resource, span) for span in scope["spans"] if span["name"].split(" ")[0] == "chat")
    return out


def test_show_payload_prints_one_redacted_session_and_sends_nothing(
    canary_home: tuple[Path, WorkloadTruth], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    home, truth = canary_home
    raw = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert all(canary.encode() in raw for canary in CANARIES)  # the secrets are there to leak
    # An endpoint that would notice a connection, and a state dir that would get an outbox.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        monkeypatch.setenv("HIVE_OTEL_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        monkeypatch.setenv("HIVE_OTEL_STATE_DIR", str(tmp_path / "state"))
        assert run(["doctor", "--show-payload", "--hive-home", str(home)]) == 0
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert not (tmp_path / "state").exists() and not (home / "otel").exists()

    out = capsys.readouterr()
    assert not any(canary in out.out for canary in CANARIES)
    document = json.loads(out.out)
    assert "nothing sent" in out.err
    # a graph agent's run (the newest here) has only run logs: spans, no status records
    has_events = truth.sessions[document["session"]].events_path is not None
    assert {r["signal"] for r in document["requests"]} == {"traces", "metrics"} | ({"logs"} if has_events else set())
    chats = _chat_spans(document)
    assert chats, "a chat span"
    resource, span = chats[0]
    assert resource[A.HIVE_SCHEMA_VERSION] == A.SCHEMA_VERSION
    assert _attributes(span)[A.GEN_AI_OPERATION_NAME] == A.OP_CHAT
    assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16  # OTLP/JSON hex ids
    # The most recent session of the workload, and only the calls its files hold.
    session = document["session"]
    own_calls = {_attributes(s)[A.HIVE_CALL_KEY] for r, s in chats if r[A.HIVE_SESSION_ID] == session}
    assert len(own_calls) == sum(1 for call in truth.llm_calls if call.session_id == session)


def test_show_payload_for_a_named_session(canary_home: tuple[Path, WorkloadTruth], capsys) -> None:
    home, truth = canary_home
    worker = next(s for s, t in truth.sessions.items() if t.agent_role == A.ROLE_WORKER)
    assert run(["doctor", "--show-payload", "--hive-home", str(home), "--session", worker]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["session"] == worker
    assert {r[A.HIVE_SESSION_ID] for r, _ in _chat_spans(document)} == {worker}

    assert run(["doctor", "--show-payload", "--hive-home", str(home), "--session", "no-such-session"]) == 2
    assert "no records of session 'no-such-session'" in capsys.readouterr().err


def test_the_encoded_requests_hold_no_canary(canary_home: tuple[Path, WorkloadTruth]) -> None:
    """The protobuf bytes themselves, not only their JSON rendering, are clean."""
    home, _ = canary_home
    preview = preview_session(ClientSettings.from_env({"HIVE_HOME": str(home)}))
    assert preview.records and preview.requests
    assert not any(canary.encode() in body for _, body in preview.requests for canary in CANARIES)
