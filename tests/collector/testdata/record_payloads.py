"""Record the payloads that tests/collector/test_schema_versions.py replays (run once; commit the files).

    .venv/bin/python -m tests.collector.testdata.record_payloads

``v1_<signal>.binpb``: the export requests the client pipeline (mapping → redaction → encoding)
produces for a small scripted Hive workload, one request per signal. ``v0_<signal>.binpb``: the same
requests as a version-0 client wrote them: ``hive.schema_version`` "0" and the keys renamed back with
the inverse of the collector's version-0 renames.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from google.protobuf.message import Message

from devtools.workload import write_workload
from hive_otel import attributes as A
from hive_otel.client.client import load_policy
from hive_otel.client.outbox import Outbox
from hive_otel.client.pipeline import ClientPipeline
from hive_otel.client.preview import REQUEST_TYPES
from hive_otel.client.redaction import RedactionProcessor
from hive_otel.client.sources.checkpoints import Checkpoints
from hive_otel.client.sources.files import FileTailer
from hive_otel.collector.receiver.schema_versions import V0_RESOURCE_RENAMES, V0_SPAN_RENAMES
from hive_otel.settings import ClientSettings

HERE = Path(__file__).parent
SIGNALS = ("traces", "metrics", "logs")


def payload_path(version: int, signal: str) -> Path:
    return HERE / f"v{version}_{signal}.binpb"


def _client_requests(home: Path, scratch: Path) -> dict[str, bytes]:
    settings = ClientSettings.from_env({"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(scratch)})
    outbox = Outbox(scratch / "outbox.db")
    pipeline = ClientPipeline(
        settings, outbox, RedactionProcessor(load_policy(settings)), join_window_ns=None, batch_items=1_000_000
    )
    pipeline.consume(FileTailer(home, Checkpoints(scratch)).poll())
    pipeline.finish()
    items = outbox.due(limit=100, now=float("inf"))
    outbox.shutdown()
    assert sorted(item.signal for item in items) == sorted(SIGNALS), "one request per signal"
    return {item.signal: item.body for item in items}


def _as_version_0(signal: str, body: bytes) -> bytes:
    request: Message = REQUEST_TYPES[signal].FromString(body)
    resource_back = {new: old for old, new in V0_RESOURCE_RENAMES.items()}
    span_back = {new: old for old, new in V0_SPAN_RENAMES.items()}
    for items in getattr(request, f"resource_{signal if signal != 'traces' else 'spans'}"):
        for kv in items.resource.attributes:
            kv.key = resource_back.get(kv.key, kv.key)
            if kv.key == A.HIVE_SCHEMA_VERSION:
                kv.value.string_value = "0"
        for scope in getattr(items, "scope_spans", ()):
            for span in scope.spans:
                for kv in span.attributes:
                    kv.key = span_back.get(kv.key, kv.key)
    return request.SerializeToString()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "hive"
        write_workload(home, queens=1, colonies=1, workers_per_colony=2, turns_per_session=3, seed=5)
        requests = _client_requests(home, Path(tmp) / "state")
    for signal, body in requests.items():
        payload_path(1, signal).write_bytes(body)
        payload_path(0, signal).write_bytes(_as_version_0(signal, body))
        print(f"{signal}: {len(body)} bytes")


if __name__ == "__main__":
    main()
