"""``session_identity`` (migration 0029) on chDB: Hive's identity statements, folded as they arrive and
from records stored before the migration existed."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from hive_otel.collector.hive_sessions import session_identity
from hive_otel.collector.migrate import load_migrations
from hive_otel.collector.store import Store
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
