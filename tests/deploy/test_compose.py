"""deploy/docker-compose.yml validates against the Compose Specification and is wired the way it says.

No Docker engine runs here, so nothing is started (`make stack` runs the same services as processes,
tests/deploy/test_stack.py). The schema is the Compose Specification's JSON schema as vendored by
check-jsonschema 0.39.0 (see testdata/README.md); it is draft 2020-12 and rejects unknown keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from devtools.stack import build_parser
from hive_otel.collector.auth.tokens import TokenTable

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_TEXT = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SCHEMA = json.loads((Path(__file__).parent / "testdata" / "compose-spec.json").read_text(encoding="utf-8"))
ENV_EXAMPLE = dict(
    line.split("=", 1)
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a literal $.
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA, format_checker=cls.FORMAT_CHECKER)


def _interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, operator, argument = match[1], match[2], match[3]
        if name in env and (env[name] or not operator or not operator.startswith(":")):
            return env[name]
        if operator and operator.endswith("-"):
            return argument
        raise AssertionError(f"${{{name}}} is unset: {argument or 'no default'}")

    return INTERPOLATION.sub(value, text)


def test_validates_against_the_compose_specification() -> None:
    errors = sorted(_validator().iter_errors(COMPOSE), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_validates_after_interpolation_with_the_example_env() -> None:
    """What `docker compose` sees with deploy/.env copied from .env.example: every variable resolves."""
    resolved = yaml.safe_load(_interpolate(COMPOSE_TEXT, ENV_EXAMPLE))
    errors = list(_validator().iter_errors(resolved))
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)
    assert resolved["services"]["hive-otel-collector"]["environment"]["HIVE_CLICKHOUSE_URL"] == (
        f"http://{ENV_EXAMPLE['CLICKHOUSE_USER']}:{ENV_EXAMPLE['CLICKHOUSE_PASSWORD']}@clickhouse:8123/"
        f"{ENV_EXAMPLE['CLICKHOUSE_DB']}"
    )


def test_the_schema_catches_mistakes() -> None:
    """A control: a misspelt key and a wrong type are errors, so a pass above means something."""
    broken = yaml.safe_load(COMPOSE_TEXT)
    broken["services"]["clickhouse"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["grafana"]["ports"] = "3000"
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_required_variables_are_in_the_example_env_and_secrets_only_come_from_it() -> None:
    for match in INTERPOLATION.finditer(COMPOSE_TEXT):
        name, operator = match[1], match[2]
        if operator in (":?", "?", None):
            assert name in ENV_EXAMPLE, f"${{{name}}} has no default and is not in .env.example"
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert INTERPOLATION.fullmatch(str(value)), f"{name}: {key} must come from deploy/.env"
    for key, value in ENV_EXAMPLE.items():
        if re.search(r"PASSWORD|TOKEN|SECRET", key):
            assert value not in COMPOSE_TEXT, f"the value of {key} is written into the compose file"
    for userinfo in re.findall(r"://([^@/\s]+)@", COMPOSE_TEXT):  # credentials in URLs are interpolated too
        assert all(INTERPOLATION.fullmatch(part) for part in userinfo.split(":")), userinfo


def test_images_are_pinned() -> None:
    pyproject_version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)[1]
    agent_version = yaml.safe_load((REPO / "collector" / "builder-config.yaml").read_text())["dist"]["version"]
    for name, service in SERVICES.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"\d+(\.\d+)+", tag), f"{name}: {image} is not pinned to a version"
        if "build" in service:  # built here: named after the package version
            assert tag == pyproject_version, name
    assert SERVICES["otel-agent"]["image"] == f"otel/opentelemetry-collector-contrib:{agent_version}"
    assert SERVICES["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana:")
    plugin = SERVICES["grafana"]["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    assert re.fullmatch(r"grafana-clickhouse-datasource@\d+\.\d+\.\d+", plugin)


def test_every_service_has_a_healthcheck_or_says_why_not() -> None:
    for name, service in SERVICES.items():
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        else:
            reason = service.get("x-no-healthcheck", "")
            assert len(reason) > 40, f"{name}: no healthcheck and no x-no-healthcheck reason"


def test_start_order_waits_on_health() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits on {dependency}'s health, which it has not"
    assert SERVICES["hive-otel-collector"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert SERVICES["grafana"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert SERVICES["otel-agent"]["depends_on"]["hive-otel-collector"]["condition"] == "service_healthy"


def test_data_lives_in_named_volumes_and_ports_stay_on_loopback() -> None:
    named = set(COMPOSE["volumes"])
    for name, expected in (("clickhouse", "/var/lib/clickhouse"), ("grafana", "/var/lib/grafana"),
                           ("otel-agent", "/var/lib/otelcol"), ("demo", "/var/lib/hive-otel")):  # fmt: skip
        mounts = {m.split(":")[1]: m.split(":")[0] for m in SERVICES[name]["volumes"]}
        assert mounts.get(expected) in named, f"{name}: {expected} is not a named volume"
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_bind_mounts_exist() -> None:
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"


def test_the_agent_gets_every_variable_its_config_requires() -> None:
    agent_yaml = (REPO / "collector" / "agent.yaml").read_text()
    required = set(re.findall(r"\$\{env:(\w+)\}", agent_yaml))  # no :-default
    assert required == set(SERVICES["otel-agent"]["environment"])
    assert SERVICES["otel-agent"]["environment"]["HIVE_OTEL_UPSTREAM"] == "http://hive-otel-collector:4318"
    assert "../collector/agent.yaml:/etc/hive-otel/agent.yaml:ro" in SERVICES["otel-agent"]["volumes"]


def test_the_collector_needs_a_token_and_the_example_token_is_listed() -> None:
    command = SERVICES["hive-otel-collector"]["command"]
    tokens_path = command[command.index("--tokens") + 1]
    assert f"./tokens.yaml:{tokens_path}:ro" in SERVICES["hive-otel-collector"]["volumes"]
    table = TokenTable.load(DEPLOY / "tokens.yaml")
    grant = table.lookup(ENV_EXAMPLE["HIVE_OTEL_TOKEN"])
    assert grant is not None and grant.tenant == "demo" and not grant.admin
    assert hashlib.sha256(ENV_EXAMPLE["HIVE_OTEL_TOKEN"].encode()).hexdigest() in (DEPLOY / "tokens.yaml").read_text()


def test_the_demo_runs_the_stack_module_through_the_agent() -> None:
    demo = SERVICES["demo"]
    assert demo["network_mode"] == "service:otel-agent"  # the agent listens on its own loopback only
    assert demo["environment"]["HIVE_OTEL_ENDPOINT"] == "http://127.0.0.1:4318"
    assert demo["entrypoint"][:3] == ["python", "-m", "devtools.stack"]
    args = build_parser().parse_args([*demo["entrypoint"][3:], *demo["command"]])
    assert args.action == "demo-client" and args.agent_health == "http://127.0.0.1:13133/"


@pytest.mark.parametrize("service", ["hive-otel-collector", "demo"])
def test_built_services_use_the_dockerfile(service: str) -> None:
    build = SERVICES[service]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
