"""The client pipeline never builds a request over ``HIVE_OTEL_MAX_REQUEST_BYTES``, however much a
backfill releases at once, and loses nothing doing so: every span and log record is in exactly one
queued request, or, when it alone is over the limit, in a dead letter of its own (counted and
logged). Real aden-hive output → mapping → redaction → encoding → a real SQLite outbox."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import pytest

from hive_otel.client.client import load_policy
from hive_otel.client.export._split import split_request
from hive_otel.client.outbox import Outbox
from hive_otel.client.pipeline import ClientPipeline
from hive_otel.client.redaction import RedactionProcessor
from hive_otel.client.sources.checkpoints import Checkpoints
from hive_otel.client.sources.files import FileTailer
from hive_otel.settings import ClientSettings, SettingsError
from tests.client_helpers import decode


def _pipeline_output(home: Path, scratch: Path, limit: int) -> tuple[list, list, dict[str, int]]:
    """(queued (signal, body) requests, dead letters, pipeline counters) for all of ``home`` at once."""
    settings = ClientSettings.from_env({"HIVE_HOME": str(home), "HIVE_OTEL_STATE_DIR": str(scratch)})
    settings = dataclasses.replace(settings, max_request_bytes=limit)  # below the settings' floor on purpose
    outbox = Outbox(scratch / "outbox.db")
    pipeline = ClientPipeline(settings, outbox, RedactionProcessor(load_policy(settings)), join_window_ns=None)
    pipeline.consume(FileTailer(home, Checkpoints(scratch)).poll())
    pipeline.finish()  # a backfill: the whole history is released here
    queued = [(item.signal, item.body) for item in outbox.due(limit=1_000_000, now=math.inf)]
    dead = outbox.dead_letters(limit=1_000_000)
    outbox.shutdown()
    return queued, dead, dict(pipeline.counters)


def _span_ids(requests: list[tuple[str, bytes]]) -> list[bytes]:
    return sorted(span.span_id for _, span in decode(requests).spans)


def test_small_limit_many_requests_every_item_once(hive_workload, tmp_path) -> None:
    home, truth = hive_workload
    whole, _, _ = _pipeline_output(home, tmp_path / "whole", limit=1 << 30)
    limit = 16 * 1024  # the default workload's whole history is ~100 KiB of spans
    bounded, dead, counters = _pipeline_output(home, tmp_path / "bounded", limit=limit)

    assert max(len(body) for _, body in bounded) <= limit
    assert len([s for s, _ in bounded if s == "traces"]) > len([s for s, _ in whole if s == "traces"])
    assert dead == [] and counters["oversized_items"] == 0
    assert _span_ids(bounded) == _span_ids(whole)
    assert len(decode(bounded).logs) == len(decode(whole).logs)
    assert len(decode(bounded).chat_spans()) == len(truth.llm_calls)


def test_an_item_over_the_limit_on_its_own_is_a_dead_letter_alone(hive_workload, tmp_path, caplog) -> None:
    home, _ = hive_workload
    whole, _, _ = _pipeline_output(home, tmp_path / "whole", limit=1 << 30)
    sizes = sorted(len(body) for _, body in _single_spans(whole))
    limit = sizes[len(sizes) // 2]  # half the spans fit alone, half do not
    with caplog.at_level(logging.ERROR, logger="hive_otel.client.pipeline"):
        bounded, dead, counters = _pipeline_output(home, tmp_path / "bounded", limit=limit)

    assert max(len(body) for _, body in bounded) <= limit
    oversized = [d for d in dead if d.signal == "traces"]
    assert oversized and all(d.item_count == 1 and len(d.body) > limit for d in oversized)
    assert counters["oversized_items"] == len(dead)
    assert "HIVE_OTEL_MAX_REQUEST_BYTES" in dead[0].reason
    assert "kept as a dead letter" in caplog.text
    # Nothing lost, nothing twice: queued and dead-lettered spans together are all the spans.
    dead_requests = [(d.signal, d.body) for d in dead]
    assert sorted(_span_ids(bounded) + _span_ids(dead_requests)) == _span_ids(whole)


def _single_spans(requests: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Each span of ``requests`` as a request of its own (with its resource and scope)."""
    pending = [(s, b) for s, b in requests if s == "traces"]
    singles = []
    while pending:
        signal, body = pending.pop()
        halves = split_request(signal, body)  # type: ignore[arg-type]
        if halves is None:
            singles.append((signal, body))
        else:
            pending += [(signal, half) for half, _ in halves]
    return singles


@pytest.mark.parametrize("raw", ["1000", "0", "-1", "4MiB"])
def test_request_limit_setting_is_validated(raw: str, tmp_path) -> None:
    with pytest.raises(SettingsError, match="HIVE_OTEL_MAX_REQUEST_BYTES"):
        ClientSettings.from_env({"HIVE_OTEL_MAX_REQUEST_BYTES": raw}, hive_home=tmp_path)


def test_request_limit_default_fits_an_opentelemetry_collector(tmp_path) -> None:
    assert ClientSettings.from_env({}, hive_home=tmp_path).max_request_bytes == 4 * 1024 * 1024
