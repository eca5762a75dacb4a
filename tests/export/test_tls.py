"""TLS to the collector: OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY.

Real handshakes on 127.0.0.1: a throwaway CA (trustme) signs the receivers' certificate and the client's;
the HTTP receiver listens behind ``ssl``, the gRPC one with ``ssl_server_credentials``. Mutual TLS
receivers refuse a handshake without a client certificate of that CA.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hive_otel import environment_variables as ev
from hive_otel.cli import run
from hive_otel.cli.client import EXIT_CONFIG, doctor_report
from hive_otel.client.export import ExportStatus, OutboxSender, create_exporter
from hive_otel.client.outbox import Outbox
from hive_otel.client.quota import QuotaCache
from hive_otel.settings import ClientSettings, SettingsError
from tests.export.receivers import RECEIVERS, Receiver, ServerTls
from tests.otlp_bodies import trace_request
from tests.redaction._otelcol import Agent

CA = ev.OTEL_EXPORTER_OTLP_CERTIFICATE
CLIENT_CERT = ev.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE
CLIENT_KEY = ev.OTEL_EXPORTER_OTLP_CLIENT_KEY
# How OpenSSL (urllib3, urllib) and BoringSSL (gRPC) word an unknown CA.
VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


@dataclass(frozen=True)
class Pki:
    """PEM files of a throwaway CA, a receiver certificate for 127.0.0.1 and a client certificate it signed,
    plus broken variants for the error cases."""

    ca: Path
    ca_bundle: Path  # a bundle as certifi ships them: non-ASCII comments, another CA, then ``ca``
    server: ServerTls  # TLS: any client that trusts ``ca``
    mutual: ServerTls  # mutual TLS: clients must present a certificate of ``ca``
    client_cert: Path
    client_key: Path
    other_key: Path  # a valid key that is not the client certificate's
    encrypted_key: Path  # the client key, encrypted with a passphrase
    ca_der: Path  # the CA certificate in DER, not PEM
    not_pem: Path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    work = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("hive-otel-client")
    other = ca.issue_cert("someone-else")
    ca_file = _write(work / "ca.pem", ca.cert_pem.bytes())
    bundle = [b"# Issuer: CN=Other Root F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny\n", trustme.CA().cert_pem.bytes()]
    bundle += [b"# Issuer: CN=hive-otel test CA\n", ca.cert_pem.bytes()]
    server_cert = _write(work / "server.crt", b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server_key = _write(work / "server.key", server.private_key_pem.bytes())
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    der = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(serialization.Encoding.DER)
    return Pki(
        ca=ca_file,
        ca_bundle=_write(work / "bundle.pem", b"".join(bundle)),
        server=ServerTls(server_cert, server_key),
        mutual=ServerTls(server_cert, server_key, client_ca_file=ca_file),
        client_cert=_write(work / "client.crt", b"".join(blob.bytes() for blob in client.cert_chain_pems)),
        client_key=_write(work / "client.key", client.private_key_pem.bytes()),
        other_key=_write(work / "other.key", other.private_key_pem.bytes()),
        encrypted_key=_write(work / "encrypted.key", encrypted),
        ca_der=_write(work / "ca.der", der),
        not_pem=_write(work / "notes.txt", b"not a certificate\n"),
    )


@pytest.fixture(params=["http/protobuf", "grpc"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.down()


def _receiver(receivers: list[Receiver], protocol: str, tls: ServerTls | None) -> Receiver:
    receiver = RECEIVERS[protocol](tls=tls)  # type: ignore[call-arg]
    receivers.append(receiver)
    return receiver


def _settings(tmp_path: Path, endpoint: str, protocol: str = "http/protobuf", **env: str) -> ClientSettings:
    return ClientSettings.from_env(
        {
            ev.HIVE_OTEL_ENDPOINT: endpoint,
            ev.OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
            ev.OTEL_EXPORTER_OTLP_TIMEOUT: "2000",
            **env,
        },
        hive_home=tmp_path,
    )


def _send_once(settings: ClientSettings) -> tuple[ExportStatus, str]:
    exporter = create_exporter(settings)
    try:
        result = exporter.export("traces", trace_request(1))
    finally:
        exporter.shutdown()
    return result.status, result.reason


# ------------------------------------------------------------------------------- server verification


@pytest.mark.parametrize("ca_file", ["ca", "ca_bundle"])
def test_the_private_ca_verifies_the_receiver(receivers, protocol, pki, tmp_path, ca_file) -> None:
    receiver = _receiver(receivers, protocol, pki.server)
    settings = _settings(tmp_path, receiver.endpoint, protocol, **{CA: str(getattr(pki, ca_file))})

    assert _send_once(settings) == (ExportStatus.SUCCESS, "")
    assert receiver.delivered() == [("traces", trace_request(1))]


def test_without_the_ca_the_request_is_kept_and_the_log_says_why(
    receivers, protocol, pki, tmp_path, caplog
) -> None:
    """The system's roots do not know the private CA: the handshake fails, the request stays queued for a
    retry (the receiver may be fixed, or the client restarted with the CA), and the warning names the cause."""
    receiver = _receiver(receivers, protocol, pki.server)
    settings = _settings(tmp_path, receiver.endpoint, protocol)
    outbox = Outbox(tmp_path / "outbox.db")
    sender = OutboxSender(outbox, create_exporter(settings), initial_backoff_s=30, max_backoff_s=30)
    try:
        with caplog.at_level(logging.WARNING, logger="hive_otel.client.export"):
            outbox.enqueue_many([("traces", trace_request(1), 1)])
            sender.notify()
            deadline = time.monotonic() + 5
            while sender.counters()["retryable_failures"] == 0:
                assert time.monotonic() < deadline, "the sender never tried"
                time.sleep(0.01)
    finally:
        sender.shutdown(timeout_millis=2000)
    assert outbox.depth()[0] == 1
    outbox.shutdown()
    assert receiver.arrivals == []
    assert any(VERIFY_FAILED in record.getMessage() and "not delivered" in record.getMessage() for record in caplog.records)


def test_an_unknown_ca_is_a_retryable_tls_failure(receivers, protocol, pki, tmp_path) -> None:
    receiver = _receiver(receivers, protocol, pki.server)

    status, reason = _send_once(_settings(tmp_path, receiver.endpoint, protocol))

    assert status is ExportStatus.RETRYABLE
    assert VERIFY_FAILED in reason


# ------------------------------------------------------------------------------------- mutual TLS


def test_mutual_tls_delivers_with_the_client_certificate(receivers, protocol, pki, tmp_path) -> None:
    receiver = _receiver(receivers, protocol, pki.mutual)
    env = {CA: str(pki.ca), CLIENT_CERT: str(pki.client_cert), CLIENT_KEY: str(pki.client_key)}

    assert _send_once(_settings(tmp_path, receiver.endpoint, protocol, **env)) == (ExportStatus.SUCCESS, "")
    assert receiver.delivered() == [("traces", trace_request(1))]


def test_mutual_tls_refuses_a_client_without_certificate(receivers, protocol, pki, tmp_path) -> None:
    """The receiver ends the handshake. With TLS 1.3 the client has finished its side by then, so what it
    reports is a race: the receiver's alert (CERTIFICATE_REQUIRED) or the connection closed under it (an
    SSLError "EOF"; gRPC's UNAVAILABLE "Socket closed"). Either way the request is retryable, nothing arrived."""
    receiver = _receiver(receivers, protocol, pki.mutual)

    status, reason = _send_once(_settings(tmp_path, receiver.endpoint, protocol, **{CA: str(pki.ca)}))

    assert status is ExportStatus.RETRYABLE
    assert reason.startswith("SSLError: " if protocol == "http/protobuf" else "gRPC UNAVAILABLE: "), reason
    assert receiver.arrivals == []


# ------------------------------------------------------------------------------- http:// endpoints


def test_an_http_endpoint_ignores_the_files_and_warns(receivers, protocol, pki, tmp_path, caplog) -> None:
    """As in the OpenTelemetry exporters, the scheme alone decides: the files do not turn TLS on."""
    receiver = _receiver(receivers, protocol, None)
    settings = _settings(tmp_path, receiver.endpoint, protocol, **{CA: str(pki.ca)})

    with caplog.at_level(logging.WARNING, logger="hive_otel.client.export"):
        assert _send_once(settings) == (ExportStatus.SUCCESS, "")

    assert any(CA in r.getMessage() and "unencrypted" in r.getMessage() for r in caplog.records), caplog.text


# ------------------------------------------------------------------------------------------ quota


def test_quota_decisions_come_over_the_same_mutual_tls(receivers, pki, tmp_path) -> None:
    """hive_otel.client.quota reads the collector's API with the exporter's files."""
    receiver = _receiver(receivers, "http/protobuf", pki.mutual)
    env = {CA: str(pki.ca), CLIENT_CERT: str(pki.client_cert), CLIENT_KEY: str(pki.client_key)}

    with_client = QuotaCache(_settings(tmp_path, receiver.endpoint, **env))
    assert with_client.refresh(), with_client.last_error
    assert with_client.tenant == "local"

    ca_only = QuotaCache(_settings(tmp_path, receiver.endpoint, **{CA: str(pki.ca)}))
    assert not ca_only.refresh()
    assert any(words in (ca_only.last_error or "") for words in ("CERTIFICATE_REQUIRED", "EOF")), ca_only.last_error

    system_roots = QuotaCache(_settings(tmp_path, receiver.endpoint))
    assert not system_roots.refresh()
    assert VERIFY_FAILED in (system_roots.last_error or "")


# --------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("files", "variable", "words"),
    [
        ({CA: "missing.pem"}, CA, "cannot read"),
        ({CA: "."}, CA, "cannot read"),
        ({CA: "not_pem"}, CA, "holds no PEM certificate"),
        ({CA: "ca_der"}, CA, "holds no PEM certificate"),
        ({CLIENT_CERT: "client_cert"}, CLIENT_CERT, f"set without {CLIENT_KEY}"),
        ({CLIENT_KEY: "client_key"}, CLIENT_KEY, f"set without {CLIENT_CERT}"),
        ({CLIENT_CERT: "client_cert", CLIENT_KEY: "other_key"}, CLIENT_KEY, "is not the key of"),
        ({CLIENT_CERT: "client_cert", CLIENT_KEY: "encrypted_key"}, CLIENT_KEY, "is encrypted"),
        ({CLIENT_CERT: "client_cert", CLIENT_KEY: "client_cert"}, CLIENT_KEY, "holds no PEM private key"),
        ({CLIENT_CERT: "client_key", CLIENT_KEY: "client_key"}, CLIENT_CERT, "holds no PEM certificate"),
        ({CLIENT_CERT: "missing.crt", CLIENT_KEY: "client_key"}, CLIENT_CERT, "cannot read"),
    ],
    ids=lambda value: "-".join(value.values()) if isinstance(value, dict) else None,
)
def test_a_bad_file_stops_the_start_naming_its_variable(pki, tmp_path, files, variable, words) -> None:
    env = {name: str(getattr(pki, which, tmp_path / which)) for name, which in files.items()}

    with pytest.raises(SettingsError) as err:
        _settings(tmp_path, "https://127.0.0.1:4318", **env)

    assert str(err.value).startswith(f"{variable}: "), err.value
    assert words in str(err.value)


def test_a_bad_file_is_refused_even_for_an_http_endpoint(pki, tmp_path) -> None:
    """HIVE_OTEL_QUOTA_URL may be https:// while the endpoint is not, and a typo should not wait for that."""
    with pytest.raises(SettingsError, match=f"^{CA}: cannot read"):
        _settings(tmp_path, "http://127.0.0.1:4318", **{CA: str(tmp_path / "missing.pem")})


def test_a_key_given_as_text_instead_of_a_path_is_never_echoed(pki, tmp_path) -> None:
    """A secret mounted as a variable holds the PEM text itself: the error named it as a path, in full."""
    key = Path(pki.client_key).read_text()
    with pytest.raises(SettingsError) as err:
        _settings(tmp_path, "https://127.0.0.1:4318", **{CLIENT_CERT: str(pki.client_cert), CLIENT_KEY: key})
    assert str(err.value).startswith(f"{CLIENT_KEY}: expected the path of a PEM file, got PEM text")
    assert "PRIVATE KEY" not in str(err.value) and key.splitlines()[1] not in str(err.value)


def test_empty_variables_are_unset(tmp_path) -> None:
    assert _settings(tmp_path, "https://127.0.0.1:4318", **{CA: " ", CLIENT_CERT: "", CLIENT_KEY: ""}).tls is None


def test_the_cli_exits_2_on_a_bad_file(pki, tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "home").mkdir()
    monkeypatch.setenv(ev.HIVE_HOME, str(tmp_path / "home"))
    monkeypatch.setenv(ev.HIVE_OTEL_STATE_DIR, str(tmp_path / "state"))
    monkeypatch.setenv(ev.HIVE_OTEL_ENDPOINT, "https://127.0.0.1:9")
    monkeypatch.setenv(CA, str(pki.not_pem))

    assert run(["backfill", "--no-wait"]) == EXIT_CONFIG

    assert f"{CA}: {pki.not_pem} holds no PEM certificate" in capsys.readouterr().err



def test_doctor_shows_the_files(pki, tmp_path) -> None:
    settings = _settings(tmp_path, "https://127.0.0.1:9", **{CA: str(pki.ca)})

    assert doctor_report(settings)["config"]["tls files"] == {CA: str(pki.ca)}  # type: ignore[index]


# ------------------------------------------------------------------------------ the local agent


def _wait(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("ca_file", ["", "ca"], ids=["system-roots", "private-ca"])
def test_the_agent_verifies_its_upstream_with_the_ca_file(receivers, pki, tmp_path, ca_file) -> None:
    """collector/agent.yaml in the real otelcol-hive: HIVE_OTEL_UPSTREAM_CA_FILE empty (its default) leaves
    the system's roots, which still verify (and refuse the private CA); set, it delivers."""
    upstream = _receiver(receivers, "http/protobuf", pki.server)
    ca_env = str(getattr(pki, ca_file)) if ca_file else ""
    agent = Agent(upstream.endpoint, "agent-token", tmp_path / "queue", tmp_path / "agent.log",
                  env={"HIVE_OTEL_UPSTREAM_CA_FILE": ca_env})  # fmt: skip
    try:
        agent.wait_healthy()
        agent.post("/v1/traces", trace_request(1))
        if ca_file:
            assert _wait(lambda: bool(upstream.arrivals)), agent.log_tail()
            assert upstream.arrivals[0].headers["authorization"] == "Bearer agent-token"
        else:
            assert _wait(lambda: "x509: certificate signed by unknown authority" in agent.log_tail()), agent.log_tail()
            assert upstream.arrivals == []
    finally:
        agent.stop()
