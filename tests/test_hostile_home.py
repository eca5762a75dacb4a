"""A real aden-hive home with what a half-broken or hand-edited one can hold, each of which once
stopped ``hive-otel backfill`` or leaked: a FIFO where a ``meta.json`` should be (the open waited for a
writer forever), a line nested too deep to read (RecursionError on every run), a lone surrogate in a
string (no UTF-8 encoder takes it: the redaction's RE2 raised), an object where L3 writes a verdict or
a tool name (its ``str()`` went out past the redaction of strings, secrets and paths included), a
tool call's duration that is NaN (the step's tool calls were dropped), and a tool name in the bus
events that is the model's text, not a tool's name (it went out as the span's name). The backfill must finish, count
every good call exactly, and send none of the planted text.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from tests.client_helpers import running_collector
from tests.test_end_to_end import _actual, _expected, _settings, _usage_json

SECRET = "/home/alice/secret.txt sk-ABCDEFGHIJKLMNOPQRSTUVWX"
CANARY = "CANARY-OBJECT-7c1d"


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Collector, str]]:
    with running_collector(tmp_path_factory.mktemp("hostile") / "clickhouse") as running:
        yield running


def _hostile_copy(source: Path, home: Path) -> None:
    shutil.copytree(source, home)
    meta = sorted(home.rglob("meta.json"))[0]
    meta.unlink()
    os.mkfifo(meta)
    events = sorted(home.rglob("events.jsonl"))[0]
    _plant_tool_name(events)
    with events.open("ab") as f:
        f.write(b'{"type": "custom", "stream_id": "queen", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}\n")
        f.write(b'{"type": "\\ud800odd", "stream_id": "queen", "data": {"note": "\\udfff"}}\n')
    steps = next(p for p in sorted(home.rglob("tool_logs.jsonl")) if b'"tool_use_id"' in p.read_bytes())
    lines = steps.read_bytes().splitlines()
    for i, line in enumerate(lines):
        step = json.loads(line)
        if step.get("tool_calls"):
            step["verdict"] = {"p": SECRET}
            step["tool_calls"][0]["tool_name"] = {"x": CANARY}
            step["tool_calls"][0]["duration_s"] = float("nan")
            lines[i] = json.dumps(step).encode()  # NaN as JSON's NaN, which json.loads reads
            break
    steps.write_bytes(b"\n".join(lines) + b"\n")


def _plant_tool_name(events: Path) -> None:
    """The name the model gave a tool call, published before Hive checks the tool exists: text."""
    lines = events.read_bytes().splitlines()
    for i, line in enumerate(lines):
        event = json.loads(line)
        if event.get("type") in ("tool_call_started", "tool_call_completed"):
            event["data"]["tool_name"] = f"Please summarize {CANARY} for me"
            lines[i] = json.dumps(event).encode()
    events.write_bytes(b"\n".join(lines) + b"\n")


def test_a_hostile_home_is_exported_whole_and_nothing_planted_leaves(hive_workload, collector, tmp_path, capsys) -> None:
    source, truth = hive_workload
    store, server, url = collector
    home = tmp_path / "home"
    _hostile_copy(source, home)

    assert backfill(_settings(home, tmp_path / "state", server.http_url, "hostile"), timeout_s=120) == EXIT_OK
    assert "1 malformed line skipped" in capsys.readouterr().err  # the line nested too deep
    for key in ("session", "model"):
        assert _actual(_usage_json(capsys, url, key, "hostile"), key) == _expected(truth, key), key
    stored = store.query(
        "SELECT count() FROM (SELECT toString(SpanAttributes) AS a FROM otel_traces UNION ALL "
        "SELECT toString(LogAttributes) FROM otel_logs UNION ALL SELECT SpanName FROM otel_traces) "
        f"WHERE position(a, '{CANARY}') > 0 OR position(a, 'sk-ABCDEF') > 0 OR position(a, '/home/alice') > 0",
        readonly=True,
    )[1]
    assert stored == [[0]]
