"""collector/agent-loadbalancing.yaml over collector/agent.yaml is a configuration the real agent accepts,
it routes by a resource attribute every record of the client carries, and a workload spread by it
over two collector processes is counted exactly (docs/scaling.md)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

import yaml

from devtools import clickhouse_http
from devtools.workload import write_workload
from hive_otel.cli.client import EXIT_OK, backfill
from hive_otel.client.redaction import RedactionPolicy
from hive_otel.collector.auth.tokens import add_token
from hive_otel.collector.store.store import open_store
from tests.collector.test_two_collectors import KEYS, _actual, _expected, collector_process
from tests.redaction._otelcol import AGENT_CONFIG, REPO, Agent, free_port, otelcol_binary
from tests.test_end_to_end import _settings, wait_healthy

OVERLAY = REPO / "collector" / "agent-loadbalancing.yaml"


def test_the_agent_validates_the_overlay(tmp_path) -> None:
    env = {
        **os.environ,
        "HIVE_OTEL_UPSTREAM": "http://127.0.0.1:9",
        "HIVE_OTEL_UPSTREAM_TOKEN": "token",
        "HIVE_OTEL_AGENT_STATE_DIR": str(tmp_path),
        "HIVE_OTEL_COLLECTORS_DNS": "collectors.invalid",
    }
    command = [str(otelcol_binary()), "validate", "--config", str(AGENT_CONFIG), "--config", str(OVERLAY)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_signal_goes_through_the_balancer_keyed_by_an_exported_resource_attribute() -> None:
    overlay = yaml.safe_load(OVERLAY.read_text())
    exporter = overlay["exporters"]["load_balancing"]
    assert exporter["routing_key"] == "attributes"
    assert exporter["routing_attributes"] == ["hive.root_session.id"]
    assert "hive.root_session.id" in RedactionPolicy.load(None).exported_keys
    assert {name: p["exporters"] for name, p in overlay["service"]["pipelines"].items()} == {
        "traces": ["load_balancing"], "logs": ["load_balancing"], "metrics": ["load_balancing"]
    }


def test_the_agent_spreads_a_workload_over_two_collectors_and_the_totals_stay_exact(tmp_path) -> None:
    """Client → otelcol-hive with this overlay → two ``hive-otel collector`` processes → one store.

    Real parts: the agent and its load_balancing exporter, two collector processes with a tokens
    file (the agent's token goes as a header over plain gRPC, as the overlay's insecure setting on a
    private network does), the client's backfill, the ClickHouse engine. Stand-ins: the store is chDB
    behind ClickHouse's HTTP interface in its own process (devtools/clickhouse_http.py; no server can
    run here), and the overlay's DNS resolver becomes the exporter's static one listing the two
    collectors (a DNS name cannot resolve to two loopback ports without editing /etc/hosts).

    The workload has 13 session trees, which the exporter's ring places by a hash of its endpoints
    (random ports here): all on one collector has a chance of 2 in 2^13. The default workload's 5
    left one collector without spans in about one run in sixteen.
    """
    home = tmp_path / "home"
    truth = write_workload(home, queens=10, colonies=2, workers_per_colony=2, turns_per_session=4, seed=17)
    server, store_url = clickhouse_http.start(tmp_path / "clickhouse", tmp_path / "clickhouse.log")
    tokens, token = tmp_path / "tokens.yaml", "lb-agent-token-0123456789"
    add_token(tokens, token, tenant="lb")
    ports = [(free_port(), free_port()) for _ in range(2)]
    collectors = [
        collector_process(store_url, http, tmp_path / f"collector-{http}.log", "--grpc", f"127.0.0.1:{grpc}",
                          "--tokens", str(tokens))
        for grpc, http in ports
    ]  # fmt: skip
    overlay = yaml.safe_load(OVERLAY.read_text())
    overlay["exporters"]["load_balancing"]["resolver"] = {"static": {"hostnames": [f"127.0.0.1:{g}" for g, _ in ports]}}
    static_overlay = tmp_path / "agent-loadbalancing-static.yaml"
    static_overlay.write_text(yaml.safe_dump(overlay))
    env = {"HIVE_OTEL_COLLECTORS_DNS": "unused", "HIVE_OTEL_COLLECTORS_TLS_INSECURE": "true"}
    agent = Agent("http://127.0.0.1:9", token, tmp_path / "agent", tmp_path / "agent.log", (static_overlay,), env)
    store = None
    try:
        for (proc, log), (_, http) in zip(collectors, ports, strict=True):
            wait_healthy(proc, http, log)
        agent.wait_healthy()
        settings = _settings(home, tmp_path / "state", f"http://127.0.0.1:{agent.grpc_port}", "lb",
                             OTEL_EXPORTER_OTLP_PROTOCOL="grpc")  # fmt: skip
        assert backfill(settings, timeout_s=180) == EXIT_OK
        store = open_store(store_url, migrate=False)
        deadline = time.monotonic() + 120
        while True:  # the agent acknowledged everything; wait until it has forwarded all of it
            store.settle()
            try:
                for key in KEYS:
                    assert _actual(store, key, "lb") == _expected(truth, key), key
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise AssertionError(agent.log_tail()) from None
                time.sleep(1)
        spans = [_accepted(http).get("traces", 0) for _, http in ports]
        assert all(spans), f"the agent sent every span to one collector: {spans}"
    finally:
        if store is not None:
            store.close()
        agent.stop()
        for proc, _ in collectors:
            proc.terminate()
            proc.wait(30)
        server.terminate()
        server.wait(30)


def _accepted(http: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5) as response:
        return json.load(response)["counters"]["items_accepted"]
