"""Thin transports to ClickHouse: embedded chDB or a server over HTTP (clickhouse-connect).

Both run the same SQL strings and take the same insert payloads: a ``pyarrow.Table`` for rows built
by the collector, or raw bytes in a ClickHouse input format (the OTLP protobuf requests). Query
results come back as ``(columns, rows)`` parsed from ``JSONCompact`` on both, so callers and tests
see identical values whichever store they run on.

A chDB path is owned by one process: :class:`PathLock` takes an exclusive ``flock`` on a lock file
inside it and records the owner's pid and, once known, the URL where the owner answers queries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import pyarrow as pa

LOCK_FILE = "hive-otel.lock"
ADMIN_TOKEN_FILE = "hive-otel.admin-token"
"""In a chDB store: the owning collector's local admin token (mode 0600), for hive-otel sql/status/report."""
_DRAIN_SQL = "SELECT 'hive-otel: drained'"
_DRAIN_ANSWER = b'"hive-otel: drained"\n'

# Output settings both transports apply, so JSON numbers and Arrow strings look the same everywhere.
SESSION_SETTINGS: dict[str, Any] = {
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_quote_decimals": 0,
    "output_format_arrow_string_as_string": 1,
    "output_format_arrow_low_cardinality_as_dictionary": 0,
    "session_timezone": "UTC",
    "async_insert": 0,  # an insert returns only once its rows are in parts on disk
    # An insert writes its block as it is: rows of one key in a Replacing/Summing/Aggregating table are
    # collapsed by merges and by the reads (FINAL, GROUP BY), as rows of two inserts always are. Collapsing
    # them at insert too cost CPU for nothing: `python -m bench.bench_ingest` (1M calls) spent 82-96 s on
    # ingest with it, 78 s without, and 3-10 s on the replay against 4 s.
    "optimize_on_insert": 0,
    # The raw tables are partitioned by day, and ClickHouse refuses an insert touching more than 100
    # partitions; a request (a backfill of an old history, or requests group commit merges) can hold any
    # number of days.
    "max_partitions_per_insert_block": 0,
    # A usage read of a session's tree names its sessions in the statement (queries.usage.one_of): 100,000
    # ids are ~4 MB, past the 256 KiB the parser takes by default.
    "max_query_size": 64 * 1024 * 1024,
}


class StoreError(RuntimeError):
    """The store cannot be opened or a statement failed; the message says which and why."""


class StoreInputError(StoreError):
    """ClickHouse refused the data itself (a body the store can never accept); resending it fails again."""


# ClickHouse error names that blame the inserted data, not the store: retrying cannot help.
INPUT_ERROR_CODES = frozenset({
    "UNKNOWN_PROTOBUF_FORMAT", "PROTOBUF_BAD_CAST", "NO_DATA_FOR_REQUIRED_PROTOBUF_FIELD", "PROTOBUF_FIELD_NOT_REPEATED",
    "CANNOT_PARSE_TEXT", "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DATE",
    "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_READ_ALL_DATA", "ATTEMPT_TO_READ_AFTER_EOF",
    "INCORRECT_DATA", "TOO_LARGE_STRING_SIZE", "TOO_LARGE_ARRAY_SIZE", "DECIMAL_OVERFLOW", "ARGUMENT_OUT_OF_BOUND",
    "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", "CANNOT_CONVERT_TYPE", "UNEXPECTED_END_OF_FILE", "SIZES_OF_ARRAYS_DONT_MATCH",
})  # fmt: skip
# The constraints of the input tables (migrations 0025, 0029): the request broke them, not the store's tables.
INPUT_CONSTRAINTS = frozenset({"values_are_flat", "times_before_2262", "times_before_2106"})
_ERROR_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")
_CONSTRAINT = re.compile(r"Constraint `(\w+)`")
_ERROR_CODE = re.compile(r"Code: (\d+)\.")


def insert_error(message: str) -> StoreError:
    """The error for a failed insert: :class:`StoreInputError` when ClickHouse blamed the data."""
    if any(name in INPUT_ERROR_CODES for name in _ERROR_NAME.findall(message)):
        return StoreInputError(message)
    return StoreInputError(message) if violated_constraint(message) in INPUT_CONSTRAINTS else StoreError(message)


def clickhouse_reason(message: str) -> str | None:
    """ClickHouse's reason for an error, in a word, for a client: the input constraint it broke, else
    its error name (an input error's first, else the last name), else its error code; None for a message that is not
    ClickHouse's. Never the rest of ClickHouse's text, which quotes table UUIDs, the statement and the
    rows' values (the whole text goes to the collector's log)."""
    if "DB::Exception" not in message and not _ERROR_CODE.search(message):
        return None
    constraint = violated_constraint(message)
    if constraint in INPUT_CONSTRAINTS:
        return f"constraint {constraint}"
    names = _ERROR_NAME.findall(message)
    inputs = [name for name in names if name in INPUT_ERROR_CODES]
    if inputs or names:  # else the last: ClickHouse ends with its error's name, after the values it quotes
        return inputs[0] if inputs else names[-1]
    code = _ERROR_CODE.search(message)
    return f"ClickHouse error {code.group(1)}" if code else "a ClickHouse error"


def violated_constraint(message: str) -> str | None:
    """The constraint a ClickHouse error names first (the one violated; the data it quotes comes after)."""
    match = _CONSTRAINT.search(message)
    return match.group(1) if match else None


class StoreLockedError(StoreError):
    """Another process owns the chDB path. ``owner`` is what it recorded: pid, optional owner_url."""

    def __init__(self, path: Path, owner: dict[str, Any] | None) -> None:
        self.path = path
        self.owner = owner or {}
        who = f"process {self.owner['pid']}" if self.owner.get("pid") else "another process"
        hint = (
            f"; it answers queries at {self.owner['owner_url']}"
            if self.owner.get("owner_url")
            else "; stop it or point --store at another path"
        )
        super().__init__(f"chDB store {path} is in use by {who}{hint}")


class Transport(Protocol):
    concurrent_reads: bool  # whether a read may run while another statement (an insert) runs

    def execute(self, sql: str) -> None: ...

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]: ...

    def query_arrow(self, sql: str) -> pa.Table: ...

    def insert_arrow(self, table: str, data: pa.Table) -> None: ...

    def insert_bytes(self, table: str, fmt: str, data: bytes, settings: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _parse_json_compact(text: str | bytes) -> tuple[list[str], list[list[Any]]]:
    if not text:
        return [], []
    doc = json.loads(text)
    return [m["name"] for m in doc["meta"]], doc["data"]


def arrow_target(table: str, data: pa.Table) -> str:
    """``table (col, …)`` naming ``data``'s columns: the target of its ``ArrowStream`` insert."""
    return f"{table} ({', '.join(f'`{name}`' for name in data.column_names)})"


def arrow_stream(data: pa.Table) -> bytes:
    """``data`` in the Arrow IPC stream format (ClickHouse's ``ArrowStream``)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return sink.getvalue().to_pybytes()


def sql_string(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _settings_clause(settings: dict[str, Any]) -> str:
    if not settings:
        return ""
    parts = []
    for key, value in settings.items():
        literal = sql_string(value) if isinstance(value, str) else str(int(value) if isinstance(value, bool) else value)
        parts.append(f"{key} = {literal}")
    return "SETTINGS " + ", ".join(parts)


class PathLock:
    """Exclusive, process-wide ownership of a chDB directory (released when the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise StoreLockedError(path, read_owner(path)) from None
        self.record(None)

    def record(self, owner_url: str | None) -> None:
        payload = json.dumps({"pid": os.getpid(), "owner_url": owner_url, "since": time.time()}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, payload, 0)

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def read_owner(path: str | Path) -> dict[str, Any] | None:
    """Who holds the chDB path right now (``{"pid", "owner_url", "since"}``), or None if nobody does."""
    lock_path = Path(path) / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(3):  # the owner may be rewriting it this very moment
                with contextlib.suppress(ValueError):
                    return json.loads(os.pread(fd, 4096, 0) or b"{}")
                time.sleep(0.01)
            return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_admin_token(path: str | Path) -> str | None:
    """The local admin token the collector owning the chDB ``path`` wrote, if this user may read it."""
    try:
        return (Path(path) / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class ChdbTransport:
    """In-process ClickHouse (chDB) on a directory this process has locked."""

    # One chDB session runs one statement at a time, and a failed one leaves output behind for the next
    # (see _drain): every statement, read or write, goes through the store's lock.
    concurrent_reads = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = PathLock(path)
        try:
            self._session = self._open_session()
        except RuntimeError as exc:
            self._lock.release()
            if "already initialized with path" in str(exc):
                raise StoreError(
                    f"this process already has another chDB store open; chDB embeds one path per "
                    f"process, so close it before opening {path} ({exc})"
                ) from exc
            raise StoreError(f"cannot open chDB store at {path}: {exc}") from exc

    def _open_session(self) -> Any:
        from chdb import session as chdb_session

        session = chdb_session.Session(str(self.path))
        for key, value in SESSION_SETTINGS.items():
            literal = sql_string(value) if isinstance(value, str) else value
            session.query(f"SET {key} = {literal}")
        return session

    def advertise(self, owner_url: str | None, admin_token: str | None = None) -> None:
        """Record where this process answers queries, and the local admin token readers use there."""
        token_path = self.path / ADMIN_TOKEN_FILE
        if owner_url and admin_token:
            fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # only the store's owner, who could read its files anyway
                os.write(fd, admin_token.encode())
            finally:
                os.close(fd)
        else:
            token_path.unlink(missing_ok=True)
        self._lock.record(owner_url)

    def _run(self, what: str, call: Callable[[], Any]) -> Any:
        """``call()`` on the session; a failure drains what the failed query left behind first.
        (chDB raises UnicodeDecodeError for an error message that quotes binary data.)"""
        try:
            return call()
        except (RuntimeError, UnicodeDecodeError) as exc:
            self._drain()
            message = exc.object.decode("utf-8", "replace") if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise (insert_error(f"{what}{message}") if what else StoreError(message)) from exc

    def _drain(self) -> None:
        """Leave the session clean after a failed statement.

        chDB keeps the output a failed query had produced so far and puts it in front of the next
        query's result, so one caller's bad query would corrupt another caller's read or ingest.
        A sentinel query takes that output; if even its answer is not exact, the session is reopened.
        """
        for _ in range(3):
            try:
                if bytes(self._session.query(_DRAIN_SQL, "CSV").bytes()) == _DRAIN_ANSWER:
                    return
            except (RuntimeError, UnicodeDecodeError):
                continue
        self._session.close()
        self._session = self._open_session()

    def execute(self, sql: str) -> None:
        self._run("", lambda: self._session.query(sql))

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        return _parse_json_compact(self.query_bytes(sql, "JSONCompact"))

    def query_bytes(self, sql: str, fmt: str) -> bytes:
        """The result of ``sql`` in the output format ``fmt`` (a FORMAT clause in ``sql`` wins)."""
        result = self._run("", lambda: self._session.query(sql, fmt))
        return bytes(result.bytes()) if hasattr(result, "bytes") else bytes(result)

    def query_arrow(self, sql: str) -> pa.Table:
        return self._run("", lambda: self._session.query(sql, "ArrowTable"))

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """``data`` as one Arrow stream, the payload the server transport sends too. (chDB's Python()
        table function would read the table in place, but costs 20-30 ms more per insert.)"""
        try:  # rows the store made itself: a refusal is never the client's input error, so retryable
            self._run("", lambda: self._insert(arrow_target(table, data), "ArrowStream", arrow_stream(data), {}))
        except StoreError as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def insert_bytes(self, table: str, fmt: str, data: bytes, settings: dict[str, Any]) -> None:
        if settings.get("format_schema_source") == "string":
            settings = self._schema_file_settings(settings)
        self._run(f"insert into {table} failed: ", lambda: self._insert(table, fmt, data, settings))

    def _insert(self, target: str, fmt: str, data: bytes, settings: dict[str, Any]) -> None:
        """One ``INSERT`` of ``data``, read by ClickHouse from an anonymous in-memory file.

        Not chDB's streaming insert (``send_insert``): it reports only errors of parsing the data, and
        swallows those raised further on (a constraint, a materialized view's failure, a limit such as
        ``max_partitions_per_insert_block``), so a request was acknowledged while nothing of it was
        stored. A plain query raises them all; it costs the same (measured on 26 requests of 2,000 spans,
        three rounds alternating).
        """
        with _input_file(data) as path:
            source = f"FROM INFILE {sql_string(path)} {_settings_clause(settings)} FORMAT {fmt}"
            self._session.query(f"INSERT INTO {target} {source}")

    def _schema_file_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """An inline schema becomes a file inside the store.

        chDB caches inline (``format_schema_source='string'``) schemas in a ``__cache__`` folder of
        the process's working directory; a file under the store keeps the user's directory clean.
        """
        schema = str(settings["format_schema"])
        name = hashlib.sha256(schema.encode()).hexdigest()[:16] + ".proto"
        path = self.path / "format_schemas" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(schema, encoding="utf-8")
            tmp.replace(path)
        out = {k: v for k, v in settings.items() if k not in ("format_schema_source", "format_schema_message_name")}
        out["format_schema"] = f"{path}:{settings['format_schema_message_name']}"
        return out

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        self._lock.release()


@contextlib.contextmanager
def _input_file(data: bytes) -> Iterator[str]:
    """A path ClickHouse can open to read ``data``, valid inside the ``with``: a memfd on Linux (no
    disk), else an unlinked temporary file. Read through /dev/fd from its start."""
    memfd = hasattr(os, "memfd_create")
    with open(os.memfd_create("hive-otel-insert"), "w+b") if memfd else tempfile.TemporaryFile() as file:
        file.write(data)
        file.flush()
        file.seek(0)
        yield f"/dev/fd/{file.fileno()}"


class HttpTransport:
    """A ClickHouse server through clickhouse-connect (HTTP/HTTPS). Thread-safe: each statement is a
    request of its own from urllib3's connection pool, outside any ClickHouse session."""

    concurrent_reads = True

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        parsed = urlparse(url)
        database = parsed.path.strip("/") or "default"
        try:
            self._client = clickhouse_connect.get_client(
                host=parsed.hostname or "localhost",
                port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
                username=unquote(parsed.username or "default"),
                password=unquote(parsed.password or ""),
                database=database,
                secure=parsed.scheme == "https",
                settings=dict(SESSION_SETTINGS),
                # A session runs one request at a time (the server refuses a second with SESSION_IS_LOCKED), and
                # nothing here needs one: the settings go with every request.
                autogenerate_session_id=False,
            )
        except Exception as exc:
            raise StoreError(f"cannot reach ClickHouse at {parsed.hostname}:{parsed.port}: {exc}") from exc

    def advertise(self, owner_url: str | None, admin_token: str | None = None) -> None:  # a server has no owner
        return None

    def execute(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        try:
            # The format as a setting, not appended: with ``fmt`` clickhouse-connect appends
            # "FORMAT JSONCompact" to the text, which in ``EXPLAIN AST <select>`` belongs to the select.
            return _parse_json_compact(self._client.raw_query(sql, settings={"default_format": "JSONCompact"}))
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def query_arrow(self, sql: str) -> pa.Table:
        try:
            return self._client.query_arrow(sql)
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """``data`` as one Arrow stream with the statement in the body (clickhouse-connect's
        ``insert_arrow`` puts the statement, column list and all, in the URL, which urllib3 encodes
        in Python)."""
        try:
            self._client.raw_insert(arrow_target(table, data), insert_block=arrow_stream(data), fmt="ArrowStream")
        except Exception as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def insert_bytes(self, table: str, fmt: str, data: bytes, settings: dict[str, Any]) -> None:
        # The settings go in the statement, which travels in the body, not in the URL: the inline OTLP
        # schema is ~20 KB, and urllib3 percent-encodes a URL in Python (15 ms of CPU per insert).
        target = f"{table} {_settings_clause(settings)}".rstrip()
        try:
            self._client.raw_insert(target, insert_block=data, fmt=fmt)
        except Exception as exc:
            raise insert_error(f"insert into {table} failed: {exc}") from exc

    def close(self) -> None:
        self._client.close()
