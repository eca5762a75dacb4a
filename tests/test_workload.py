"""The workload writer: real aden-hive output in the real layout, and a truth that matches it.

The files are read back here (independently of hive_otel's sources) to check the truth.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hive_otel.workload import CANARIES, MODELS, UNPRICED, WorkloadTruth, write_workload

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
}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _turns_on_disk(truth: WorkloadTruth) -> dict[tuple[str, int], dict[str, Any]]:
    """Every llm_turn_complete written, keyed by (session, iteration); a worker's from its own file."""
    turns: dict[tuple[str, int], dict[str, Any]] = {}
    for session in truth.sessions.values():
        if session.events_path is None:
            continue
        for event in _jsonl(session.events_path):
            if event["type"] != "llm_turn_complete":
                continue
            stream = event["stream_id"]
            owner = stream.split(":", 1)[1] if stream.startswith("worker:") else session.session_id
            turns[(owner, event["data"]["iteration"])] = event
    return turns


def test_layout_is_the_real_hive_home(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    home, truth = hive_workload
    roles = {s.session_id: s for s in truth.sessions.values()}
    queens = [s for s in roles.values() if s.agent_role == "queen"]
    workers = [s for s in roles.values() if s.agent_role == "worker"]
    assert len(queens) == 3 and len(workers) == 3  # 2 DM sessions + 1 colony queen; 3 workers
    for s in roles.values():
        assert s.session_id.startswith("session_") and len(s.session_id) == len("session_20260115_090000_abcdef12")
        if s.agent_role == "queen" and s.colony_id is None:
            assert s.events_path == home / "queens" / s.queen_id / "sessions" / s.session_id / "events.jsonl"
        elif s.agent_role == "queen":
            assert s.events_path == (
                home / "colonies" / s.colony_id / "queens" / s.queen_id / "sessions" / s.session_id / "events.jsonl"
            )
        else:
            worker_dir = home / "colonies" / s.colony_id / "workers" / s.session_id
            assert s.events_path == worker_dir / "events.jsonl"
            meta = json.loads((worker_dir / "meta.json").read_text())
            assert meta["queen_session_id"] == s.parent_session_id == s.root_session_id
            assert meta["queen_name"] == s.queen_id and meta["colony_id"] == s.colony_id
            assert roles[s.parent_session_id].colony_id == s.colony_id
        assert s.events_path.is_file()
        for name in ("summary.json", "details.jsonl", "tool_logs.jsonl"):
            assert (home / "sessions" / s.session_id / "logs" / name).is_file()


def test_truth_matches_the_events_and_logs_written(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    turns = _turns_on_disk(truth)
    assert len(turns) == len(truth.llm_calls) == 6 * 6
    for call in truth.llm_calls:
        data = turns[(call.session_id, call.iteration)]["data"]
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
    for session in truth.sessions.values():
        steps = _jsonl(session.logs_dir / "tool_logs.jsonl")
        calls = [c for c in truth.llm_calls if c.session_id == session.session_id]
        assert [(s["step_index"], s["input_tokens"], s["output_tokens"]) for s in steps] == [
            (c.iteration, c.input_tokens, c.output_tokens) for c in calls
        ]
        # L3 carries the trace context, whose execution id is not the bus's
        assert {s["trace_id"] for s in steps} == {session.trace_id}
        assert {s["execution_id"] for s in steps} == {session.trace_execution_id} != {session.execution_id}
        assert all("model" not in s and "cost_usd" not in s for s in steps)
        tool_ids = [t["tool_use_id"] for s in steps for t in s["tool_calls"]]
        assert tool_ids == [t.tool_use_id for t in truth.tool_calls if t.session_id == session.session_id]
        summary = json.loads((session.logs_dir / "summary.json").read_text())
        assert summary["run_id"] == session.session_id
        assert summary["status"] == ("success" if session.succeeded else "failure")
        assert summary["total_input_tokens"] == sum(c.input_tokens for c in calls)


def test_workload_covers_models_pricing_tools_and_event_types(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    assert {c.model for c in truth.llm_calls} == {m.name for m in MODELS}
    gemini = [c for c in truth.llm_calls if c.model == "gemini-2.5-flash"]
    assert any(c.priced for c in gemini) and any(not c.priced for c in gemini)
    assert all(not c.priced for c in truth.llm_calls if c.model == UNPRICED.name)
    assert any(c.cached_tokens for c in truth.llm_calls) and any(c.cache_creation_tokens for c in truth.llm_calls)
    assert 0 < sum(t.is_error for t in truth.tool_calls) < len(truth.tool_calls)
    assert set(truth.events_published) >= REQUIRED_EVENT_TYPES
    assert [s.succeeded for s in truth.sessions.values()].count(False) == 1  # the last worker fails
    assert truth.canaries == ()


def test_deltas_are_coalesced_on_disk_one_line_per_turn(hive_workload: tuple[Path, WorkloadTruth]) -> None:
    _, truth = hive_workload
    lines = [e for s in truth.sessions.values() for e in _jsonl(s.events_path) if e["type"] == "llm_text_delta"]
    assert len(lines) == len(truth.llm_calls)
    assert truth.events_published["llm_text_delta"] == 3 * len(truth.llm_calls)


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
    colony_queen = next(s for s in truth.sessions.values() if s.agent_role == "queen" and s.colony_id)
    rolled = truth.by_root_session()[colony_queen.session_id]
    assert rolled.llm_calls == 4 * 6  # the queen's own turns plus her three workers'
    assert truth.by_colony()[colony_queen.colony_id] == rolled
    assert truth.by_model()[None].llm_calls == 0  # tool calls have no model


def _without_volatile(home: Path) -> dict[str, list[Any]]:
    """Every written file, minus what Hive stamps at write time (timestamps, random span ids)."""
    volatile = {"timestamp", "span_id", "started_at", "start_timestamp"}

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    out = {}
    for path in sorted(home.rglob("*.json*")):
        text = path.read_text(encoding="utf-8")
        docs = [json.loads(text)] if path.suffix == ".json" else [json.loads(x) for x in text.splitlines()]
        out[str(path.relative_to(home))] = scrub(docs)
    return out


def test_same_seed_same_workload_other_seed_other(tmp_path: Path) -> None:
    kwargs = dict(queens=1, colonies=1, workers_per_colony=2, turns_per_session=3)
    a = write_workload(tmp_path / "a", seed=7, **kwargs)
    b = write_workload(tmp_path / "b", seed=7, **kwargs)
    c = write_workload(tmp_path / "c", seed=8, **kwargs)
    assert a.llm_calls == b.llm_calls and a.tool_calls == b.tool_calls
    assert _without_volatile(tmp_path / "a") == _without_volatile(tmp_path / "b")
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


def test_default_is_fast_and_large_workloads_scale(tmp_path: Path) -> None:
    started = time.perf_counter()
    write_workload(tmp_path / "default")
    assert time.perf_counter() - started < 5
    big = write_workload(tmp_path / "big", queens=1, colonies=1, workers_per_colony=1, turns_per_session=400)
    assert len(big.llm_calls) == 3 * 400
    assert sum(big.events_published.values()) > 10_000


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_workload(tmp_path, turns_per_session=0)
