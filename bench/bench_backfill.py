"""``hive-otel backfill`` of ~1M Hive records end to end, to a loopback OTLP/HTTP receiver.

    python -m bench.bench_backfill [--turns 2100]

The Hive home is written by the real runtime (devtools.workload: 20 queen DM sessions, 10 colony
sessions with 3 workers each, ``--turns`` LLM turns per session; the default gives ~1M records,
i.e. lines of events.jsonl and L1-L3 logs) and kept between runs. The command runs as its own
process, exactly as a user runs it (``hive-otel backfill --hive-home ...`` with
HIVE_OTEL_ENDPOINT set, defaults otherwise: http/protobuf, gzip, the packaged redaction policy,
a fresh state directory), and is timed from start to exit 0 (everything acknowledged).

The receiver is deliberately minimal: it stores each request body as it arrived (gzip) and answers
200, so the figure is the client's; the project's collector is measured by bench_ingest. After the
run the bodies are decoded to check that every LLM call arrived exactly once. "gzip bytes per LLM
call" is the compressed body bytes of all signals (traces, metrics, logs) over the number of LLM
calls. Writes bench/results/backfill.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench._common import machine, workload, write_result

GOAL_SECONDS = 30.0
GOAL_GZIP_BYTES_PER_CALL = 120.0


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector
    server: _CountingReceiver

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.arrivals.append((self.path.rsplit("/", 1)[-1], self.headers.get("Content-Encoding", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")  # an empty Export*ServiceResponse: full success
        self.end_headers()


class _CountingReceiver(ThreadingHTTPServer):
    """OTLP/HTTP on 127.0.0.1 that keeps (signal, content encoding, body) of every request and acks it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CountingHandler)
        self.arrivals: list[tuple[str, str, bytes]] = []
        self._thread = threading.Thread(target=self.serve_forever, name="bench-receiver", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _client_env(endpoint: str, state_dir: Path) -> dict[str, str]:
    """The user's environment without any OpenTelemetry or hive-otel setting, plus the endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HIVE_"))}
    env["HIVE_OTEL_ENDPOINT"] = endpoint
    env["HIVE_OTEL_STATE_DIR"] = str(state_dir)
    return env


def _hive_otel_command() -> list[str]:
    script = Path(sys.executable).parent / "hive-otel"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hive_otel.cli"]


def decode(arrivals: list[tuple[str, str, bytes]]) -> dict[str, Any]:
    """What arrived: bytes per signal (as sent and decompressed), spans, LLM calls by call key, logs."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    sent: Counter[str] = Counter()
    raw: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    call_keys: Counter[str] = Counter()
    spans = logs = points = 0
    for signal, encoding, body in arrivals:
        payload = gzip.decompress(body) if encoding == "gzip" else body
        sent[signal] += len(body)
        raw[signal] += len(payload)
        requests[signal] += 1
        if signal == "traces":
            for rs in ExportTraceServiceRequest.FromString(payload).resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        spans += 1
                        if span.name.startswith("chat"):
                            key = next(a.value.string_value for a in span.attributes if a.key == "hive.call_key")
                            call_keys[key] += 1
        elif signal == "logs":
            logs += sum(len(sl.log_records) for rl in ExportLogsServiceRequest.FromString(payload).resource_logs
                        for sl in rl.scope_logs)  # fmt: skip
        elif signal == "metrics":
            for rm in ExportMetricsServiceRequest.FromString(payload).resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        points += len(metric.histogram.data_points) + len(metric.sum.data_points)
    return {
        "requests": dict(requests),
        "gzip_bytes": dict(sent),
        "raw_bytes": dict(raw),
        "spans": spans,
        "llm_call_spans": sum(call_keys.values()),
        "distinct_call_keys": len(call_keys),
        "log_records": logs,
        "metric_points": points,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--queens", type=int, default=20)
    parser.add_argument("--colonies", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3, help="workers per colony")
    parser.add_argument("--turns", type=int, default=2100, help="LLM turns per session (2100: ~1M records)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the backfill may take")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    load = workload(
        queens=args.queens, colonies=args.colonies, workers_per_colony=args.workers, turns_per_session=args.turns
    )
    print(f"workload ready in {time.perf_counter() - started:.1f}s: {load.hive_home}", file=sys.stderr)
    records = sum(
        sum(1 for _ in path.open("rb")) if path.suffix == ".jsonl" else 1
        for path in load.hive_home.rglob("*")
        if path.suffix == ".jsonl" or path.name == "summary.json"
    )
    receiver = _CountingReceiver()
    try:
        with tempfile.TemporaryDirectory() as state:
            command = [*_hive_otel_command(), "backfill", "--hive-home", str(load.hive_home), "--timeout", str(args.timeout)]
            load_before = os.getloadavg()[0]  # the machine is shared: how busy it was frames the figure
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, env=_client_env(receiver.endpoint, Path(state)), capture_output=True, text=True)
            seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            raise SystemExit(f"hive-otel backfill exited {done.returncode}")
    finally:
        receiver.stop()
    arrived = decode(receiver.arrivals)
    if arrived["llm_call_spans"] != load.llm_calls or arrived["distinct_call_keys"] != load.llm_calls:
        raise SystemExit(f"expected each of {load.llm_calls} LLM calls once, got {arrived}")
    gzip_total = sum(arrived["gzip_bytes"].values())
    result = {
        "name": "backfill",
        "machine": machine(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "workload": load.describe() | {"records": records},
        "goals": {"seconds": GOAL_SECONDS, "gzip_bytes_per_llm_call": GOAL_GZIP_BYTES_PER_CALL},
        "seconds": round(seconds, 2),
        "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "records_per_s": round(records / seconds),
        "gzip_bytes_per_llm_call": round(gzip_total / load.llm_calls, 1),
        "gzip_bytes_per_llm_call_by_signal": {
            signal: round(size / load.llm_calls, 1) for signal, size in arrived["gzip_bytes"].items()
        },
        "raw_bytes_per_llm_call": round(sum(arrived["raw_bytes"].values()) / load.llm_calls, 1),
        "delivered": arrived,
        "command_output": done.stdout.strip(),
    }
    path = write_result("backfill", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
