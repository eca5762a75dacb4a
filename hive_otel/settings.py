"""Client settings resolved from arguments, then the environment, then defaults.

Bad values fail here, before anything starts, with an error that names the variable.
"""

from __future__ import annotations

import math
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from hive_otel import environment_variables as ev

if TYPE_CHECKING:
    import ssl  # imported when a context is built: most runs have no TLS files, and ssl takes ~9 ms to import

DEFAULT_OUTBOX_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024  # an OpenTelemetry Collector's default gRPC message limit
MIN_MAX_REQUEST_BYTES = 64 * 1024  # below this a plain LLM call with its attributes may not fit
DEFAULT_QUEUE_SIZE = 65536
DEFAULT_JOIN_WINDOW_S = 5.0
DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_HEARTBEAT_S = 15.0
DEFAULT_QUOTA_REFRESH_S = 30.0
DEFAULT_BACKFILL_TIMEOUT_S = 600.0
DEFAULT_WATCH_INTERVAL_S = 1.0
PROTOCOLS = ("http/protobuf", "grpc")
# The largest duration any setting may hold (about 31 years: longer than any sane wait). Far beyond it
# things break later instead of here: a socket timeout or Event.wait overflows past ~9.2e9 s, a gRPC
# deadline past that fails every call at once, and the join window is counted in int64 nanoseconds.
MAX_SECONDS = 1e9
MAX_TIMEOUT_MS = int(MAX_SECONDS * 1000)  # OTEL_EXPORTER_OTLP_TIMEOUT is in milliseconds (the OTel spec's unit)
# RFC 9110 tchar: what an HTTP header name may hold. gRPC metadata keys are narrower (lowercased by the
# exporter): letters, digits, '-', '_' and '.'.
_HTTP_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_GRPC_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


def hive_home(env: dict[str, str] | None = None) -> Path:
    """Hive's data root, resolved as Hive resolves it (``HIVE_HOME``, else ``~/.hive``)."""
    env = os.environ if env is None else env
    raw = env.get(ev.HIVE_HOME, "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".hive"


def parse_key_values(raw: str, name: str) -> dict[str, str]:
    """Parse the ``k1=v1,k2=v2`` form used by OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS."""
    out: dict[str, str] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{name}: expected key=value pairs separated by commas, got {part!r}")
        out[unquote(key.strip())] = unquote(value.strip())
    return out


def _headers(env: dict[str, str], protocol: str) -> dict[str, str]:
    """OTEL_EXPORTER_OTLP_HEADERS, checked as what they become: HTTP header fields, or gRPC metadata.

    A name or value the transport cannot carry fails every send (http.client raises on CR/LF, latin-1
    encoding fails, gRPC rejects the metadata, a receiver answers 400), so the data would be retried
    forever or dead-lettered; it fails here instead. OTEL_RESOURCE_ATTRIBUTES, parsed alike, takes any string.
    """
    name = ev.OTEL_EXPORTER_OTLP_HEADERS
    headers = parse_key_values(env.get(name, ""), name)
    grpc = protocol == "grpc"
    for key, value in headers.items():
        problem = _header_name_problem(key, grpc)
        if problem:
            raise SettingsError(f"{name}: header name {key!r} {problem}")
        problem = _header_value_problem(value, grpc)
        if problem:
            # The value itself is not shown: headers usually carry credentials.
            raise SettingsError(f"{name}: the value of header {key!r} (after percent-decoding) {problem}")
    return headers


def _header_name_problem(key: str, grpc: bool) -> str | None:
    """Why ``key`` cannot be a header name (None: it can)."""
    if grpc:
        if not set(key) <= _GRPC_KEY_CHARS:
            return "is not a gRPC metadata key (letters, digits, '-', '_' and '.' only)"
        if key.lower().endswith("-bin"):
            return "ends in '-bin', which gRPC reserves for binary values"
    elif not set(key) <= _HTTP_TOKEN_CHARS:
        return "is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)"
    return None


def _header_value_problem(value: str, grpc: bool) -> str | None:
    """Why ``value`` cannot be sent as a header value (None: it can): HTTP sends latin-1 without control
    characters (tab allowed); gRPC metadata takes printable ASCII only."""
    for char in value:
        code = ord(char)
        # A %-escape that is not UTF-8 decodes to U+FFFD.
        hint = " (a percent-escape that is not UTF-8)" if char == "\ufffd" else ""
        if (code < 0x20 and char != "\t") or code == 0x7F:
            return f"contains the control character {char!r}"
        if grpc and not 0x20 <= code <= 0x7E:
            return f"contains {char!r}{hint}: gRPC metadata takes printable ASCII only"
        if code > 0xFF:
            return f"contains {char!r}{hint}: HTTP header values are latin-1"
    return None


def _positive_float(env: dict[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {value}")
    return value


def _timeout_ms(env: dict[str, str]) -> int:
    """OTEL_EXPORTER_OTLP_TIMEOUT in milliseconds, at most :data:`MAX_TIMEOUT_MS`: a larger one overflows
    the socket timeout (OverflowError) or the gRPC deadline (DEADLINE_EXCEEDED at once) on every send."""
    name = ev.OTEL_EXPORTER_OTLP_TIMEOUT
    value = _int(env, name, DEFAULT_TIMEOUT_MS)
    if value > MAX_TIMEOUT_MS:
        raise SettingsError(f"{name}: must be at most {MAX_TIMEOUT_MS} milliseconds ({MAX_SECONDS:g} s), got {value}")
    return value


def _outbox_max_bytes(env: dict[str, str], max_request_bytes: int) -> int:
    """HIVE_OTEL_OUTBOX_MAX_BYTES, at least one request: an outbox smaller than that refuses every
    full-size request, and a backfill would stop with "did not fit" on every run whatever the receiver does."""
    name = ev.HIVE_OTEL_OUTBOX_MAX_BYTES
    value = _int(env, name, DEFAULT_OUTBOX_MAX_BYTES)
    if value < max_request_bytes:
        fix = f"set {name} to at least {max_request_bytes}"
        if value >= MIN_MAX_REQUEST_BYTES:
            fix += f", or {ev.HIVE_OTEL_MAX_REQUEST_BYTES} to at most {value}"
        raise SettingsError(
            f"{name}: {value} is smaller than one request ({ev.HIVE_OTEL_MAX_REQUEST_BYTES}={max_request_bytes}), "
            f"so the outbox cannot take the requests the client builds: {fix}"
        )
    return value


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    """Seconds, from 0 to :data:`MAX_SECONDS`; NaN (compares false, so a timeout never passes and a
    poll interval busy-loops) and infinity are refused."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name}: expected a finite number, got {raw!r}")
    if value < 0:
        raise SettingsError(f"{name}: must not be negative, got {value}")
    if value > MAX_SECONDS:
        raise SettingsError(f"{name}: must be at most {MAX_SECONDS:g} seconds (about 31 years), got {raw!r}")
    return value


def _base_url(env: dict[str, str], name: str, expected: str) -> str | None:
    """The http(s) base URL ``name`` holds, without a trailing slash; None when unset."""
    url = env.get(name, "").strip()
    if not url:
        return None
    try:
        parsed = urlparse(url)  # ValueError: an unclosed IPv6 bracket
        port = parsed.port  # ValueError: not a number in 0-65535 (gRPC would silently wrap it mod 65536)
    except ValueError as err:
        raise SettingsError(f"{name}: expected {expected}, got {url!r} ({err})") from None
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name}: expected {expected}, got {url!r}")
    if port == 0:
        raise SettingsError(f"{name}: expected {expected}, got {url!r} (port 0 cannot be connected to)")
    return url.rstrip("/")


class _EncryptedKey(Exception):
    """Raised by the password callback when the client key is encrypted: no OTLP variable holds a passphrase
    (and without the callback OpenSSL would ask for one on the terminal)."""


def _refuse_password() -> str:
    raise _EncryptedKey


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY.

    They apply to ``https://`` URLs only. ``ca_file`` replaces the default roots, as in the OpenTelemetry
    exporters (gRPC's ``root_certificates``, urllib3's ``ca_certs``); without it the default roots verify the
    server (the system's; over gRPC, grpcio's bundled ones). The client certificate and its key come together
    or not at all.
    """

    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            given, missing = (
                (ev.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, ev.OTEL_EXPORTER_OTLP_CLIENT_KEY)
                if self.client_cert_file
                else (ev.OTEL_EXPORTER_OTLP_CLIENT_KEY, ev.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)
            )
            raise SettingsError(f"{given}: set without {missing}; mutual TLS needs both the client certificate and its key")

    def by_variable(self) -> dict[str, Path]:
        """The files that are set, by the variable that names each."""
        files = {
            ev.OTEL_EXPORTER_OTLP_CERTIFICATE: self.ca_file,
            ev.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: self.client_cert_file,
            ev.OTEL_EXPORTER_OTLP_CLIENT_KEY: self.client_key_file,
        }
        return {name: path for name, path in files.items() if path is not None}

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server with ``ca_file`` (else the system's roots) and presents
        the client certificate, if any.

        Raises SettingsError naming the variable whose file cannot be read, holds no PEM certificate (or
        no PEM private key), holds an encrypted key, or a key that is not the certificate's.
        """
        import ssl

        if self.ca_file is None:
            context = ssl.create_default_context()  # the system's roots
        else:  # these CAs only
            _check_certificates(ev.OTEL_EXPORTER_OTLP_CERTIFICATE, self.ca_file)
            context = ssl.create_default_context(cafile=self.ca_file)
        if self.client_cert_file is not None and self.client_key_file is not None:
            _load_client_pair(context, self.client_cert_file, self.client_key_file)
        return context

    def pem(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(CA certificates, client key, client certificate chain) as bytes, None where unset: the arguments
        of ``grpc.ssl_channel_credentials``. Raises SettingsError when a file can no longer be read."""
        return (
            _read(ev.OTEL_EXPORTER_OTLP_CERTIFICATE, self.ca_file) if self.ca_file else None,
            _read(ev.OTEL_EXPORTER_OTLP_CLIENT_KEY, self.client_key_file) if self.client_key_file else None,
            _read(ev.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, self.client_cert_file) if self.client_cert_file else None,
        )


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise SettingsError(f"{name}: cannot read {path} ({err.strerror or err})") from None


def _check_certificates(name: str, path: Path) -> None:
    """Check that ``path`` holds at least one PEM certificate that OpenSSL can parse. By path, not by text:
    OpenSSL skips what is not PEM, such as the non-ASCII comments of CA bundles (certifi's)."""
    import ssl

    _read(name, path)  # an unreadable file gets its own message
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:
        raise SettingsError(f"{name}: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)") from None


def _load_client_pair(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    """Load the client certificate and key into ``context``; each problem is reported against its variable."""
    import ssl

    cert_name, key_name = ev.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, ev.OTEL_EXPORTER_OTLP_CLIENT_KEY
    _check_certificates(cert_name, cert_file)
    key = _read(key_name, key_file)
    if b"-----BEGIN" not in key or b"PRIVATE KEY-----" not in key:
        raise SettingsError(f"{key_name}: {key_file} holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)")
    try:
        context.load_cert_chain(cert_file, key_file, password=_refuse_password)
    except _EncryptedKey:
        raise SettingsError(f"{key_name}: {key_file} is encrypted; give the key unencrypted (PEM)") from None
    except ssl.SSLError as err:
        if err.reason == "KEY_VALUES_MISMATCH":
            raise SettingsError(f"{key_name}: {key_file} is not the key of {cert_name} {cert_file}") from None
        raise SettingsError(f"{cert_name}, {key_name}: cannot load {cert_file} with {key_file} ({err})") from None
    except OSError as err:  # replaced or removed since it was read above
        raise SettingsError(f"{cert_name}, {key_name}: cannot read {err.filename or 'a file'} ({err.strerror})") from None


def _tls_files(env: dict[str, str]) -> TlsFiles | None:
    """The TLS files the environment names, checked now (whatever the endpoint's scheme: the quota URL may be
    https when the endpoint is not), so a bad one stops the start instead of failing every send; None when
    none is set. An empty variable counts as unset, as in the OpenTelemetry exporters."""

    def path(name: str) -> Path | None:
        raw = env.get(name, "").strip()
        if "-----BEGIN" in raw or "\n" in raw:  # the PEM text itself (a secret mounted as a variable): never echoed
            raise SettingsError(f"{name}: expected the path of a PEM file, got PEM text (not shown); write it to a file")
        # absolute(), not resolve(): a rotated certificate behind a symlink (a Kubernetes secret) is followed.
        return Path(raw).expanduser().absolute() if raw else None

    ca_file = path(ev.OTEL_EXPORTER_OTLP_CERTIFICATE)
    cert_file = path(ev.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)
    key_file = path(ev.OTEL_EXPORTER_OTLP_CLIENT_KEY)
    if ca_file is None and cert_file is None and key_file is None:
        return None
    files = TlsFiles(ca_file, cert_file, key_file)
    files.ssl_context()
    return files


def _exporter_options(env: dict[str, str]) -> dict[str, object]:
    """Protocol, compression, headers (with ``HIVE_OTEL_TOKEN`` as the bearer), timeout and TLS files of the exporter."""
    protocol = env.get(ev.OTEL_EXPORTER_OTLP_PROTOCOL, "").strip() or "http/protobuf"
    if protocol not in PROTOCOLS:
        raise SettingsError(f"{ev.OTEL_EXPORTER_OTLP_PROTOCOL}: expected one of {PROTOCOLS}, got {protocol!r}")
    compression = env.get(ev.OTEL_EXPORTER_OTLP_COMPRESSION, "").strip().lower() or "gzip"
    if compression not in ("gzip", "none"):
        raise SettingsError(f"{ev.OTEL_EXPORTER_OTLP_COMPRESSION}: expected gzip or none, got {compression!r}")
    headers = _headers(env, protocol)
    token = env.get(ev.HIVE_OTEL_TOKEN, "").strip()
    if token:
        problem = _header_value_problem(token, protocol == "grpc")
        if problem:  # it is sent as a header value too; not shown, it is a credential
            raise SettingsError(f"{ev.HIVE_OTEL_TOKEN}: {problem}")
        headers["authorization"] = f"Bearer {token}"
    timeout_ms = _timeout_ms(env)
    tls = _tls_files(env)
    return {"protocol": protocol, "compression": compression, "headers": headers, "timeout_ms": timeout_ms, "tls": tls}


# The fields a command-line flag may set, and their variables: a given flag wins, and its variable is left unread.
_OVERRIDDEN_VARIABLES = {
    "backfill_timeout_s": ev.HIVE_OTEL_BACKFILL_TIMEOUT_S,
    "watch_interval_s": ev.HIVE_OTEL_WATCH_INTERVAL_S,
}


def opted_in(env: dict[str, str] | None = None, *, quota: bool = False) -> bool:
    """Whether the environment turns hive-otel on: ``HIVE_OTEL_ENDPOINT`` (for the quota cache, or
    ``HIVE_OTEL_QUOTA_URL``) set, and ``OTEL_SDK_DISABLED`` not ``true``. Asked before the other settings
    are read: ``OTEL_*`` values meant for other programs (a protocol hive-otel does not speak, a CA file of
    theirs) must not fail a process that never opted in."""
    env = os.environ if env is None else env
    names = (ev.HIVE_OTEL_ENDPOINT, ev.HIVE_OTEL_QUOTA_URL) if quota else (ev.HIVE_OTEL_ENDPOINT,)
    disabled = env.get(ev.OTEL_SDK_DISABLED, "").strip().lower() == "true"
    return not disabled and any(env.get(name, "").strip() for name in names)


@dataclass(frozen=True)
class ClientSettings:
    """Everything the client side (sources → outbox → exporter) needs to know."""

    hive_home: Path
    state_dir: Path
    endpoint: str | None
    protocol: str = "http/protobuf"
    headers: dict[str, str] = field(default_factory=dict)
    compression: str = "gzip"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    tls: TlsFiles | None = None  # None: no TLS variable set (https:// verifies with the default roots)
    service_name: str = "hive"
    resource_attributes: dict[str, str] = field(default_factory=dict)
    user_id: str | None = None
    tenant_id: str | None = None
    policy_path: Path | None = None
    outbox_max_bytes: int = DEFAULT_OUTBOX_MAX_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    queue_size: int = DEFAULT_QUEUE_SIZE
    join_window_s: float = DEFAULT_JOIN_WINDOW_S
    disabled: bool = False
    heartbeat_s: float = DEFAULT_HEARTBEAT_S  # 0: no heartbeats
    quota_url: str | None = None  # None: the endpoint
    quota_refresh_s: float = DEFAULT_QUOTA_REFRESH_S
    semconv_opt_in: str = ""  # OTEL_SEMCONV_STABILITY_OPT_IN, read by hive_otel.client.mapping.semconv
    backfill_timeout_s: float = DEFAULT_BACKFILL_TIMEOUT_S
    watch_interval_s: float = DEFAULT_WATCH_INTERVAL_S

    @property
    def exporting(self) -> bool:
        """True only when the user opted in by setting an endpoint and did not disable the SDK."""
        return bool(self.endpoint) and not self.disabled

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> ClientSettings:
        """Resolve settings: explicit ``overrides`` win over ``env``, which wins over defaults."""
        env = dict(os.environ if env is None else env)
        for name, variable in _OVERRIDDEN_VARIABLES.items():
            if overrides.get(name) is not None:  # not read at all: a bad value there must not fail the run
                env.pop(variable, None)
        home = Path(str(overrides.pop("hive_home"))) if overrides.get("hive_home") else hive_home(env)
        state_raw = env.get(ev.HIVE_OTEL_STATE_DIR, "").strip()
        state_dir = Path(state_raw).expanduser() if state_raw else home / "otel"
        endpoint = _base_url(env, ev.HIVE_OTEL_ENDPOINT, "an OTLP base URL like http://127.0.0.1:4318")
        quota_url = _base_url(env, ev.HIVE_OTEL_QUOTA_URL, "a base URL like http://127.0.0.1:4318")
        quota_refresh_s = _positive_float(env, ev.HIVE_OTEL_QUOTA_REFRESH_S, DEFAULT_QUOTA_REFRESH_S)
        max_request_bytes = _int(env, ev.HIVE_OTEL_MAX_REQUEST_BYTES, DEFAULT_MAX_REQUEST_BYTES)
        if max_request_bytes < MIN_MAX_REQUEST_BYTES:
            raise SettingsError(
                f"{ev.HIVE_OTEL_MAX_REQUEST_BYTES}: must be at least {MIN_MAX_REQUEST_BYTES}, got {max_request_bytes}"
            )
        outbox_max_bytes = _outbox_max_bytes(env, max_request_bytes)

        policy_raw = env.get(ev.HIVE_OTEL_POLICY, "").strip()
        values: dict[str, object] = dict(
            hive_home=home,
            state_dir=state_dir,
            endpoint=endpoint,
            **_exporter_options(env),
            service_name=env.get(ev.OTEL_SERVICE_NAME, "").strip() or "hive",
            resource_attributes=parse_key_values(
                env.get(ev.OTEL_RESOURCE_ATTRIBUTES, ""), ev.OTEL_RESOURCE_ATTRIBUTES
            ),
            user_id=env.get(ev.HIVE_OTEL_USER_ID, "").strip() or None,
            tenant_id=env.get(ev.HIVE_OTEL_TENANT_ID, "").strip() or None,
            policy_path=Path(policy_raw).expanduser() if policy_raw else None,
            outbox_max_bytes=outbox_max_bytes,
            max_request_bytes=max_request_bytes,
            queue_size=_int(env, ev.HIVE_OTEL_QUEUE_SIZE, DEFAULT_QUEUE_SIZE),
            join_window_s=_float(env, ev.HIVE_OTEL_JOIN_WINDOW_S, DEFAULT_JOIN_WINDOW_S),
            disabled=env.get(ev.OTEL_SDK_DISABLED, "").strip().lower() == "true",
            heartbeat_s=_float(env, ev.HIVE_OTEL_HEARTBEAT_S, DEFAULT_HEARTBEAT_S),
            quota_url=quota_url,
            quota_refresh_s=quota_refresh_s,
            semconv_opt_in=env.get(ev.OTEL_SEMCONV_STABILITY_OPT_IN, ""),
            backfill_timeout_s=_float(env, ev.HIVE_OTEL_BACKFILL_TIMEOUT_S, DEFAULT_BACKFILL_TIMEOUT_S),
            watch_interval_s=_positive_float(env, ev.HIVE_OTEL_WATCH_INTERVAL_S, DEFAULT_WATCH_INTERVAL_S),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
