"""The outbox's SQLite schema, applied idempotently every time an outbox is opened."""

from __future__ import annotations

SCHEMA_VERSION = 2  # 2: the seq column, so a split request keeps its place in the queue

# Totals the size cap and depth() need, kept exact by triggers in the same transaction as the rows
# they describe, so they stay right when several processes (``watch`` and ``backfill --no-wait``)
# share one outbox file, and reading them never scans the queue.
TOTALS = ("pending_count", "pending_bytes", "dead_count", "dead_bytes")

# Lifetime event counters, persisted so that ``hive-otel doctor`` (another process) can report them.
COUNTERS = (
    "enqueued",
    "acked",
    "retried",
    "dead_lettered",
    "dropped_full",
    "dead_letters_evicted",
    "split",
    "requeued",
)

DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    -- AUTOINCREMENT: an id is never reused, so an ack for a request that the size cap already
    -- evicted cannot delete a newer request that happened to get the same id.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Delivery order. Equal to id when enqueued; the parts of a split request take fractional
    -- values between the original's seq and the next request's, so they keep its place.
    seq             REAL,
    signal          TEXT    NOT NULL CHECK (signal IN ('traces', 'metrics', 'logs')),
    body            BLOB    NOT NULL,  -- uncompressed Export*ServiceRequest protobuf
    item_count      INTEGER NOT NULL,
    created_at      REAL    NOT NULL,  -- Unix seconds
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL,  -- Unix seconds
    last_error      TEXT
);

CREATE TABLE IF NOT EXISTS dead_letter (
    id          INTEGER PRIMARY KEY,  -- the id the request had in the outbox
    signal      TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    item_count  INTEGER NOT NULL,
    created_at  REAL    NOT NULL,
    attempts    INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    dead_at     REAL    NOT NULL
);

CREATE TABLE IF NOT EXISTS stat (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS outbox_added AFTER INSERT ON outbox BEGIN
    UPDATE stat SET value = value + 1 WHERE name = 'pending_count';
    UPDATE stat SET value = value + length(NEW.body) WHERE name = 'pending_bytes';
END;

CREATE TRIGGER IF NOT EXISTS outbox_removed AFTER DELETE ON outbox BEGIN
    UPDATE stat SET value = value - 1 WHERE name = 'pending_count';
    UPDATE stat SET value = value - length(OLD.body) WHERE name = 'pending_bytes';
END;

CREATE TRIGGER IF NOT EXISTS dead_letter_added AFTER INSERT ON dead_letter BEGIN
    UPDATE stat SET value = value + 1 WHERE name = 'dead_count';
    UPDATE stat SET value = value + length(NEW.body) WHERE name = 'dead_bytes';
END;

CREATE TRIGGER IF NOT EXISTS dead_letter_removed AFTER DELETE ON dead_letter BEGIN
    UPDATE stat SET value = value - 1 WHERE name = 'dead_count';
    UPDATE stat SET value = value - length(OLD.body) WHERE name = 'dead_bytes';
END;
"""

# Applied after DDL: an outbox written by schema version 1 has no seq column yet.
SEQ_MIGRATION = ("ALTER TABLE outbox ADD COLUMN seq REAL", "UPDATE outbox SET seq = id")
SEQ_INDEX = "CREATE INDEX IF NOT EXISTS outbox_by_seq ON outbox (seq);"
