"""What one Hive session would send, after redaction, without sending anything.

``hive-otel doctor --show-payload`` runs the real client pipeline (mapping → redaction → encoding →
outbox) over one session's records into a throwaway outbox in a temporary directory, reads the
queued export requests back exactly as the sender would, and decodes them to OTLP/JSON so a user
can read every attribute before opting in. It needs no endpoint, opens no socket and leaves the
user's checkpoints and outbox untouched.
"""

from __future__ import annotations

import base64
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hive_otel.client.client import load_policy
from hive_otel.client.mapping.timestamps import to_unix_ns
from hive_otel.client.outbox import Outbox
from hive_otel.client.pipeline import ClientPipeline
from hive_otel.client.redaction import RedactionProcessor
from hive_otel.client.sources.checkpoints import Checkpoints
from hive_otel.client.sources.files import FileTailer
from hive_otel.client.sources.records import EVENT_LOG_SESSION_PREFIX, HiveRecord
from hive_otel.settings import ClientSettings

__all__ = ["REQUEST_TYPES", "Preview", "SessionNotFound", "latest_session", "preview_session", "to_otlp_json"]

REQUEST_TYPES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}

# OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping writes base64.
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


class SessionNotFound(LookupError):
    """HIVE_HOME holds no session (or not the one asked for)."""


@dataclass
class Preview:
    """The export requests one session produces, as the sender would read them from the outbox."""

    session_id: str
    records: int
    requests: list[tuple[str, bytes]]  # (signal, protobuf body)
    redaction: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "records": self.records,
            "redaction": self.redaction,
            "requests": [
                {"signal": signal, "bytes": len(body), "body": to_otlp_json(signal, body)}
                for signal, body in self.requests
            ],
        }


def to_otlp_json(signal: str, body: bytes) -> dict[str, Any]:
    """An encoded export request as an OTLP/JSON document (lowerCamelCase keys, hex ids)."""
    document = json_format.MessageToDict(REQUEST_TYPES[signal].FromString(body))
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_FIELDS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return document


def _records(settings: ClientSettings, scratch: Path) -> Iterator[HiveRecord]:
    """Every record under HIVE_HOME, read with throwaway checkpoints (the user's stay as they are)."""
    checkpoints = Checkpoints(scratch, fresh=True)
    try:
        yield from FileTailer(settings.hive_home, checkpoints).poll()
    finally:
        checkpoints.close()


def _record_time_ns(record: HiveRecord) -> int:
    data = record.data
    return to_unix_ns(data.get("timestamp")) or to_unix_ns(data.get("started_at")) or 0


def latest_session(records: Iterator[HiveRecord]) -> str:
    """The session whose newest record is the newest of all (HIVE_DEBUG_EVENTS dumps excluded)."""
    newest: dict[str, int] = {}
    for record in records:
        session = record.context.session_id
        if not session.startswith(EVENT_LOG_SESSION_PREFIX):
            newest[session] = max(newest.get(session, 0), _record_time_ns(record))
    if not newest:
        raise SessionNotFound("no Hive session found")
    return max(newest, key=lambda session: (newest[session], session))


def preview_session(settings: ClientSettings, session_id: str | None = None) -> Preview:
    """Map, redact and encode one session (default: the most recent) into a temporary outbox."""
    with tempfile.TemporaryDirectory(prefix="hive-otel-preview-") as tmp:
        scratch = Path(tmp)
        if session_id is None:
            session_id = latest_session(_records(settings, scratch / "scan"))
        outbox = Outbox(scratch / "outbox.db", settings.outbox_max_bytes)
        redaction = RedactionProcessor(load_policy(settings))
        pipeline = ClientPipeline(settings, outbox, redaction, join_window_ns=None)
        records = 0
        for record in _records(settings, scratch / "read"):
            if record.context.session_id == session_id:
                pipeline.consume((record,))
                records += 1
        if not records:
            raise SessionNotFound(f"no records of session {session_id!r}")
        pipeline.finish()
        # Read back exactly what the sender would deliver, in its order.
        requests = [(item.signal, item.body) for item in outbox.due(limit=1_000_000, now=math.inf)]
        outbox.shutdown()
    return Preview(session_id, records, requests, dict(redaction.counters))
