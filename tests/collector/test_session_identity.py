"""``session_identity`` (migration create_session_identity) on chDB: Hive's identity statements, folded as they arrive and
from records stored before the migration existed."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from hive_otel.collector.queries.hive_sessions import session_identity
from hive_otel.collector.store.migrations import load_migrations
from hive_otel.collector.store.store import Store
from tests.collector.otlp_builders import Session, logs_request


def _statements(session: Session) -> ExportLogsServiceRequest:
    now = time.time_ns()
    return logs_request(
        session,
        [
            (now, "queen_identity_selected", {"hive.queen.id": "queen_growth", "hive.queen.name": "Mira"}),
            (now + 1, "worker_colony_loaded", {"hive.colony.id": "loaded_first"}),
            (now + 2, "worker_colony_loaded", {"hive.colony.id": "loaded_last"}),
            (now + 3, "colony_created", {"hive.colony.id": "made"}),
        ],
    )


EXPECTED = {"queen_id": "queen_growth", "queen_name": "Mira", "loaded_colony": "loaded_last", "spawned_colony": "made"}


def test_the_latest_statement_wins_and_a_replay_changes_nothing(store: Store, tenant: str) -> None:
    session = Session("session_live", "session_live", tenant=tenant)
    for _ in range(2):
        store.ingest_logs(_statements(session), tenant=tenant)
    assert session_identity(store, tenant, "session_live") == EXPECTED
    assert session_identity(store, tenant, "no-such-session") == dict.fromkeys(EXPECTED)


def test_identity_stored_before_the_migration_is_folded_by_it(store: Store, tenant: str) -> None:
    version = next(m.version for m in load_migrations() if m.name == "create_session_identity")
    assert version in store.rollback(version - 1)  # a store from before session_identity
    store.ingest_logs(_statements(Session("session_before", "session_before", tenant=tenant)), tenant=tenant)
    assert version in store.migrate()
    assert session_identity(store, tenant, "session_before") == EXPECTED


def _phase(store: Store, tenant: str, session: str) -> str:
    _, rows = store.query(
        f"SELECT phase FROM agent_session_status WHERE tenant = '{tenant}' AND session = '{session}'"
    )
    return rows[0][0]


def test_meta_json_fills_what_no_event_stated_and_the_newer_statement_wins(store: Store, tenant: str) -> None:
    """hive.queen_session_meta (a queen session's meta.json, dated by its mtime) against the events."""
    session = Session("session_meta", "session_meta", tenant=tenant)
    now = time.time_ns()
    meta = {"hive.queen.phase": "independent", "hive.queen.id": "queen_growth", "hive.colony.id": "bound",
            "hive.spawned_colony.id": "spawned"}  # fmt: skip
    store.ingest_logs(logs_request(session, [(now, "queen_session_meta", meta)]), tenant=tenant)
    assert _phase(store, tenant, "session_meta") == "independent"
    assert session_identity(store, tenant, "session_meta") == {
        "queen_id": "queen_growth", "queen_name": None, "loaded_colony": "bound", "spawned_colony": "spawned"
    }  # fmt: skip
    newer = [(now + 1, "queen_phase_changed", {"hive.queen.phase": "colony"}),
             (now + 2, "colony_created", {"hive.colony.id": "made_later"})]  # fmt: skip
    store.ingest_logs(logs_request(session, newer), tenant=tenant)
    assert _phase(store, tenant, "session_meta") == "colony"
    assert session_identity(store, tenant, "session_meta")["spawned_colony"] == "made_later"
    older_meta = logs_request(session, [(now - 5, "queen_session_meta", {**meta, "hive.queen.phase": "stale"})])
    store.ingest_logs(older_meta, tenant=tenant)  # a replay of an older meta.json changes nothing
    assert _phase(store, tenant, "session_meta") == "colony"
    rewritten = logs_request(session, [(now + 3, "queen_session_meta", {"hive.queen.phase": "rewritten"})])
    store.ingest_logs(rewritten, tenant=tenant)  # meta.json written after the event: it wins
    assert _phase(store, tenant, "session_meta") == "rewritten"
