"""ClickHouse's HTTP interface over an embedded chDB, in a process of its own.

No ClickHouse server can be installed on the machines this project is built on, so the store's
server transport (``HIVE_CLICKHOUSE_URL=http://…``, clickhouse-connect) and a deployment of several
collector processes against one store could not run at all. This stands in for the server: the real
ClickHouse engine (chDB) behind the part of the HTTP interface that clickhouse-connect uses. What it
models of a server is the protocol only (``/ping``; the statement in ``query`` and the body, the data
of an INSERT in the body; settings as URL parameters; errors as HTTP 500 with
``X-ClickHouse-Exception-Code``); the SQL, formats and storage are ClickHouse's own. One statement
runs at a time, as the embedded store does. Not modelled: users and passwords (accepted, never
checked), sessions, compressed responses, clusters.

``python -m devtools.clickhouse_http --path DIR --port 8123`` serves until interrupted.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hive_otel.collector.store.transport import ChdbTransport, StoreError, sql_string

# URL parameters of the HTTP interface that are not query settings.
PROTOCOL_PARAMS = frozenset({
    "query", "database", "default_format", "query_id", "session_id", "session_timeout", "session_check",
    "user", "password", "quota_key", "compress", "decompress", "client_protocol_version", "wait_end_of_query",
    "buffer_size", "enable_http_compression", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
})  # fmt: skip
# An INSERT with its data: the statement in ``query`` and the data in the body, or both in the body,
# the data after the line that names the format.
_INSERT = re.compile(
    rb"\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<format>\w+)[ \t]*(\r?\n|$)", re.IGNORECASE | re.DOTALL
)
_CODE = re.compile(r"Code: (\d+)\.")
_DECODERS = {"gzip": gzip.decompress, "deflate": zlib.decompress}


class ChdbHttpServer(ThreadingHTTPServer):
    """Serves ClickHouse's HTTP interface for the chDB store at ``path``."""

    daemon_threads = True

    def __init__(self, path: Path, address: tuple[str, int]) -> None:
        self.transport = ChdbTransport(path)
        self.lock = threading.Lock()
        self.session_settings: dict[str, str] = {}  # what SET has applied to the engine's session so far
        self.database = "default"
        super().__init__(address, _Handler)

    def run(self, sql: str, database: str, settings: dict[str, str], default_format: str) -> bytes:
        """A statement that is not an INSERT with data, with its settings, as the bytes of its result."""
        with self.lock:
            self._apply(database, settings)
            return self.transport.query_bytes(sql, default_format or "TabSeparated")  # a FORMAT clause wins

    def insert(self, target: str, fmt: str, data: bytes, database: str, settings: dict[str, str]) -> None:
        with self.lock:
            self._apply(database, settings)
            table, _, clause = target.partition(" SETTINGS ")  # the statement's own settings, if any
            self.transport.insert_bytes(table, fmt, data, _settings(clause))

    def _apply(self, database: str, settings: dict[str, str]) -> None:
        """A server scopes the database and URL settings to one query; here they stay in force in the
        one session, so each query changes what differs (the collector sends the same every time)."""
        if database != self.database:
            self.transport.execute(f"USE `{database}`")
            self.database = database
        for key, value in settings.items():
            if self.session_settings.get(key) != value:
                self.transport.execute(f"SET {key} = {_literal(value)}")
                self.session_settings[key] = value

    def server_close(self) -> None:
        super().server_close()
        self.transport.close()


_SETTING = re.compile(r"(\w+) = ('(?:[^'\\]|\\.)*'|[^,\s]+)(?:, |$)", re.DOTALL)


def _settings(clause: str) -> dict[str, Any]:
    """``k = v, …`` as the transport renders it (``_settings_clause``) back into a dict."""
    settings: dict[str, Any] = {}
    for match in _SETTING.finditer(clause):
        key, value = match.groups()
        settings[key] = re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.DOTALL) if value.startswith("'") else int(value)
    return settings


def _literal(value: str) -> str:
    return value if re.fullmatch(r"-?\d+(\.\d+)?", value) else sql_string(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ChdbHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        return None  # one line per statement would drown a bench's output

    def do_GET(self) -> None:
        path, params = self._target()
        if path in ("/ping", "/") and "query" not in params:
            self._answer(200, b"Ok.\n")
            return
        self._statement(params, b"")

    def do_POST(self) -> None:
        _, params = self._target()
        try:
            body = self._body()
        except (StoreError, OSError, EOFError, zlib.error) as exc:
            self._refuse(exc)
            return
        self._statement(params, body)

    def _target(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _body(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding and encoding != "identity":
            if encoding not in _DECODERS:
                raise StoreError(f"Code: 1. DB::Exception: this stand-in cannot decode Content-Encoding {encoding}")
            body = _DECODERS[encoding](body)
        return body

    def _statement(self, params: dict[str, str], body: bytes) -> None:
        settings = {k: v for k, v in params.items() if k not in PROTOCOL_PARAMS}
        sql = params.get("query", "")
        try:
            insert = _INSERT.match(sql.encode() if sql else body)
            if insert:
                data = body if sql else body[insert.end() :]
                target, fmt = insert["target"].decode(), insert["format"].decode()
                self.server.insert(target, fmt, data, params.get("database") or "default", settings)
                self._answer(200, b"")
                return
            text = (sql + " " + body.decode()).strip() if sql else body.decode()
            result = self.server.run(text, params.get("database") or "default", settings, params.get("default_format", ""))
            self._answer(200, result)
        except (StoreError, UnicodeDecodeError, OSError) as exc:
            self._refuse(exc)

    def _refuse(self, exc: BaseException) -> None:
        message = str(exc)
        code = _CODE.search(message)  # a server's body starts at ClickHouse's own "Code: N."
        body = message[code.start() :] if code else message
        self._answer(500, body.encode(), {"X-ClickHouse-Exception-Code": code[1] if code else "1"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start(path: Path, log: Path, readonly: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """This server in a process of its own on a free loopback port: the process and its URL."""
    command = [sys.executable, "-m", "devtools.clickhouse_http", "--path", str(path), "--port", "0"]
    command += ["--readonly", str(readonly)] if readonly else []
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"at (http://\S+)", log.read_text(errors="replace"))
        if found:
            return proc, found[1]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the ClickHouse HTTP stand-in did not start: {log.read_text(errors='replace')[-2000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.clickhouse_http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, required=True, help="the chDB store's directory (created if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port (default 8123)")
    parser.add_argument("--readonly", type=int, choices=(0, 1, 2), default=0,
                        help="the session's readonly setting: a user whose profile is read-only (default 0)")  # fmt: skip
    args = parser.parse_args(argv)
    path = args.path.resolve()
    server = ChdbHttpServer(path, (args.host, args.port))
    if args.readonly:
        server.transport.execute(f"SET readonly = {args.readonly}")
    os.chdir(path)  # chDB caches an inline protobuf schema in a __cache__ folder of the working directory
    print(f"ClickHouse HTTP interface over chDB {args.path} at http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
