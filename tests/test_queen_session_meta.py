"""A queen session's meta.json in file mode, end to end: a home written by aden-hive 1.0.12's own code
(QueenPhaseState persisting the phase, persist_colony_spawn_lock on the source of a colony) →
``hive-otel backfill`` → the collector on chDB → ``GET /api/sessions/{id}``: Hive's fields equal what
Hive wrote, also for a session whose bus events were never seen (its events.jsonl taken away)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from devtools.workload import write_workload
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.client.sources.checkpoints import Checkpoints
from hive_otel.client.sources.files import FileTailer
from hive_otel.client.sources.records import RecordKind
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import open_store
from hive_otel.settings import ClientSettings

TENANT = "queen-meta"


def test_hive_fields_are_what_meta_json_states_even_without_events(tmp_path: Path) -> None:
    truth = write_workload(tmp_path / "home", queens=2, colonies=1, workers_per_colony=1, turns_per_session=1,
                           forks=0, graph_agents=0, seed=5)  # fmt: skip
    queens = [s for s in truth.sessions.values() if s.kind in ("dm", "colony")]
    source = next(s for s in queens if s.spawned_colony_id)
    source.events_path.rename(tmp_path / "unseen.jsonl")  # files only: meta.json and conversations
    store = open_store(f"chdb://{tmp_path / 'clickhouse'}")
    server = Collector(store, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    server.start()
    try:
        settings = ClientSettings.from_env(
            {
                "HIVE_HOME": str(tmp_path / "home"),
                "HIVE_OTEL_STATE_DIR": str(tmp_path / "state"),
                "HIVE_OTEL_ENDPOINT": server.http_url,
                "OTEL_EXPORTER_OTLP_HEADERS": f"x-hive-tenant-id={TENANT}",
            }
        )
        assert backfill(settings, replay=False, timeout_s=120) == EXIT_OK
        for s in queens:
            meta = json.loads((s.session_dir / "meta.json").read_text())
            response = httpx.get(f"{server.http_url}/api/sessions/{s.session_id}", params={"tenant": TENANT}, timeout=30)
            assert response.status_code == 200, (s.kind, response.text)
            got = response.json()
            assert got["queen_phase"] == s.phase == meta["phase"], s.kind
            assert got["queen_id"] == s.queen_id == meta["queen_id"], s.kind
            assert got["spawned_colony_id"] == s.spawned_colony_id == meta.get("spawned_colony_id"), s.kind
            assert got["colony_spawned"] is bool(meta.get("colony_spawned")), s.kind
            assert got["colony_id"] == s.colony_id, s.kind
    finally:
        server.stop()
        store.close()
    assert source.spawned_colony_id == next(s.colony_id for s in queens if s.kind == "colony")


def test_meta_json_is_read_when_it_changes_and_dated_by_its_mtime(tmp_path: Path) -> None:
    session_dir = tmp_path / "queens" / "queen_growth" / "sessions" / "session_20260115_090000_0000abcd"
    session_dir.mkdir(parents=True)
    meta_path = session_dir / "meta.json"
    meta_path.write_text(json.dumps({"queen_id": "queen_growth", "phase": "independent"}))
    tailer = FileTailer(tmp_path, Checkpoints(tmp_path / "state"))
    [record] = [r for r in tailer.poll() if r.kind is RecordKind.QUEEN_SESSION_META]
    assert record.data["phase"] == "independent" and record.written_ns == meta_path.stat().st_mtime_ns
    assert record.context.session_id == session_dir.name
    tailer.commit()
    assert list(tailer.poll()) == []  # unchanged: not sent again
    meta_path.write_text(json.dumps({"queen_id": "queen_growth", "phase": "colony"}))
    assert [r.data["phase"] for r in tailer.poll()] == ["colony"]
    tailer.commit()
    tailer.close()
    restarted = FileTailer(tmp_path, Checkpoints(tmp_path / "state"))
    assert list(restarted.poll()) == []  # a restart re-sends nothing
    restarted.close()
