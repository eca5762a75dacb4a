"""Mutated Hive files, seeded and bounded: a real aden-hive home with bad lines slipped in between
the good ones of every ``events.jsonl``, ``details.jsonl`` and ``tool_logs.jsonl`` (truncated lines,
bytes that are not JSON, JSON that is not an object, records with wrong types, unknown event types,
multi-megabyte lines) and broken ``summary.json`` files. ``hive-otel backfill`` must not crash, must
say how many lines it skipped, and ``hive-otel usage --format json`` from our collector must still
equal the totals the workload counted for the good lines.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.client.mapping.events import BusEventMapper
from hive_otel.client.mapping.telemetry import Telemetry
from hive_otel.client.sources.records import HiveRecord
from hive_otel.collector.service import Collector
from hive_otel.collector.store.store import Store
from tests.client_helpers import decode, running_collector
from tests.export.receivers import HttpReceiver
from tests.test_end_to_end import KEYS, _actual, _expected, _settings, _usage_json

SEEDS = (1, 2, 3)
BAD_LINES_PER_FILE = 3
HUGE = 3 * 1024 * 1024  # bytes; one garbage and one well-formed huge line per seed
WRONG_VALUES: tuple[object, ...] = ("lots", -1, 1e30, 10**40, [], {}, None, True, ["x"], {"a": 1}, -0.5, float("nan"))

Mutation = Callable[[random.Random, bytes], tuple[bytes, bool]]  # (line, counts as malformed)


def _truncated(rng: random.Random, good: bytes) -> tuple[bytes, bool]:
    return good[: rng.randrange(1, len(good) - 1)], True


def _not_json(rng: random.Random, _: bytes) -> tuple[bytes, bool]:
    noise = bytes(rng.choice(b'{}[]":,abc\x00\xff\xfe 0123') for _ in range(rng.randrange(1, 200)))
    return b"\xff" + noise, True  # no JSON text starts with 0xff


def _not_an_object(rng: random.Random, _: bytes) -> tuple[bytes, bool]:
    return rng.choice([b"[1, 2]", b'"a string"', b"42", b"null", b"true", b"[]"]), True


def _wrong_types(rng: random.Random, good: bytes) -> tuple[bytes, bool]:
    """A good record with the fields that identify it and say what it is given values of another type."""
    record = json.loads(good)
    for key in ("type", "stream_id", "node_id", "execution_id", "timestamp", "data", "step_index", "tool_use_id",
                "started_at", "run_id", "status"):  # fmt: skip
        if key in record:
            record[key] = rng.choice([v for v in WRONG_VALUES if type(v) is not type(record[key])])
    return json.dumps(record).encode(), False


def _unknown_type(rng: random.Random, good: bytes) -> tuple[bytes, bool]:
    record = json.loads(good)
    record["type"] = f"from_the_future_{rng.randrange(1000)}"
    return json.dumps(record).encode(), False


LINE_MUTATIONS: tuple[Mutation, ...] = (_truncated, _not_json, _not_an_object, _wrong_types, _unknown_type)


def _mutate_lines(path: Path, rng: random.Random) -> int:
    """Slip bad lines between the good ones of ``path``; returns how many should count as malformed."""
    lines = path.read_bytes().splitlines()
    originals = list(lines)
    malformed = 0
    for _ in range(BAD_LINES_PER_FILE):
        at = rng.randrange(len(lines) + 1)
        good = rng.choice(originals)
        mutation = rng.choice(LINE_MUTATIONS if path.name == "events.jsonl" else LINE_MUTATIONS[:4])
        line, counted = mutation(rng, good)
        lines.insert(at, line)
        malformed += counted
    path.write_bytes(b"\n".join(lines) + b"\n")
    return malformed


def _mutate_summary(path: Path, rng: random.Random) -> int:
    good = path.read_bytes()
    kind = rng.randrange(3)
    if kind == 0:
        path.write_bytes(good[: len(good) // 2])
        return 1
    if kind == 1:
        path.write_bytes(b"[1, 2, 3]")
        return 1
    document = json.loads(good)
    path.write_text(json.dumps({key: rng.choice(WRONG_VALUES) for key in document}))
    return 0


def _mutated_home(source: Path, target: Path, seed: int) -> int:
    """A copy of ``source`` with bad lines and documents added; returns the expected malformed count."""
    shutil.copytree(source, target)
    rng = random.Random(seed)
    malformed = 0
    for path in sorted(target.rglob("*.jsonl")):
        malformed += _mutate_lines(path, rng)
    for path in sorted(target.rglob("summary.json")):
        if rng.random() < 0.5:
            malformed += _mutate_summary(path, rng)
    events = sorted(target.rglob("events.jsonl"))
    with rng.choice(events).open("ab") as f:  # huge lines: one not JSON, one a well-formed unknown event
        f.write(b"{" + b"x" * HUGE + b"\n")
        f.write(json.dumps({"type": "huge_unknown", "stream_id": "queen", "data": {"blob": "y" * HUGE}}).encode() + b"\n")
    return malformed + 1


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Collector, str]]:
    with running_collector(tmp_path_factory.mktemp("fuzz") / "clickhouse") as running:
        yield running


@pytest.mark.parametrize("seed", SEEDS)
def test_bad_hive_lines_are_skipped_and_the_good_ones_counted_exactly(
    hive_workload, collector, tmp_path, capsys, seed
) -> None:
    source, truth = hive_workload
    _, server, store_url = collector
    home = tmp_path / "home"
    malformed = _mutated_home(source, home, seed)
    tenant = f"fuzz-{seed}"

    assert backfill(_settings(home, tmp_path / "state", server.http_url, tenant), timeout_s=120) == EXIT_OK
    assert f": {malformed} malformed line{'' if malformed == 1 else 's'} skipped" in capsys.readouterr().err
    for key in KEYS:
        assert _actual(_usage_json(capsys, store_url, key, tenant), key) == _expected(truth, key), (seed, key)


def test_a_record_the_mapping_did_not_foresee_is_skipped_alone(hive_workload, tmp_path, monkeypatch, capsys) -> None:
    """No Hive line found so far breaks the mapping (above), so a mapping bug is simulated (the one
    stand-in here): the fifth bus event raises. The backfill goes on, says so, and delivers the rest;
    every LLM call still arrives (each is carried by a bus event and an L3 line)."""
    home, truth = hive_workload
    real_map_into = BusEventMapper.map_into
    seen = itertools.count(1)

    def map_with_one_bug(self: BusEventMapper, record: HiveRecord, now_ns: int, out: Telemetry) -> None:
        if next(seen) == 5:
            raise KeyError("simulated mapping bug")
        real_map_into(self, record, now_ns, out)

    monkeypatch.setattr(BusEventMapper, "map_into", map_with_one_bug)
    receiver = HttpReceiver()
    try:
        assert backfill(_settings(home, tmp_path / "state", receiver.endpoint, "bug"), timeout_s=60) == EXIT_OK
        assert "1 record the mapping could not use skipped" in capsys.readouterr().err
        assert len(decode(receiver.delivered()).chat_spans()) == len(truth.llm_calls)
    finally:
        receiver.down()


def test_records_without_what_identifies_them_are_counted_logged_and_said(hive_workload, tmp_path, capsys, caplog) -> None:
    """A tool call's event without its id and an L3 step whose index is not an int: each skipped, and
    (before) only a counter knew, while the backfill said nothing."""
    source, truth = hive_workload
    home = tmp_path / "home"
    shutil.copytree(source, home)
    events = sorted(home.rglob("events.jsonl"))[0]
    with events.open("a") as f:
        f.write(json.dumps({"type": "tool_call_started", "stream_id": "queen", "data": {"tool_name": "t"}}) + "\n")
    steps = sorted(home.rglob("tool_logs.jsonl"))[0]
    with steps.open("a") as f:
        f.write(json.dumps({"node_id": "n", "step_index": "not an index", "input_tokens": 5}) + "\n")
    receiver = HttpReceiver()
    try:
        assert backfill(_settings(home, tmp_path / "state", receiver.endpoint, "ids"), timeout_s=60) == EXIT_OK
        assert "2 records the mapping could not use skipped" in capsys.readouterr().err
        assert len(decode(receiver.delivered()).chat_spans()) == len(truth.llm_calls)
    finally:
        receiver.down()
    warnings = [r.getMessage() for r in caplog.records if "lacks what identifies it" in r.getMessage()]
    assert sorted(w.split(" record")[0] for w in warnings) == ["hive-otel: a EVENT", "hive-otel: a NODE_STEP"]
