"""Soak: Hive records at a steady rate through the client (outbox + exporter) to our collector, for minutes.

    python -m bench.bench_soak [--minutes 10] [--rate 300] [--sample-s 10] [--out FILE]

Not part of ``make test`` or ``make bench`` (it takes ``--minutes``). The records are a workload written
by the real aden-hive runtime (bench._common.workload; 400 turns per session: ~214k records, enough
for 10 minutes at 300 records/s without repeating one), read once by the real FileTailer and held in
memory before the start. This process is the client, as ``hive-otel watch`` runs it: every second
it hands the records due by then (``--rate`` per second) to the client pipeline, releases calls
past the join window and emits; the client's own sender delivers the outbox over OTLP/HTTP
(gzip) to our collector, which runs as its own process (``hive-otel collector``, chDB store, exact
usage) on 127.0.0.1.

Reported: resident memory (VmRSS) of the collector and of the client at the start (after the first
sample interval, once both are warm) and at the end; the outbox depth (requests and bytes) every
``--sample-s``; the acknowledgement latency of every request, from its enqueue into the outbox to the
collector's acknowledgement (p50, p99, max); requests the collector turned away (429/503) and
retried; the load average. After the last record the client flushes (up to 60 s) and the collector
stops. Writes ``--out`` (default bench/results/soak.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench._common import RESULTS_DIR, machine, read_records, workload
from hive_otel.client.client import Client
from hive_otel.settings import ClientSettings

TICK_S = 1.0  # as `hive-otel watch` polls and emits (--interval's default)
FLUSH_TIMEOUT_MS = 60_000


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process, in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_collector(store: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``hive-otel collector`` on 127.0.0.1:``port``, once it answers /healthz."""
    command = [str(Path(sys.executable).parent / "hive-otel"), "collector", "--store", f"chdb://{store}",
               "--http", f"127.0.0.1:{port}", "--grpc", "127.0.0.1:0"]  # fmt: skip
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the collector exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError("the collector did not answer /healthz within 120 s")


class AckLog:
    """Per acknowledged outbox request, seconds from its enqueue into the outbox to the acknowledgement
    of the request that carried it (the sender merges queued requests of one signal)."""

    def __init__(self, client: Client) -> None:
        self.latencies: list[float] = []
        sender = client.sender
        assert sender is not None
        self._deliver_group = sender._deliver_group
        sender._deliver_group = self._timed  # type: ignore[method-assign]

    def _timed(self, group: list[Any], acked: list[int]) -> bool:
        before = len(acked)
        go_on = self._deliver_group(group, acked)
        done, now = set(acked[before:]), time.time()
        self.latencies.extend(now - item.created_at for item in group if item.id in done)
        return go_on


def percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def latency_summary(latencies: list[float]) -> dict[str, float]:
    return {"requests": len(latencies), "p50": percentile_ms(latencies, 0.5), "p99": percentile_ms(latencies, 0.99),
            "max": percentile_ms(latencies, 1.0)}  # fmt: skip


def sample(started: float, client: Client, collector_pid: int, fed: int, acked: int) -> dict[str, Any]:
    pending, pending_bytes = client.outbox.depth()
    return {
        "t_s": round(time.monotonic() - started, 1),
        "records_fed": fed,
        "requests_acked": acked,
        "outbox_requests": pending,
        "outbox_bytes": pending_bytes,
        "collector_rss_mb": rss_mb(collector_pid),
        "client_rss_mb": rss_mb(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def feed(client: Client, records: list[Any], args: argparse.Namespace, collector_pid: int, acks: AckLog) -> dict:
    """Hand records to the pipeline at ``args.rate`` per second for ``args.minutes``; samples on the way."""
    started = time.monotonic()
    duration = args.minutes * 60
    fed, samples, next_sample = 0, [], started + args.sample_s
    while (elapsed := time.monotonic() - started) < duration and fed < len(records):
        due = min(len(records), int(elapsed * args.rate))
        client.step(records[fed:due])
        fed = due
        if time.monotonic() >= next_sample:
            samples.append(sample(started, client, collector_pid, fed, len(acks.latencies)))
            next_sample += args.sample_s
        time.sleep(TICK_S)
    return {"records_fed": fed, "feeding_s": round(time.monotonic() - started, 1), "samples": samples}


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = workload(queens=20, colonies=10, workers_per_colony=3, turns_per_session=args.turns)
    records = read_records(load.hive_home)
    workdir = Path(tempfile.mkdtemp(prefix="hive-otel-soak-"))
    port = free_port()
    collector = start_collector(workdir / "store", port, workdir / "collector.log")
    try:
        env = {"HIVE_OTEL_ENDPOINT": f"http://127.0.0.1:{port}", "HIVE_OTEL_STATE_DIR": str(workdir / "state"),
               "HIVE_OTEL_HEARTBEAT_S": "0"}  # fmt: skip
        settings = ClientSettings.from_env(env, hive_home=str(workdir / "home"))
        client = Client(settings, join_window_ns=int(settings.join_window_s * 1e9))
        client.start_sending()
        acks = AckLog(client)
        fed = feed(client, records, args, collector.pid, acks)
        client.finish()
        flushed = client.shutdown(FLUSH_TIMEOUT_MS)
        end = {"collector_rss_mb": rss_mb(collector.pid), "client_rss_mb": rss_mb()}
        counters = client.counters()
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)
    samples = fed["samples"]
    first = samples[0] if samples else end
    return {
        "machine": machine(),
        "minutes": args.minutes,
        "rate_records_per_s": args.rate,
        "workload": load.describe(),
        **{k: v for k, v in fed.items() if k != "samples"},
        "spans_sent": counters["pipeline"]["spans"],
        "log_records_sent": counters["pipeline"]["logs"],
        "flushed_within_60s": flushed,
        "rss_mb": {
            "collector_start": first["collector_rss_mb"],
            "collector_end": end["collector_rss_mb"],
            "client_start": first["client_rss_mb"],
            "client_end": end["client_rss_mb"],
        },
        "outbox_requests_max": max((s["outbox_requests"] for s in samples), default=0),
        "ack_latency_ms": latency_summary(acks.latencies),
        "retried_after_refusal": counters["sender"]["retryable_failures"],
        "sender_counters": counters["sender"],
        "outbox_counters": counters["outbox"],
        "load_average_1min": {"start": first["load_average_1min"], "max": max(s["load_average_1min"] for s in samples)}
        if samples
        else {},
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=300, help="Hive records per second handed to the client")
    parser.add_argument("--turns", type=int, default=400, help="LLM turns per session of the workload")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "soak.json")
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
