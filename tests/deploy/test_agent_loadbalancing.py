"""collector/agent-loadbalancing.yaml over collector/agent.yaml is a configuration the real agent accepts,
and it routes by a resource attribute every record of the client carries (docs/scaling.md)."""

from __future__ import annotations

import os
import subprocess

import yaml

from hive_otel.client.redaction import RedactionPolicy
from tests.redaction._otelcol import AGENT_CONFIG, REPO, otelcol_binary

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
