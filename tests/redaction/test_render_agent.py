"""collector/agent.yaml's policy processors are generated from collector/redaction.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from hive_otel.client.redaction import RedactionPolicy
from hive_otel.client.redaction.render_agent import main, policy_processors, render_agent

REPO = Path(__file__).resolve().parents[2]
POLICY_FILE = REPO / "collector" / "redaction.yaml"
AGENT_FILE = REPO / "collector" / "agent.yaml"


def policy(**changes: object) -> RedactionPolicy:
    return RedactionPolicy.from_mapping(RedactionPolicy.load(POLICY_FILE).model_dump() | changes)


def test_agent_config_is_current_with_the_policy() -> None:
    text = AGENT_FILE.read_text()
    assert render_agent(RedactionPolicy.load(POLICY_FILE), text) == text, (
        "collector/agent.yaml drifted from collector/redaction.yaml: "
        "run python -m hive_otel.client.redaction.render_agent"
    )


def test_agent_enforces_the_allowlist_and_patterns_of_the_policy() -> None:
    loaded = RedactionPolicy.load(POLICY_FILE)
    config = yaml.safe_load(AGENT_FILE.read_text())
    redaction = config["processors"]["redaction/policy"]
    assert redaction["allow_all_keys"] is False
    assert set(redaction["allowed_keys"]) | set(redaction["ignored_keys"]) == loaded.exported_keys
    assert "service.name" in redaction["allowed_keys"]
    assert redaction["blocked_values"] == list(loaded.blocked_values)
    for pipeline in config["service"]["pipelines"].values():
        processors = pipeline["processors"]
        assert processors.index("redaction/policy") < processors.index("transform/policy") < processors.index("batch")


def test_agent_listens_on_loopback_only() -> None:
    config = yaml.safe_load(AGENT_FILE.read_text())
    endpoints = [protocol["endpoint"] for protocol in config["receivers"]["otlp"]["protocols"].values()]
    endpoints.append(config["extensions"]["health_check"]["endpoint"])
    assert endpoints and all(endpoint.startswith("127.0.0.1:") for endpoint in endpoints)
    assert config["service"]["telemetry"]["metrics"]["level"] == "none"


def test_opt_ins_change_the_generated_statements() -> None:
    strict = policy_processors(policy())["transform/policy"]
    relaxed = policy_processors(
        policy(opt_in={"allowed_keys": ["hive.error.message"], "status_messages": True, "log_bodies": True})
    )
    span_statements = relaxed["transform/policy"]["trace_statements"][0]["statements"]
    assert 'set(span.status.message, "")' in strict["trace_statements"][0]["statements"]
    assert "set(log.body, nil)" in strict["log_statements"][0]["statements"]
    assert any(statement.startswith("replace_pattern(span.status.message,") for statement in span_statements)
    assert "set(log.body, nil)" not in relaxed["transform/policy"]["log_statements"][0]["statements"]
    assert "hive.error.message" in relaxed["redaction/policy"]["allowed_keys"]


def test_dollar_signs_are_escaped_from_collector_env_expansion() -> None:
    processors = policy_processors(policy(blocked_values=[r"secret$"]))
    assert processors["redaction/policy"]["blocked_values"] == ["secret$$"]
    assert '"(?:secret$$)"' in processors["transform/policy"]["trace_statements"][0]["statements"][0]


def test_command_checks_and_rewrites(tmp_path: Path, capsys) -> None:
    agent = tmp_path / "agent.yaml"
    agent.write_text(AGENT_FILE.read_text())
    changed = tmp_path / "redaction.yaml"
    document = yaml.safe_load(POLICY_FILE.read_text())
    document["opt_in"]["allowed_keys"] = ["hive.error.message"]
    changed.write_text(yaml.safe_dump(document))

    assert main(["--policy", str(POLICY_FILE), "--agent", str(agent), "--check"]) == 0
    assert main(["--policy", str(changed), "--agent", str(agent), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--policy", str(changed), "--agent", str(agent)]) == 0
    assert "- hive.error.message" in agent.read_text()
    assert main(["--policy", str(changed), "--agent", str(agent), "--check"]) == 0
    agent.write_text("processors: {}\n")
    assert main(["--policy", str(POLICY_FILE), "--agent", str(agent)]) == 2
