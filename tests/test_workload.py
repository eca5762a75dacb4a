"""The workload writer: real aden-hive output in the real layout, and a truth that matches it.

The files are read back here (independently of hive_otel's sources) to check the truth.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import framework.config as hive_config
import pytest
from framework.tracker.runtime_log_store import RuntimeLogStore

from devtools.workload import (
    CANARIES,
    MODELS,
    UNPRICED,
    SessionTruth,
    WorkloadTruth,
    agent_storage,
    hive_home_paths,
    write_workload,
)

REQUIRED_EVENT_TYPES = {
    "execution_started",
    "execution_completed",
    "execution_failed",
    "queen_phase_changed",
    "node_loop_started",
    "node_loop_iteration",
    "node_loop_completed",
    "llm_text_delta",
    "llm_reasoning_delta",
    "llm_turn_complete",
    "tool_call_started",
    "tool_call_completed",
    "node_stalled",
    "stream_inactive",
    "node_tool_doom_loop",
    "task_created",
    "task_updated",
    "trigger_available",
    "trigger_activated",
    "trigger_fired",
    "worker_completed",
    "worker_failed",
    "subagent_report",
    "context_usage_updated",
    "custom",
    "client_input_received",
    "client_input_committed",
    "client_input_requested",
    "loop_state_changed",
    "colony_created",
}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _owner(event: dict[str, Any], file_owner: str) -> str:
    """Whose event a line is: a worker stream's worker, else the session whose execution it is (a
    queen's execution id is its session id, so lines copied into a fork name their origin)."""
    stream = event.get("stream_id") or ""
    if stream.startswith("worker:"):
        return stream.split(":", 1)[1]
    return event.get("execution_id") or file_owner


def _turns_on_disk(truth: WorkloadTruth) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Every llm_turn_complete written anywhere, keyed by (owner session, iteration)."""
    turns: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for session in truth.sessions.values():
        if session.events_path is None:
            continue
        for event in _jsonl(session.events_path):
            if event["type"] == "llm_turn_complete":
                turns.setdefault((_owner(event, session.session_id), event["data"]["iteration"]), []).append(event)
    return turns


def _hive_dir(home: Path, s: SessionTruth) -> Path:
    """Where aden-hive's own functions put this session."""
    with hive_home_paths(home):
        if s.kind in ("dm", "fork"):
            return hive_config.queen_session_dir(s.queen_id, s.session_id)
        if s.kind == "colony":
            return hive_config.colony_queen_session_dir(s.colony_id, s.queen_id, s.session_id)
        if s.kind == "worker":
            return hive_config.colony_worker_session_dir(s.colony_id, s.session_id)
    storage = agent_storage(home, s.session_dir.relative_to(home / "agents").parts[0])
    graphs = [storage / "graphs" / g.name / "runtime_logs" for g in (storage / "graphs").iterdir()]
    stores = [RuntimeLogStore(base) for base in (storage / "runtime_logs", *graphs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # a legacy run dir is read from runs/
        found = [st._get_run_dir(s.session_id) for st in stores if st._get_run_dir(s.session_id).is_dir()]
    assert len(found) == 1, found
    return found[0]


def test_every_path_is_one_aden_hive_returns(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    home, truth = hive_workload
    kinds = Counter(s.kind for s in truth.sessions.values())
    assert kinds == {"dm": 2, "fork": 2, "colony": 1, "worker": 3, "graph": 3}
    session_dirs = set()
    for s in truth.sessions.values():
        assert re.match(r"session_\d{8}_\d{6}_[0-9a-f]{8}$|\d{8}T\d{6}_[0-9a-f]{8}$", s.session_id), s.session_id
        assert s.session_dir == _hive_dir(home, s), s.kind
        session_dirs.add(s.session_dir)
        if s.events_path is not None:
            assert s.events_path == s.session_dir / "events.jsonl" and s.events_path.is_file()
        if s.kind == "graph":
            assert s.logs_dir == s.session_dir
            assert {p.name for p in s.logs_dir.iterdir()} == {"summary.json", "details.jsonl", "tool_logs.jsonl"}
        else:
            assert s.logs_dir is None  # 1.0.12 gives queens and colony workers no RuntimeLogStore
    with hive_home_paths(home):
        colony_meta = [
            hive_config.colony_dir(c) / "metadata.json" for c in {s.colony_id for s in truth.sessions.values()} if c
        ]
    for path in (p for p in home.rglob("*") if p.is_file()):
        assert path in colony_meta or any(d in path.parents for d in session_dirs), path


def test_forks_and_colonies_carry_hive_lineage(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    by_id = truth.sessions
    for s in by_id.values():
        meta = json.loads((s.session_dir / "meta.json").read_text()) if s.kind != "graph" else {}
        if s.kind == "fork":
            assert meta["forked_from"]["session_id"] == s.parent_session_id
            assert by_id[s.parent_session_id].kind in ("dm", "fork")
        elif s.kind == "colony":
            assert meta["forked_from"] == s.parent_session_id and meta["colony_fork"] is True
            source = json.loads((by_id[s.parent_session_id].session_dir / "meta.json").read_text())
            assert source["spawned_colony_id"] == s.colony_id
        elif s.kind == "worker":
            assert meta["queen_session_id"] == s.parent_session_id and meta["colony_id"] == s.colony_id
        else:
            assert "forked_from" not in meta
        root = s
        while root.parent_session_id is not None:
            root = by_id[root.parent_session_id]
        assert s.root_session_id == root.session_id and root.kind in ("dm", "graph")


def test_copies_keep_their_origin_and_a_cold_session_offsets_its_iterations(
    hive_workload: tuple[Path, WorkloadTruth],
) -> None:
    _, truth = hive_workload
    for s in truth.sessions.values():
        if s.kind not in ("fork", "colony"):
            continue
        origin_lines = truth.sessions[s.parent_session_id].events_path.read_text().splitlines()
        lines = s.events_path.read_text().splitlines()
        copied = [json.loads(x) for x in lines[: len(lines) - len([x for x in lines if x not in origin_lines])]]
        own = [json.loads(x) for x in lines if x not in origin_lines]
        assert copied and own
        assert all(_owner(e, s.session_id) != s.session_id for e in copied if e.get("execution_id"))
        own_turns = [e["data"]["iteration"] for e in own if e["type"] == "llm_turn_complete"]
        copied_turns = [e["data"]["iteration"] for e in copied if e["type"] == "llm_turn_complete"]
        assert min(own_turns) > max(copied_turns)  # the iteration_offset a cold-resumed session logs with


def test_truth_matches_the_events_and_logs_written(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    turns = _turns_on_disk(truth)
    event_calls = [c for c in truth.llm_calls if c.model is not None]
    assert len(event_calls) == len(turns) == 6 * 8
    assert any(len(v) > 1 for v in turns.values())  # copies sit in forks and the colony
    for call in event_calls:
        for event in turns[(call.session_id, call.iteration)]:
            data = event["data"]
            assert (data["model"], data["input_tokens"], data["output_tokens"]) == (
                call.model,
                call.input_tokens,
                call.output_tokens,
            )
            assert (data["cached_tokens"], data["cache_creation_tokens"], data["cost_usd"]) == (
                call.cached_tokens,
                call.cache_creation_tokens,
                call.cost_usd,
            )
        assert call.cached_tokens + call.cache_creation_tokens <= call.input_tokens
    for session in (s for s in truth.sessions.values() if s.kind == "graph"):
        steps = _jsonl(session.logs_dir / "tool_logs.jsonl")
        calls = [c for c in truth.llm_calls if c.session_id == session.session_id]
        assert calls and all(c.model is None and c.cost_usd == 0.0 for c in calls)
        assert [(s["step_index"], s["input_tokens"], s["output_tokens"]) for s in steps] == [
            (c.iteration, c.input_tokens, c.output_tokens) for c in calls
        ]
        assert {s["trace_id"] for s in steps} == {session.trace_id}
        assert {s["execution_id"] for s in steps} == {session.trace_execution_id}
        tool_ids = [t["tool_use_id"] for s in steps for t in s["tool_calls"]]
        assert tool_ids == [t.tool_use_id for t in truth.tool_calls if t.session_id == session.session_id]
        summary = json.loads((session.logs_dir / "summary.json").read_text())
        assert summary["run_id"] == session.session_id and summary["status"] == "success"
        assert summary["total_input_tokens"] == sum(c.input_tokens for c in calls)


def test_workload_covers_models_pricing_tools_and_event_types(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    assert {c.model for c in truth.llm_calls} == {m.name for m in MODELS} | {None}
    gemini = [c for c in truth.llm_calls if c.model == "gemini-2.5-flash"]
    assert any(c.priced for c in gemini) and any(not c.priced for c in gemini)
    assert all(not c.priced for c in truth.llm_calls if c.model == UNPRICED.name)
    assert any(c.cached_tokens for c in truth.llm_calls) and any(c.cache_creation_tokens for c in truth.llm_calls)
    assert 0 < sum(t.is_error for t in truth.tool_calls) < len(truth.tool_calls)
    assert set(truth.events_published) >= REQUIRED_EVENT_TYPES
    assert [s.succeeded for s in truth.sessions.values()].count(False) == 1  # the last worker fails
    health = Counter(s.health for s in truth.sessions.values())
    assert health == {"idle": 4, "stalled": 1, "done": 5, "failed": 1}
    assert truth.canaries == ()


def test_deltas_are_coalesced_on_disk_one_line_per_turn(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    sessions = [s for s in truth.sessions.values() if s.events_path is not None]
    lines = [
        e
        for s in sessions
        for e in _jsonl(s.events_path)
        if e["type"] == "llm_text_delta" and _owner(e, s.session_id) in (s.session_id, s.worker_id)
    ]
    event_calls = [c for c in truth.llm_calls if c.model is not None]
    assert len(lines) == len(event_calls)
    assert truth.events_published["llm_text_delta"] == 3 * len(event_calls)


def test_worker_lifecycle_events_land_in_both_files_with_the_same_seq(
    hive_workload: tuple[Path, WorkloadTruth],
) -> None:
    _, truth = hive_workload
    for worker in (s for s in truth.sessions.values() if s.agent_role == "worker"):
        queen_file = _jsonl(truth.sessions[worker.parent_session_id].events_path)
        mine = {e["seq"]: e for e in _jsonl(worker.events_path)}
        in_queen = [e for e in queen_file if e["stream_id"] == f"worker:{worker.session_id}"]
        assert {e["type"] for e in in_queen} >= {"node_loop_started", "subagent_report"}
        assert "llm_turn_complete" not in {e["type"] for e in in_queen}  # chatter stays in the worker's file
        assert all(mine[e["seq"]] == e for e in in_queen)


def test_totals_roll_up_by_every_key(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    total = truth.totals()
    assert total.llm_calls == len(truth.llm_calls) and total.tool_calls == len(truth.tool_calls)
    for groups in (truth.by_model(), truth.by_colony(), truth.by_session(), truth.by_root_session()):
        assert sum(g.input_tokens for g in groups.values()) == total.input_tokens
        assert sum(g.tool_errors for g in groups.values()) == total.tool_errors
        assert sum(g.cost_usd for g in groups.values()) == pytest.approx(total.cost_usd)
    colony_queen = next(s for s in truth.sessions.values() if s.kind == "colony")
    dm = truth.sessions[colony_queen.root_session_id]
    assert dm.kind == "dm"
    rolled = truth.by_root_session()[dm.session_id]
    assert rolled.llm_calls == 7 * 6  # the DM, its two forks, the colony queen and her three workers
    assert truth.by_colony()[colony_queen.colony_id].llm_calls == 4 * 6
    assert truth.by_model()[None].llm_calls == 3 * 6  # graph agents' calls: L3 carries no model


def _without_volatile(home: Path, truth: WorkloadTruth) -> dict[str, list[Any]]:
    """Every written file, minus what Hive stamps at write time (timestamps, random span ids)."""
    volatile = {"timestamp", "span_id", "started_at", "start_timestamp", "created_at", "updated_at", "spawned_at",
                "spawned_colony_at", "fork_time", "run_id", "correlation_id", "before_input_at", "latency_ms",
                "duration_ms"}  # fmt: skip

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    out = {}
    for path in sorted(home.rglob("*.json*")):
        text = path.read_text(encoding="utf-8").replace(str(home), "<home>")  # agent_path in meta.json
        rel = str(path.relative_to(home))
        for run, placeholder in _graph_runs(truth).items():
            text, rel = text.replace(run, placeholder), rel.replace(run, placeholder)
        docs = [json.loads(text)] if path.suffix == ".json" else [json.loads(x) for x in text.splitlines()]
        out[rel] = scrub(docs)
    return out


def _graph_runs(truth: WorkloadTruth) -> dict[str, str]:
    """Graph runs' ids (Hive makes them from the clock and uuid4) → placeholders in the order written."""
    runs = [s.session_id for s in truth.sessions.values() if s.kind == "graph"]
    return {run: f"<graph run {i}>" for i, run in enumerate(runs)}


def _stable(truth: WorkloadTruth, calls: list[Any]) -> list[Any]:
    """Calls with their graph runs' ids replaced by placeholders."""
    runs = _graph_runs(truth)

    def fix(value: str) -> str:
        return runs.get(value, value)

    return [
        dataclasses.replace(
            c, session_id=fix(c.session_id), root_session_id=fix(c.root_session_id), execution_id=fix(c.execution_id)
        )
        for c in calls
    ]


def test_same_seed_same_workload_other_seed_other(tmp_path: Path) -> None:
    kwargs = dict(queens=1, colonies=1, workers_per_colony=2, turns_per_session=3)
    a = write_workload(tmp_path / "a", seed=7, **kwargs)
    b = write_workload(tmp_path / "b", seed=7, **kwargs)
    c = write_workload(tmp_path / "c", seed=8, **kwargs)
    assert _stable(a, a.llm_calls) == _stable(b, b.llm_calls) and _stable(a, a.tool_calls) == _stable(b, b.tool_calls)
    assert _without_volatile(tmp_path / "a", a) == _without_volatile(tmp_path / "b", b)
    assert a.llm_calls != c.llm_calls
    assert set(a.sessions) != set(c.sessions)


def test_canaries_are_planted_everywhere_private(tmp_path: Path) -> None:
    truth = write_workload(tmp_path / "secret", canaries=True, turns_per_session=3)
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "secret").rglob("*") if p.is_file())
    assert truth.canaries == CANARIES
    for canary in CANARIES:
        assert canary in written, canary
    write_workload(tmp_path / "plain", turns_per_session=3)
    plain = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "plain").rglob("*") if p.is_file())
    assert not any(canary in plain for canary in CANARIES)


def test_without_split_worker_events_stay_in_the_queen_file(tmp_path: Path) -> None:
    split = write_workload(tmp_path / "split", turns_per_session=3)
    legacy = write_workload(tmp_path / "legacy", turns_per_session=3, split_worker_events=False)
    assert legacy.totals() == split.totals()
    assert not list((tmp_path / "legacy").rglob("workers/*/events.jsonl"))
    assert len(list((tmp_path / "legacy").rglob("workers/*/meta.json"))) == 3
    workers = [s for s in legacy.sessions.values() if s.agent_role == "worker"]
    assert all(w.events_path is None for w in workers)
    queen_file = _jsonl(legacy.sessions[workers[0].parent_session_id].events_path)
    turns = [e for e in queen_file if e["type"] == "llm_turn_complete" and e["stream_id"].startswith("worker:")]
    assert len(turns) == 3 * 3
    assert {e["colony_id"] for e in turns} == {workers[0].parent_session_id}  # StreamEventBus's scope


def test_default_is_fast_and_large_workloads_scale(tmp_path: Path) -> None:
    import framework.agents.queen.timeline  # noqa: F401  fork_session_dir's first call imports it (seconds)

    started = time.perf_counter()
    write_workload(tmp_path / "default")
    assert time.perf_counter() - started < 5
    big = write_workload(
        tmp_path / "big", queens=1, colonies=1, workers_per_colony=1, turns_per_session=400, forks=0, graph_agents=0
    )
    assert len(big.llm_calls) == 3 * 400
    assert sum(big.events_published.values()) > 10_000


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_workload(tmp_path, turns_per_session=0)
    with pytest.raises(ValueError):
        write_workload(tmp_path, forks=-1)
