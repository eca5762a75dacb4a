"""The durable outbox: encoded OTLP export requests wait here, in SQLite, until acknowledged."""

from hive_otel.client.outbox._sqlite_outbox import (
    DEFAULT_MAX_BYTES,
    MAX_RETRY_DELAY_S,
    SIGNALS,
    DeadLetter,
    Outbox,
    OutboxItem,
    Signal,
)

__all__ = ["DEFAULT_MAX_BYTES", "MAX_RETRY_DELAY_S", "SIGNALS", "DeadLetter", "Outbox", "OutboxItem", "Signal"]
