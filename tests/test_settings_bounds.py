"""Settings that used to be accepted and then crashed, hung or failed every send are refused by
``ClientSettings.from_env`` with a SettingsError naming the variable (the CLI's exit code 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hive_otel.cli.client import EXIT_CONFIG
from hive_otel.settings import MAX_SECONDS, MAX_TIMEOUT_MS, ClientSettings, SettingsError, parse_key_values

ROOT = Path(__file__).resolve().parents[1]
FLOAT_SETTINGS = (
    "HIVE_OTEL_BACKFILL_TIMEOUT_S",
    "HIVE_OTEL_WATCH_INTERVAL_S",
    "HIVE_OTEL_JOIN_WINDOW_S",
    "HIVE_OTEL_HEARTBEAT_S",
    "HIVE_OTEL_QUOTA_REFRESH_S",
)


def _from_env(tmp_path: Path, **env: str) -> ClientSettings:
    return ClientSettings.from_env({"HIVE_HOME": str(tmp_path), **env})


@pytest.mark.parametrize("name", FLOAT_SETTINGS)
@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e300", "1e400", "1000000001"])
def test_float_settings_must_be_finite_and_bounded(tmp_path: Path, name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as err:
        _from_env(tmp_path, **{name: raw})
    assert str(err.value).startswith(f"{name}: ")
    assert raw in str(err.value)


@pytest.mark.parametrize("name", FLOAT_SETTINGS)
def test_float_settings_accept_the_bound(tmp_path: Path, name: str) -> None:
    settings = _from_env(tmp_path, **{name: "1e9"})
    assert getattr(settings, name.removeprefix("HIVE_OTEL_").lower()) == MAX_SECONDS


def test_join_window_at_the_bound_fits_int64_nanoseconds(tmp_path: Path) -> None:
    settings = _from_env(tmp_path, HIVE_OTEL_JOIN_WINDOW_S="1e9")
    assert int(settings.join_window_s * 1e9) < 2**63


@pytest.mark.parametrize("raw", [str(MAX_TIMEOUT_MS + 1), "100000000000000000000", "9" * 5000])
def test_otlp_timeout_is_bounded(tmp_path: Path, raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^OTEL_EXPORTER_OTLP_TIMEOUT: "):
        _from_env(tmp_path, OTEL_EXPORTER_OTLP_TIMEOUT=raw)


def test_otlp_timeout_accepts_the_bound(tmp_path: Path) -> None:
    assert _from_env(tmp_path, OTEL_EXPORTER_OTLP_TIMEOUT=str(MAX_TIMEOUT_MS)).timeout_ms == MAX_TIMEOUT_MS


@pytest.mark.parametrize("name", ["HIVE_OTEL_OUTBOX_MAX_BYTES", "HIVE_OTEL_MAX_REQUEST_BYTES", "HIVE_OTEL_QUEUE_SIZE"])
def test_huge_integers_are_kept_where_nothing_overflows(tmp_path: Path, name: str) -> None:
    # Only compared with Python ints (lengths, counts): no bound is needed. The outbox holds at least one request.
    _from_env(tmp_path, **{"HIVE_OTEL_OUTBOX_MAX_BYTES": str(10**30), name: str(10**30)})


@pytest.mark.parametrize("name", ["HIVE_OTEL_ENDPOINT", "HIVE_OTEL_QUOTA_URL"])
@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:65536",
        "http://127.0.0.1:0",
        "http://127.0.0.1:-1",
        "http://127.0.0.1:abc",
        "grpc://127.0.0.1:4317",
    ],
)
def test_bad_base_urls(tmp_path: Path, name: str, url: str) -> None:
    with pytest.raises(SettingsError) as err:
        _from_env(tmp_path, **{name: url})
    assert str(err.value).startswith(f"{name}: ")
    assert repr(url) in str(err.value)


@pytest.mark.parametrize(
    "url", ["http://[::1]:4318", "http://127.0.0.1:65535", "http://127.0.0.1:1", "https://otel.example.com/", "http://h:"]
)
def test_good_base_urls(tmp_path: Path, url: str) -> None:
    assert _from_env(tmp_path, HIVE_OTEL_ENDPOINT=url).endpoint == url.rstrip("/")


@pytest.mark.parametrize(
    "raw",
    [
        "api-key=a%0Ab",  # LF: http.client raises on every send
        "api-key=a%0Db",  # CR
        "api-key=a%00b",  # NUL
        "api-key=a%01b",
        "api-key=a%7Fb",  # DEL
        "api-key=%FF",  # not UTF-8: decodes to U+FFFD, not latin-1
        "api-key=%E2%82%AC",  # € is UTF-8 but not latin-1
        "api key=v",  # a space in a name: a receiver answers 400 (dead letters)
        "api%20key=v",
        "x(y)=v",
        "x:y=v",
        "x%0Ay=v",
        "caf%C3%A9=v",
    ],
)
def test_bad_http_headers(tmp_path: Path, raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^OTEL_EXPORTER_OTLP_HEADERS: "):
        _from_env(tmp_path, OTEL_EXPORTER_OTLP_HEADERS=raw)


@pytest.mark.parametrize("raw", ["x!y=v", "x~y=v", "x-bin=v", "api-key=caf%C3%A9", "api-key=a%09b", "api-key=a%0Ab"])
def test_bad_grpc_metadata(tmp_path: Path, raw: str) -> None:
    # Each of these fails every gRPC call ("Invalid metadata", or a TypeError for -bin keys).
    with pytest.raises(SettingsError, match=r"^OTEL_EXPORTER_OTLP_HEADERS: "):
        _from_env(tmp_path, OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_EXPORTER_OTLP_HEADERS=raw)


def test_header_errors_do_not_echo_the_value(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        _from_env(tmp_path, OTEL_EXPORTER_OTLP_HEADERS="api-key=s3cret%0A")
    assert "s3cret" not in str(err.value)
    assert "'api-key'" in str(err.value) and "'\\n'" in str(err.value)


@pytest.mark.parametrize("token", ["abc\ndef", "abc\x00", "\u20ac"])
def test_bad_token(tmp_path: Path, token: str) -> None:
    with pytest.raises(SettingsError, match=r"^HIVE_OTEL_TOKEN: "):
        _from_env(tmp_path, HIVE_OTEL_TOKEN=token)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("api-key=abc%20def", {"api-key": "abc def"}),
        ("X-Scope-OrgID=tenant-1,api-key=a=b", {"X-Scope-OrgID": "tenant-1", "api-key": "a=b"}),
        ("x!#$%25&'*+-.^_`|~y=v", {"x!#$%&'*+-.^_`|~y": "v"}),
        ("api-key=a%09b", {"api-key": "a\tb"}),  # a tab is allowed inside an HTTP field value
        ("api-key=caf%C3%A9", {"api-key": "caf\u00e9"}),  # latin-1 goes over HTTP
        ("api-key=", {"api-key": ""}),
    ],
)
def test_good_http_headers(tmp_path: Path, raw: str, expected: dict[str, str]) -> None:
    assert _from_env(tmp_path, OTEL_EXPORTER_OTLP_HEADERS=raw).headers == expected


def test_good_grpc_metadata(tmp_path: Path) -> None:
    settings = _from_env(
        tmp_path,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_HEADERS="X-Scope-OrgID=t_1.a,api-key=abc%20def~!",
        HIVE_OTEL_TOKEN="tok.en-1",
    )
    assert settings.headers == {"X-Scope-OrgID": "t_1.a", "api-key": "abc def~!", "authorization": "Bearer tok.en-1"}


def test_resource_attributes_keep_any_string(tmp_path: Path) -> None:
    raw = "team name=a%0Ab,x=%FF,y=%E2%82%AC"
    settings = _from_env(tmp_path, OTEL_RESOURCE_ATTRIBUTES=raw)
    assert settings.resource_attributes == {"team name": "a\nb", "x": "\ufffd", "y": "\u20ac"}
    assert parse_key_values(raw, "OTEL_RESOURCE_ATTRIBUTES") == settings.resource_attributes


def test_backfill_with_an_out_of_range_port_exits_2_with_one_line(tmp_path: Path) -> None:
    home, state = tmp_path / "hive", tmp_path / "state"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIVE_", "OTEL_"))}
    env.update(HIVE_OTEL_ENDPOINT="http://127.0.0.1:99999", HIVE_OTEL_STATE_DIR=str(state))
    done = subprocess.run(
        [sys.executable, "-m", "hive_otel.cli", "backfill", "--hive-home", str(home)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == EXIT_CONFIG, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("hive-otel: HIVE_OTEL_ENDPOINT: ")
    assert "99999" in lines[0] and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_an_outbox_cap_smaller_than_one_request_is_refused_naming_both(tmp_path: Path) -> None:
    """Such an outbox refuses every full-size request: a backfill exited 6 on every run, blaming the receiver."""
    with pytest.raises(SettingsError) as err:
        _from_env(tmp_path, HIVE_OTEL_OUTBOX_MAX_BYTES="400000")
    message = str(err.value)
    assert message.startswith("HIVE_OTEL_OUTBOX_MAX_BYTES: ")
    assert "400000" in message and "HIVE_OTEL_MAX_REQUEST_BYTES" in message and "4194304" in message
    with pytest.raises(SettingsError, match="HIVE_OTEL_MAX_REQUEST_BYTES=131072"):
        _from_env(tmp_path, HIVE_OTEL_OUTBOX_MAX_BYTES="100000", HIVE_OTEL_MAX_REQUEST_BYTES="131072")
    fitting = _from_env(tmp_path, HIVE_OTEL_OUTBOX_MAX_BYTES="400000", HIVE_OTEL_MAX_REQUEST_BYTES="400000")
    assert fitting.outbox_max_bytes == fitting.max_request_bytes == 400000


def _backfill_empty_home(tmp_path: Path, *flags: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``hive-otel backfill`` of an empty Hive home, with only these variables besides the endpoint and state."""
    home = tmp_path / "hive"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIVE_", "OTEL_"))}
    env.update(HIVE_OTEL_ENDPOINT="http://127.0.0.1:9", HIVE_OTEL_STATE_DIR=str(tmp_path / "state"), **variables)
    return subprocess.run(
        [sys.executable, "-m", "hive_otel.cli", "backfill", "--hive-home", str(home), *flags],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_backfill_with_an_outbox_cap_below_the_request_size_exits_2_before_reading(tmp_path: Path) -> None:
    done = _backfill_empty_home(tmp_path, HIVE_OTEL_OUTBOX_MAX_BYTES="400000")
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert done.stderr.startswith("hive-otel: HIVE_OTEL_OUTBOX_MAX_BYTES: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()  # refused before any state is made


@pytest.mark.parametrize(
    ("name", "field", "flag_value"),
    [("HIVE_OTEL_BACKFILL_TIMEOUT_S", "backfill_timeout_s", 2.0), ("HIVE_OTEL_WATCH_INTERVAL_S", "watch_interval_s", 1.0)],
)
def test_a_given_flag_wins_and_its_variable_is_not_read(tmp_path: Path, name: str, field: str, flag_value: float) -> None:
    """`--timeout 2` with HIVE_OTEL_BACKFILL_TIMEOUT_S=abc exited 2 ("expected a number"): the variable was
    parsed before the flag replaced it."""
    for bad in ("abc", "nan", "-1"):
        settings = ClientSettings.from_env({"HIVE_HOME": str(tmp_path), name: bad}, **{field: flag_value})
        assert getattr(settings, field) == flag_value
        with pytest.raises(SettingsError, match=f"^{name}: "):  # without the flag it is still refused
            _from_env(tmp_path, **{name: bad})


def test_backfill_with_a_timeout_flag_ignores_a_bad_timeout_variable(tmp_path: Path) -> None:
    done = _backfill_empty_home(tmp_path, "--timeout", "2", HIVE_OTEL_BACKFILL_TIMEOUT_S="abc")
    assert done.returncode == 0, done.stderr  # an empty home: nothing to deliver
    assert "HIVE_OTEL_BACKFILL_TIMEOUT_S" not in done.stderr
