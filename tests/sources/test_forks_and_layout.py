"""Forks counted once and run logs found wherever aden-hive 1.0.12 writes them, through the real
FileTailer and EventMapper, on homes written by Hive's own functions (devtools.workload)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from framework.host.event_bus import EventBus

from devtools.workload import WorkloadTruth, write_workload
from hive_otel import attributes as A
from hive_otel.client.mapping.context import ResourceFactory
from hive_otel.client.mapping.mapper import EventMapper
from hive_otel.client.mapping.telemetry import LogRecord
from hive_otel.client.sources.checkpoints import Checkpoints
from hive_otel.client.sources.files import FileTailer
from hive_otel.client.sources.layout import SafeHome, discover
from hive_otel.client.sources.live import instrument as live_instrument
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext
from hive_otel.settings import ClientSettings

Identity = tuple[bytes, bytes, str, str, str]  # trace id, span id, session, root session, colony


def _calls(home: Path, state: Path) -> dict[str, list[Identity]]:
    """Every call one backfill pass maps, by call key, with the identity it is exported under."""
    tailer = FileTailer(home, Checkpoints(state))
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    spans = []
    for record in tailer.poll():
        spans.extend(mapper.map(record, 0).spans)
    spans.extend(mapper.flush().spans)
    tailer.commit()
    tailer.close()
    out: dict[str, list[Identity]] = {}
    for span in spans:
        key = span.attributes.get(A.HIVE_CALL_KEY)
        if key:
            r = dict(span.resource.attributes)
            ident = (
                span.trace_id,
                span.span_id,
                r[A.HIVE_SESSION_ID],
                r[A.HIVE_ROOT_SESSION_ID],
                r.get(A.HIVE_COLONY_ID, ""),
            )
            out.setdefault(str(key), []).append(ident)
    return out


@pytest.fixture(scope="module")
def forked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth, dict[str, Identity]]:
    """A forked home and every call's identity when the whole home is read at once."""
    home = tmp_path_factory.mktemp("forked") / "home"
    truth = write_workload(home, queens=1, colonies=1, workers_per_colony=1, turns_per_session=3, forks=2, seed=4)
    whole = _calls(home, tmp_path_factory.mktemp("state"))
    assert all(len(set(v)) == 1 for v in whole.values())  # a call read in several files: one identity
    return home, truth, {k: v[0] for k, v in whole.items()}


def test_each_call_once_under_its_origin(forked) -> None:
    _, truth, whole = forked
    assert len(whole) == len(truth.llm_calls) + len(truth.tool_calls)
    by_session = sorted((session, root, colony or None) for _, _, session, root, colony in whole.values())
    truth_calls = [*truth.llm_calls, *truth.tool_calls]
    assert by_session == sorted((c.session_id, c.root_session_id, c.colony_id) for c in truth_calls)


def _origin_dir(truth: WorkloadTruth) -> Path:
    return next(s for s in truth.sessions.values() if s.kind == "dm").session_dir


def test_a_fork_read_without_its_origin_keeps_the_origin_identity(forked, tmp_path: Path) -> None:
    home, truth, whole = forked
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    shutil.rmtree(copy / _origin_dir(truth).relative_to(home))  # the origin deleted after forking
    alone = _calls(copy, tmp_path / "state")
    assert alone and set(alone) == set(whole)  # every origin call was copied into the first fork
    assert {k: v[0] for k, v in alone.items()} == whole


def test_a_fork_read_before_its_origin_in_another_backfill_changes_nothing(forked, tmp_path: Path) -> None:
    home, truth, whole = forked
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    origin = copy / _origin_dir(truth).relative_to(home)
    origin.rename(tmp_path / "away")
    first = _calls(copy, tmp_path / "state")  # forks, colony and workers first
    (tmp_path / "away").rename(origin)
    second = _calls(copy, tmp_path / "state")  # then the origin, from the same checkpoints
    assert second  # the origin's own lines are new to this pass
    for key, idents in (*first.items(), *second.items()):
        assert set(idents) == {whole[key]}
    assert set(first) | set(second) == set(whole)


def test_a_fork_read_while_hive_writes_it_keeps_each_copied_call_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fork_session_dir writes the copied events.jsonl first and the meta.json naming the origin last.
    A watch that polls in between reads the copied lines with no lineage; they must still be keyed by
    the session that wrote them (their execution id), or each copied call is counted again."""
    from framework.server import session_fork

    home = tmp_path / "home"
    truth = write_workload(home, queens=1, colonies=0, turns_per_session=3, seed=7)
    origin = _origin_dir(truth)
    tailer = FileTailer(home, Checkpoints(tmp_path / "state"))
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    spans = []

    def poll() -> None:
        for record in tailer.poll():
            spans.extend(mapper.map(record, 0).spans)

    poll()  # the origin, as a watch that started first has read it
    write_meta = session_fork._write_meta
    polled_mid_fork = []

    def meta_after_a_poll(src: Path, dst: Path, before_input_at: str | None) -> None:
        assert (dst / "events.jsonl").exists() and not (dst / "meta.json").exists()
        before = len(spans)
        poll()  # the copied lines, before the fork's meta.json exists
        polled_mid_fork.append(len(spans) - before)
        write_meta(src, dst, before_input_at)

    monkeypatch.setattr(session_fork, "_write_meta", meta_after_a_poll)
    fork = session_fork.fork_session_dir(origin, "session_20260115_120000_f0f0f0f0")
    poll()
    spans.extend(mapper.flush().spans)
    tailer.close()

    assert polled_mid_fork and polled_mid_fork[0] > 0  # the race was really taken
    keyed = [s for s in spans if s.attributes.get(A.HIVE_CALL_KEY)]
    assert len({s.attributes[A.HIVE_CALL_KEY] for s in keyed}) == len(truth.llm_calls) + len(truth.tool_calls)
    sessions = {dict(s.resource.attributes)[A.HIVE_SESSION_ID] for s in keyed}
    assert fork.name not in sessions and origin.name in sessions


LogKey = tuple[str, int, str, int]  # session, seq, event type, time: one Hive event


def _log_identity(log: LogRecord) -> tuple[object, ...]:
    """What the store's key of a log record hashes (migration create_otel_logs), the ids included."""
    attributes = tuple(sorted((k, str(v)) for k, v in log.attributes.items()))
    return (log.resource, log.time_ns, log.event_name, log.severity_number, log.body, attributes, log.trace_id, log.span_id)


def _status_logs(home: Path, state: Path) -> dict[LogKey, list[LogRecord]]:
    """Every status log record one backfill pass maps, by the Hive event it stands for."""
    tailer = FileTailer(home, Checkpoints(state))
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    out: dict[LogKey, list[LogRecord]] = {}
    for record in tailer.poll():
        for log in mapper.map(record, 0).logs:
            seq = log.attributes.get(A.HIVE_EVENT_SEQ)
            if isinstance(seq, int):
                session = str(dict(log.resource.attributes)[A.HIVE_SESSION_ID])
                out.setdefault((session, seq, str(log.attributes[A.HIVE_EVENT_TYPE]), log.time_ns), []).append(log)
    tailer.close()
    return out


def test_a_line_in_two_files_is_one_log_record_whichever_is_read(forked, tmp_path: Path) -> None:
    """Hive writes a worker's lifecycle lines to the worker's file and its queen's, and a fork copies its
    origin's: every copy maps to the same record (the store keeps one), also when one file is read alone."""
    home, truth, _ = forked
    whole = _status_logs(home, tmp_path / "whole")
    assert any(len(logs) > 1 for (_, _, event_type, _), logs in whole.items() if event_type == "worker_completed")
    assert all(len({_log_identity(log) for log in logs}) == 1 for logs in whole.values())
    alone = tmp_path / "alone"
    shutil.copytree(home, alone)
    workers = [s for s in truth.sessions.values() if s.kind == "worker"]
    for worker in workers:
        (alone / worker.events_path.relative_to(home)).unlink()  # its lines are left in the queen's file only
    from_queen = _status_logs(alone, tmp_path / "alone-state")
    seen = [key for key in from_queen if key[0] in {w.session_id for w in workers}]
    assert {key[2] for key in seen} >= {"worker_completed", "execution_completed", "subagent_report"}
    for key in seen:
        assert _log_identity(from_queen[key][0]) == _log_identity(whole[key][0]), key


def test_run_logs_are_found_wherever_a_runtime_log_store_put_them(forked) -> None:
    home, truth, _ = forked
    found = {d.rel for d in discover(SafeHome(home))}
    for run in (s for s in truth.sessions.values() if s.kind == "graph"):
        rel = run.logs_dir.relative_to(home).as_posix()
        assert {f"{rel}/tool_logs.jsonl", f"{rel}/details.jsonl", f"{rel}/summary.json"} <= found
    layouts = {rel.split("/sessions/")[0] if "/sessions/" in rel else rel.split("/runs/")[0] for rel in found}
    assert {"agents/deep_research_agent", "agents/deep_research_agent/graphs/deep_research_agent_digest",
            "agents/deep_research_agent/runtime_logs"} <= layouts  # fmt: skip


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_nothing_is_read_through_a_symlink_file_or_folder(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    line = '{"type": "custom", "stream_id": "queen", "data": {"note": "CANARY-outside"}, "seq": 1}\n'
    _write(outside / "events.jsonl", line)
    _write(outside / "logs" / "tool_logs.jsonl", '{"node_id": "n", "step_index": 0, "input_tokens": 5}\n')
    _write(home / "queens" / "q" / "sessions" / "session_real" / "events.jsonl", line.replace("outside", "inside"))
    links = [
        (home / "queens" / "q" / "sessions" / "session_linked_dir", outside),  # a session folder
        (home / "queens" / "q" / "sessions" / "session_file" / "events.jsonl", outside / "events.jsonl"),  # a file
        (home / "agents" / "a" / "sessions" / "session_run" / "logs", outside / "logs"),  # a logs folder
        (home / "agents" / "b", outside),  # a folder higher up
    ]
    for link, target in links:
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    tailer = FileTailer(home, Checkpoints(tmp_path / "state"))
    records = list(tailer.poll())
    assert [r.data["data"]["note"] for r in records] == ["CANARY-inside"]
    assert tailer.counters["files"] == 1 and tailer.counters["read_errors"] == 0  # never listed, so never refused
    # HIVE_HOME itself may be a symlink: what is under it is read
    os.symlink(home, tmp_path / "home-link")
    assert len(list(FileTailer(tmp_path / "home-link", Checkpoints(tmp_path / "state2")).poll())) == 1


def _root_of(mapper: EventMapper, record: HiveRecord) -> str:
    out = mapper.map(record, 1)
    return str(dict(out.logs[0].resource.attributes)[A.HIVE_ROOT_SESSION_ID])


def test_live_events_name_the_chain_whatever_order_sessions_are_seen_in(tmp_path: Path) -> None:
    """colony_created and session_forked on a live bus name children whose own bus has no meta.json yet."""
    mapper = EventMapper(ResourceFactory(), join_window_ns=None)
    dm, fork, colony, worker = "session_dm", "session_fork", "session_colony", "session_worker"
    forked = {"type": "session_forked", "stream_id": "queen", "data": {"new_session_id": fork, "from_session_id": dm}}
    created = {"type": "colony_created", "stream_id": "queen", "data": {"colony_id": "c", "queen_session_id": colony}}
    phase = {"type": "queen_phase_changed", "stream_id": "queen", "data": {"phase": "colony"}}
    worker_event = {"type": "node_loop_started", "stream_id": f"worker:{worker}", "execution_id": worker}
    assert _root_of(mapper, HiveRecord(RecordKind.EVENT, forked, SessionContext(dm, "q"))) == dm
    assert _root_of(mapper, HiveRecord(RecordKind.EVENT, created, SessionContext(fork, "q"))) == dm
    assert _root_of(mapper, HiveRecord(RecordKind.EVENT, phase, SessionContext(colony, "q", "c"))) == dm
    assert _root_of(mapper, HiveRecord(RecordKind.EVENT, worker_event, SessionContext(colony, "q", "c"))) == dm
    made = EventMapper(ResourceFactory(), join_window_ns=None).map(
        HiveRecord(RecordKind.EVENT, created, SessionContext(fork)), 1
    )
    assert {k: made.logs[0].attributes[k] for k in (A.HIVE_CHILD_SESSION_ID, A.HIVE_COLONY_ID)} == {
        A.HIVE_CHILD_SESSION_ID: colony,
        A.HIVE_COLONY_ID: "c",
    }


def test_a_live_session_takes_its_lineage_from_meta_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    truth = write_workload(home, queens=1, colonies=1, workers_per_colony=0, turns_per_session=1, forks=1, graph_agents=0)
    colony = next(s for s in truth.sessions.values() if s.kind == "colony")
    settings = ClientSettings.from_env({"HIVE_HOME": str(home)})
    hook = live_instrument(EventBus(), session_id=colony.session_id, queen_id=colony.queen_id, settings=settings)
    try:
        assert hook.context.root_session_id == colony.root_session_id != colony.parent_session_id
        assert hook.context.lineage == (colony.parent_session_id, colony.root_session_id)
    finally:
        hook.uninstrument()
