"""Locate and run the otelcol-hive agent that `make otelcol` builds (see the Makefile)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "collector" / "builder-config.yaml"
AGENT_CONFIG = REPO / "collector" / "agent.yaml"


def otelcol_dir() -> Path:
    """Where `make otelcol` puts the build; the same rule as the Makefile's OTELCOL_DIR."""
    version = yaml.safe_load(MANIFEST.read_text())["dist"]["version"]
    cache = os.environ.get("HIVE_OTEL_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hive-otel"
    )
    return Path(cache) / f"otelcol-{version}"


def otelcol_binary() -> Path:
    """The built binary; a clear failure (not a skip) when it is missing or built from another manifest."""
    directory = otelcol_dir()
    binary = directory / "otelcol-hive"
    if not os.access(binary, os.X_OK):
        raise AssertionError(f"{binary} is not built: run `make otelcol` (.ci/run does before `make test`)")
    built_from = directory / "builder-config.yaml"
    if not built_from.exists() or built_from.read_bytes() != MANIFEST.read_bytes():
        raise AssertionError(f"{binary} was built from another collector/builder-config.yaml: run `make otelcol`")
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Agent:
    """otelcol-hive running collector/agent.yaml on loopback ports, stopped by `stop()`."""

    def __init__(
        self, upstream: str, token: str, state_dir: Path, log_path: Path,
        overlays: tuple[Path, ...] = (), env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """``overlays``: more ``--config`` files after agent.yaml; ``env``: more variables for them."""
        self.http_port, self.grpc_port, self.health_port = free_port(), free_port(), free_port()
        self.log_path = log_path
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HIVE_OTEL_UPSTREAM": upstream,
            "HIVE_OTEL_UPSTREAM_TOKEN": token,
            "HIVE_OTEL_AGENT_STATE_DIR": str(state_dir),
            "HIVE_OTEL_AGENT_HTTP_PORT": str(self.http_port),
            "HIVE_OTEL_AGENT_GRPC_PORT": str(self.grpc_port),
            "HIVE_OTEL_AGENT_HEALTH_PORT": str(self.health_port),
            **(env or {}),
        }
        configs = [arg for path in (AGENT_CONFIG, *overlays) for arg in ("--config", str(path))]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(otelcol_binary()), *configs],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"otelcol-hive exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"otelcol-hive not healthy after {timeout_s}s:\n{self.log_tail()}")

    def post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=body, method="POST",
            headers={"Content-Type": "application/x-protobuf"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, f"agent answered {response.status} to {path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
