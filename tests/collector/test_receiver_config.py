"""ReceiverConfig: defaults in one place, flags over environment over defaults, errors name the key."""

from __future__ import annotations

import pytest

from hive_otel.collector.config import (
    HostPort,
    ReceiverConfig,
    parse_host_port,
)
from hive_otel.environment_variables import HIVE_OTEL_COLLECTOR_MAX_BODY
from hive_otel.settings import SettingsError


def test_empty_environment_gives_exactly_the_defaults() -> None:
    config = ReceiverConfig.from_env({})
    assert config == ReceiverConfig()
    assert (config.grpc_endpoint, config.http_endpoint, config.max_body) == (
        HostPort("127.0.0.1", 4317),
        HostPort("127.0.0.1", 4318),
        16 * 1024 * 1024,
    )


def test_flags_win_over_the_environment() -> None:
    env = {HIVE_OTEL_COLLECTOR_MAX_BODY: "1000"}
    assert ReceiverConfig.from_env(env).max_body == 1000
    config = ReceiverConfig.from_env(env, grpc="127.0.0.2:14317", http="[::1]:0", max_body=2000)
    assert (config.grpc_endpoint, config.http_endpoint, config.max_body) == (
        HostPort("127.0.0.2", 14317),
        HostPort("::1", 0),
        2000,
    )
    assert str(config.http_endpoint) == "[::1]:0"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("4317", "expected HOST:PORT"),
        (":4317", "expected HOST:PORT"),
        ("localhost:http", "port must be an integer"),
        ("127.0.0.1:70000", "between 0 and 65535"),
        ("::1:4317", "brackets"),
        ("[::1]4317", "[IPV6]:PORT"),
        ("[not-v6]:4317", "not an IPv6 address"),
    ],
)
def test_bad_listen_addresses_name_the_flag(raw: str, words: str) -> None:
    with pytest.raises(SettingsError) as error:
        parse_host_port(raw, "--grpc")
    assert str(error.value).startswith("--grpc: ")
    assert words in str(error.value)


@pytest.mark.parametrize(
    ("env", "overrides", "words"),
    [
        ({HIVE_OTEL_COLLECTOR_MAX_BODY: "lots"}, {}, f"{HIVE_OTEL_COLLECTOR_MAX_BODY}: expected a size"),
        ({HIVE_OTEL_COLLECTOR_MAX_BODY: "0"}, {}, f"{HIVE_OTEL_COLLECTOR_MAX_BODY}: must be positive"),
        ({}, {"max_body": -1}, "--max-body: must be positive"),
        ({}, {"http": "nope"}, "--http: expected HOST:PORT"),
    ],
)
def test_bad_settings_fail_before_anything_starts(env: dict[str, str], overrides: dict, words: str) -> None:
    with pytest.raises(SettingsError) as error:
        ReceiverConfig.from_env(env, **overrides)
    assert words in str(error.value)


def test_inconsistent_tuning_is_refused() -> None:
    with pytest.raises(SettingsError, match="grpc_workers"):
        ReceiverConfig(grpc_workers=2, max_inflight_ingests=4)
    with pytest.raises(SettingsError, match="busy_wait_s"):
        ReceiverConfig(busy_wait_s=-1)
