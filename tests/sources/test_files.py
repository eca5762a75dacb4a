"""FileTailer over a HIVE_HOME written by the real aden-hive runtime (see tests/conftest.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from devtools.workload import WorkloadTruth
from hive_otel import environment_variables as ev
from hive_otel.client.sources.checkpoints import CHECKPOINTS_FILE, Checkpoints
from hive_otel.client.sources.files import EVENT_LOG_SESSION_PREFIX, FileTailer, decode_json
from hive_otel.client.sources.records import HiveRecord, RecordKind, SessionContext
from hive_otel.settings import ClientSettings

SID = "session_20260115_090000_0badc0de"


def tailer(home: Path, state: Path) -> FileTailer:
    return FileTailer(home, Checkpoints(state))


def append(path: Path, *lines: dict[str, Any] | str, end: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + end)


def event(seq: int, type_: str = "node_loop_iteration", stream_id: str = "queen") -> dict[str, Any]:
    return {"type": type_, "stream_id": stream_id, "data": {"iteration": seq}, "seq": seq}


def seqs(records: list[HiveRecord]) -> list[int]:
    return [r.data["seq"] for r in records]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "hive"
    path.mkdir()
    return path


@pytest.fixture
def queen_log(home: Path) -> Path:
    return home / "queens" / "queen_growth" / "sessions" / SID / "events.jsonl"


def test_reads_the_real_layout_with_the_right_contexts(hive_workload: tuple[Path, WorkloadTruth], tmp_path: Path) -> None:
    home, truth = hive_workload
    records = list(tailer(home, tmp_path / "state").poll())
    kinds = Counter(r.kind for r in records)
    with_events = [s for s in truth.sessions.values() if s.events_path is not None]
    lines = sum(len(s.events_path.read_text().splitlines()) for s in with_events)
    graph_runs = [s for s in truth.sessions.values() if s.kind == "graph"]
    assert kinds[RecordKind.EVENT] == lines
    assert kinds[RecordKind.NODE_STEP] == sum(1 for c in truth.llm_calls if c.model is None)  # graph agents' L3
    assert kinds[RecordKind.NODE_DETAIL] == kinds[RecordKind.RUN_SUMMARY] == len(graph_runs) == 3

    for session in truth.sessions.values():
        lineage = []
        parent = session.parent_session_id
        while parent is not None:
            lineage.append(parent)
            parent = truth.sessions[parent].parent_session_id
        expected = SessionContext(
            session_id=session.session_id,
            queen_id=session.queen_id,
            colony_id=session.colony_id,
            worker_id=session.worker_id,
            parent_session_id=session.parent_session_id,
            agent_role=session.agent_role,
            lineage=tuple(lineage),
        )
        assert {r.context for r in records if r.context.session_id == session.session_id} == {expected}
        assert expected.root_session_id == session.root_session_id

    # order within a file is kept: each file's records come out in its line order
    for session in with_events:
        on_disk = [json.loads(line).get("seq") for line in session.events_path.read_text().splitlines()]
        out = [
            r.data.get("seq") for r in records if r.kind is RecordKind.EVENT and r.context.session_id == session.session_id
        ]
        assert out == on_disk


def test_restart_resumes_from_the_committed_checkpoint(home: Path, queen_log: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    append(queen_log, event(1), event(2))
    first = tailer(home, state)
    assert seqs(list(first.poll())) == [1, 2]
    first.commit()
    first.close()

    append(queen_log, event(3))
    second = tailer(home, state)
    assert seqs(list(second.poll())) == [3]
    assert list(second.poll()) == []  # in memory it moved on even without a commit
    second.close()  # ... but nothing was committed: a crash here re-reads, never loses

    third = tailer(home, state)
    assert seqs(list(third.poll())) == [3]
    third.commit()
    assert list(tailer(home, state).poll()) == []


def test_commit_covers_only_what_was_handed_out(home: Path, queen_log: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    append(queen_log, *(event(i) for i in range(1, 6)))
    first = tailer(home, state)
    records = first.poll()
    assert seqs([next(records), next(records)]) == [1, 2]
    first.commit()  # the caller stopped after two records
    records.close()
    assert seqs(list(tailer(home, state).poll())) == [3, 4, 5]


def test_partial_last_line_waits_for_its_newline(home: Path, queen_log: Path, tmp_path: Path) -> None:
    t = tailer(home, tmp_path / "state")
    append(queen_log, event(1))
    append(queen_log, json.dumps(event(2))[:20], end="")
    assert seqs(list(t.poll())) == [1]
    assert list(t.poll()) == []
    append(queen_log, json.dumps(event(2))[20:])
    assert seqs(list(t.poll())) == [2]
    assert t.counters["malformed_lines"] == 0


def test_a_line_longer_than_a_read_chunk(home: Path, queen_log: Path, tmp_path: Path) -> None:
    big = event(2) | {"data": {"blob": "x" * (3 << 20)}}
    append(queen_log, event(1), big, event(3))
    records = list(tailer(home, tmp_path / "state").poll())
    assert seqs(records) == [1, 2, 3]
    assert len(records[1].data["data"]["blob"]) == 3 << 20


def test_truncated_file_is_read_again_from_the_start(home: Path, queen_log: Path, tmp_path: Path) -> None:
    t = tailer(home, tmp_path / "state")
    append(queen_log, event(1), event(2), event(3))
    assert seqs(list(t.poll())) == [1, 2, 3]
    with open(queen_log, "w", encoding="utf-8") as f:  # same inode, shorter
        f.write(json.dumps(event(9)) + "\n")
    assert seqs(list(t.poll())) == [9]
    assert t.counters["truncated_files"] == 1


def test_rewritten_in_place_and_longer_is_detected_by_its_leading_bytes(home: Path, queen_log: Path, tmp_path: Path) -> None:
    t = tailer(home, tmp_path / "state")
    append(queen_log, event(1))
    assert seqs(list(t.poll())) == [1]
    with open(queen_log, "w", encoding="utf-8") as f:  # same inode, longer than the old offset
        f.write("".join(json.dumps(event(i, "custom")) + "\n" for i in (7, 8)))
    assert seqs(list(t.poll())) == [7, 8]
    assert t.counters["truncated_files"] == 1


def test_replaced_file_new_inode_is_read_from_the_start(home: Path, queen_log: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    t = tailer(home, state)
    append(queen_log, event(1), event(2))
    assert seqs(list(t.poll())) == [1, 2]
    t.commit()
    replacement = queen_log.with_name("events.jsonl.new")
    append(replacement, event(1), event(2), event(3))
    os.replace(replacement, queen_log)
    again = tailer(home, state)  # also across a restart: the checkpoint's inode no longer matches
    assert seqs(list(again.poll())) == [1, 2, 3]
    assert again.counters["rotated_files"] == 1


def test_files_that_appear_later_are_picked_up(home: Path, queen_log: Path, tmp_path: Path) -> None:
    t = tailer(home, tmp_path / "state")
    assert list(t.poll()) == []
    append(queen_log, event(1))
    assert seqs(list(t.poll())) == [1]
    colony_log = home / "colonies" / "c1" / "queens" / "queen_growth" / "sessions" / "s2" / "events.jsonl"
    append(colony_log, event(5))
    records = list(t.poll())
    assert seqs(records) == [5]
    assert records[0].context == SessionContext("s2", "queen_growth", "c1")
    assert t.counters["files"] == 2


def test_malformed_lines_are_counted_and_skipped(
    home: Path, queen_log: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    append(queen_log, event(1), '{"type": "broken', event(2), "[1, 2]", "", event(3))
    with open(queen_log, "ab") as f:
        f.write(b"\xff\xfe not utf-8\n" + json.dumps(event(4)).encode() + b"\n")
    t = tailer(home, tmp_path / "state")
    with caplog.at_level(logging.WARNING, logger="hive_otel.client.sources.files"):
        assert seqs(list(t.poll())) == [1, 2, 3, 4]
    assert t.counters["malformed_lines"] == 3
    rel = f"queens/queen_growth/sessions/{SID}/events.jsonl"
    assert {f"{rel}:2", f"{rel}:4", f"{rel}:7"} <= {m.split(": ")[0] for m in caplog.messages}
    t.commit()
    assert list(tailer(home, tmp_path / "state").poll()) == []  # skipped for good, not re-read


def test_summary_json_is_emitted_again_only_when_its_content_changes(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    summary = home / "sessions" / SID / "logs" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"run_id": SID, "status": "in_progress"}))
    t = tailer(home, state)
    assert [r.data["status"] for r in t.poll()] == ["in_progress"]
    tmp = summary.with_suffix(".tmp")  # rewritten the way RuntimeLogStore does it: tmp + rename
    tmp.write_text(json.dumps({"run_id": SID, "status": "in_progress"}))
    tmp.rename(summary)
    assert list(t.poll()) == []
    t.commit()
    t.close()
    assert list(tailer(home, state).poll()) == []  # unchanged across a restart too
    tmp.write_text(json.dumps({"run_id": SID, "status": "success"}))
    tmp.rename(summary)
    records = list(tailer(home, state).poll())
    assert [(r.kind, r.data["status"], r.context) for r in records] == [
        (RecordKind.RUN_SUMMARY, "success", SessionContext(SID, agent_role="agent"))  # a run no queen dir names
    ]


def test_worker_context_comes_from_meta_json_even_when_it_appears_late(home: Path, tmp_path: Path) -> None:
    worker_dir = home / "colonies" / "c1" / "workers" / "session_w1"
    append(worker_dir / "events.jsonl", event(1, stream_id="worker:session_w1"))
    t = tailer(home, tmp_path / "state")
    [orphan] = list(t.poll())
    assert orphan.context == SessionContext("session_w1", None, "c1", "session_w1", None, "worker")
    (worker_dir / "meta.json").write_text(json.dumps({"queen_session_id": "session_q", "queen_name": "queen_growth"}))
    append(worker_dir / "events.jsonl", event(2, stream_id="worker:session_w1"))
    [record] = list(t.poll())
    assert record.context == SessionContext(
        "session_w1", "queen_growth", "c1", "session_w1", "session_q", "worker", lineage=("session_q",)
    )


def test_event_logs_have_their_own_context(home: Path, tmp_path: Path) -> None:
    append(home / "event_logs" / "20260115_090000.jsonl", event(1), event(2))
    records = list(tailer(home, tmp_path / "state").poll())
    assert seqs(records) == [1, 2]
    assert {r.context for r in records} == {SessionContext(EVENT_LOG_SESSION_PREFIX + "20260115_090000")}


def test_deleted_file_is_forgotten_and_a_new_one_read_from_its_start(home: Path, queen_log: Path, tmp_path: Path) -> None:
    t = tailer(home, tmp_path / "state")
    append(queen_log, event(1), event(2))
    assert seqs(list(t.poll())) == [1, 2]
    queen_log.unlink()
    assert list(t.poll()) == []
    append(queen_log, event(3))
    assert seqs(list(t.poll())) == [3]
    t.commit()
    assert t.counters["read_errors"] == 0


def test_fresh_checkpoints_replay_everything(home: Path, queen_log: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    append(queen_log, event(1))
    t = tailer(home, state)
    list(t.poll())
    t.commit()
    t.close()
    assert seqs(list(FileTailer(home, Checkpoints(state, fresh=True)).poll())) == [1]


def test_progress_counts_bytes(home: Path, queen_log: Path, tmp_path: Path) -> None:
    append(queen_log, event(1))
    append(queen_log, '{"partial":', end="")
    t = tailer(home, tmp_path / "state")
    list(t.poll())
    done, total = t.progress()
    assert done == len(json.dumps(event(1))) + 1 and total == queen_log.stat().st_size


def test_state_dir_defaults_under_hive_home_and_follows_the_override(home: Path, tmp_path: Path) -> None:
    default = FileTailer.from_settings(ClientSettings.from_env({ev.HIVE_HOME: str(home)}))
    assert default.checkpoints.path == home / "otel" / CHECKPOINTS_FILE
    default.close()
    override = tmp_path / "elsewhere"
    moved = FileTailer.from_settings(
        ClientSettings.from_env({ev.HIVE_HOME: str(home), ev.HIVE_OTEL_STATE_DIR: str(override)})
    )
    assert moved.checkpoints.path == override / CHECKPOINTS_FILE and moved.checkpoints.path.is_file()
    moved.close()


def test_a_copied_workload_resumes_after_more_is_written(hive_workload: tuple[Path, WorkloadTruth], tmp_path: Path) -> None:
    source, truth = hive_workload
    home = tmp_path / "copy"
    shutil.copytree(source, home)
    state = tmp_path / "state"
    t = tailer(home, state)
    first = sum(1 for _ in t.poll())
    t.commit()
    t.close()
    worker = next(s for s in truth.sessions.values() if s.agent_role == "worker")
    added = home / worker.events_path.relative_to(source)
    append(added, event(10_000, stream_id=f"worker:{worker.session_id}"))
    [record] = list(tailer(home, state).poll())
    assert record.data["seq"] == 10_000 and record.context.parent_session_id == worker.parent_session_id
    assert first > 0


# What json.loads accepts that a faster decoder may not, or may read otherwise (ints beyond 64 bits).
_JSON_EDGES = [
    b'{"a": NaN, "b": Infinity, "c": -Infinity}', b'{"a": 1e400}', b'123456789012345678901234567890',
    b'-9223372036854775809', b'18446744073709551616', b'{"a": 1, "a": 2, "b": 3}',
    b'"\\ud83d\\ude00"', b"\xef\xbb\xbf{}", b"[1,]", b"  {}  ", b"tru", b'"\t"', b'{"a": {}} x',
    b"0.30000000000000004441", b"2.4703282292062327e-324", b"-0.0", b"9007199254740993", b'{"x": "\xc3\xa9\\u0000"}',
]  # fmt: skip


@pytest.mark.parametrize("raw", _JSON_EDGES)
def test_lines_decode_exactly_as_json_loads_reads_them(raw: bytes) -> None:
    def outcome(decode: Any) -> object:
        try:
            return ("value", repr(decode(raw)))
        except ValueError as err:
            return (type(err), str(err))

    assert outcome(decode_json) == outcome(json.loads)


def test_three_lines_decode_on_purpose_otherwise_than_json_loads() -> None:
    """A lone surrogate, which no UTF-8 encoder downstream (RE2's, protobuf's) takes, becomes U+FFFD;
    text that is not UTF-8 is said to be so (json.loads guesses UTF-16); a line nested too deep to
    read is a ValueError like any malformed line, not a RecursionError that stopped every backfill."""
    decoded = decode_json(b'{"model": "\\ud800claude", "pair": "\\ud83d\\ude00"}')
    assert decoded == {"model": "\ufffdclaude", "pair": "\U0001f600"}
    with pytest.raises(ValueError, match="utf-8"):
        decode_json(b'{"a": "\xff"}')
    with pytest.raises(ValueError, match="nested too deeply"):
        decode_json(b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
