"""The SQL console's policy: which statements ``hive-otel sql`` and ``POST /hive/v1/query`` may run.

ClickHouse's own ``readonly`` setting does not make arbitrary SQL safe: ``readonly = 2`` still runs
``file()`` and ``url()``, ``readonly = 1`` still runs the scalar ``file()``, and chDB runs every
statement of a ``;``-separated string. So a console statement is admitted only when ClickHouse's
own parser says it is harmless:

1. ``formatQuery`` parses the text (comments and all) and refuses more than one statement; the
   canonical text it returns is what is checked and run, never the caller's text.
2. ``EXPLAIN AST`` of that text is walked: it must be one ``SELECT`` (or ``UNION`` of them) with no
   ``INTO OUTFILE``, ``FORMAT`` or ``SETTINGS``; it may read tables of the store's own database only
   (not ``system`` or ``information_schema``), call no table function but those that generate rows
   (deny by default: ``file``, ``url``, ``s3``, ``remote``, ``mysql``, ``postgresql``, ``executable``,
   ``hdfs``, ``jdbc``, ``odbc``, ``input``, ... are refused), and no function that reads files or
   the server's internals, whether called or passed by name (``arrayMap(file, …)``). ``APPLY``
   column transformers are refused: ``EXPLAIN AST`` does not show what they call. ``x IN table``
   must name a table of the store's database, as ``FROM`` must.
3. It runs as ``SELECT * APPLY(materialize) FROM (<statement>) SETTINGS readonly = 1, ...``, with time, memory and result
   (rows and bytes) caps:
   ClickHouse itself then refuses writes, DDL, setting changes and table functions that reach out. On
   an account whose profile already sets ``readonly = 2`` it keeps that level (ClickHouse refuses any
   change of ``readonly`` in read-only mode): writes and DDL are still refused, and 2. already refused
   the statement's own settings and the table functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "CONSOLE_SETTINGS",
    "EMBEDDED_MAX_EXECUTION_S",
    "SERVER_MAX_EXECUTION_S",
    "ConsoleRefused",
    "admitted_statement",
    "console_column_names",
    "statement_reason",
]

# Table functions that only generate rows; every other one (file, url, s3, remote, mysql, ...) is refused.
ALLOWED_TABLE_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "values"})
# Scalar functions that read files, models or the server's internals, or only waste its time.
REFUSED_FUNCTIONS = frozenset({
    "file", "catboostevaluate", "evalmlmethod", "sleep", "sleepeachrow", "addresstoline", "addresstolinewithinlines",
    "addresstosymbol", "demangle", "getmacro", "getclienthttpheader", "getsetting", "getsettingordefault",
    "getserversetting", "filesystemavailable", "filesystemcapacity", "filesystemunreserved", "currentprofiles",
    "enabledprofiles", "defaultprofiles", "currentroles", "enabledroles", "defaultroles", "currentuser",
})  # fmt: skip
REFUSED_DATABASES = frozenset({"system", "information_schema"})
# The result is parsed from JSON into Python lists (and the collector writes it out as JSON again) at
# ~13x its size in ClickHouse's blocks: 999,999 spans of a 2M-span store (~500 MB of blocks) took the
# collector to a 5.9 GB peak. 64 MB of blocks (~115,000 whole spans) peaks at ~0.9 GB above the store's own
# memory; max_memory_usage bounds only ClickHouse's side.
MAX_RESULT_BYTES = 64 * 1024 * 1024
CONSOLE_SETTINGS = (
    "readonly = {readonly}, max_execution_time = {seconds}, max_result_rows = 1000000, "
    f"max_result_bytes = {MAX_RESULT_BYTES}, result_overflow_mode = 'throw', "
    "max_memory_usage = 2000000000"  # 2 GB: the store serves ingest and every tenant's reads meanwhile
)
# How long a console statement may run. The embedded store runs one statement at a time, so an export
# waits for it: 5 s and the export's own 0.1-0.5 s stay within the OTLP client's 10 s timeout (a 10 s
# statement made a 1-span export take 9.26 s). A server runs reads beside ingest.
EMBEDDED_MAX_EXECUTION_S = 5
SERVER_MAX_EXECUTION_S = 60
# `x IN t`: the right-hand side may name a table (ClickHouse's shorthand for `IN (SELECT * FROM t)`).
_IN_FUNCTIONS = frozenset({
    "in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin", "globalnotnullin",
})  # fmt: skip

_FUNCTION = re.compile(r"^( *)Function (\S+)")
_TABLE = re.compile(r"^ *TableIdentifier (\S+)")
_IDENTIFIER = re.compile(r"^ *Identifier (\S+)")
_NODE = re.compile(r"^( *)(\S+)")


# What a ClickHouse error says besides its reason: the prefix, the statement it quotes back, the tokens a
# syntax error could have had, the internals of a function's arguments; and the error name at its end.
_CLICKHOUSE_PREFIX = re.compile(r"^.*?DB::Exception: ", re.S)
_CLICKHOUSE_DETAIL = re.compile(r"(?:[.:]? In scope |\. Expected one of: |: while executing ).*", re.S)
_ERROR_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
# A ClickHouse server ends its errors with its version, after the error name: "(version 25.3.1.1 (official build))".
_SERVER_VERSION = re.compile(r"\s*\(version\s+(?:[^()]|\([^()]*\))*\)\s*$")


class ConsoleRefused(ValueError):
    """The console does not run the statement: its policy refuses it, or ClickHouse cannot run it (a
    syntax error, an unknown table); the message says why, in a line."""


# ClickHouse errors that say the store failed, not the statement: damaged parts, no memory or disk,
# too busy. A statement that meets one is not the caller's to fix (the store's failure: 503, exit 3).
STORE_FAILURES = frozenset({
    "UNKNOWN_CODEC", "CHECKSUM_DOESNT_MATCH", "CORRUPTED_DATA", "CANNOT_READ_ALL_DATA", "CANNOT_DECOMPRESS",
    "CANNOT_OPEN_FILE", "FILE_DOESNT_EXIST", "CANNOT_READ_FROM_FILE_DESCRIPTOR", "NOT_ENOUGH_SPACE",
    "CANNOT_ALLOCATE_MEMORY", "TOO_MANY_SIMULTANEOUS_QUERIES", "ALL_CONNECTION_TRIES_FAILED", "NETWORK_ERROR",
    "SOCKET_TIMEOUT", "TABLE_IS_READ_ONLY",
})  # fmt: skip


def refuses_the_statement(message: str) -> bool:
    """True when ClickHouse's error ``message`` blames the statement (a syntax error, an unknown table, a
    type mismatch, a limit of the console's), False when it says the store failed."""
    name = _ERROR_NAME.search(_SERVER_VERSION.sub("", message))
    return name is not None and name.group(1) not in STORE_FAILURES


def statement_reason(message: str) -> str:
    """ClickHouse's reason for refusing a statement, in a line: its sentence and error name, e.g.
    ``Unknown table expression identifier 'x' (UNKNOWN_TABLE)``, not the rest of its text."""
    message = _SERVER_VERSION.sub("", message).strip()
    name = _ERROR_NAME.search(message)
    text = _CLICKHOUSE_DETAIL.sub("", _CLICKHOUSE_PREFIX.sub("", message, count=1))
    reason = (text.strip().splitlines() or [message])[0].rstrip(".")[:300]
    return f"{reason} ({name.group(1)})" if name and name.group(1) not in reason else reason


def admitted_statement(
    sql: str,
    query: Callable[[str], tuple[list[str], list[list[Any]]]],
    database: str,
    max_execution_s: int,
    readonly: int = 1,
) -> str:
    """The statement to run for ``sql`` (already wrapped in the console's settings, stopping it after
    ``max_execution_s``, at ``readonly`` 1, or 2 on an account whose profile sets 2), or raise
    :class:`ConsoleRefused`. ``query`` runs trusted SQL on the store; ``database`` is the store's."""
    from hive_otel.collector.store.transport import StoreError, sql_string

    try:
        _, rows = query(f"SELECT formatQuerySingleLine({sql_string(sql)})")
    except StoreError as exc:
        raise ConsoleRefused(f"not one valid statement: {statement_reason(str(exc))}") from None
    statement = str(rows[0][0])
    try:
        _, lines = query(f"EXPLAIN AST {statement}")
    except StoreError as exc:
        raise ConsoleRefused(f"not one valid statement: {statement_reason(str(exc))}") from None
    check_ast([str(line[0]) for line in lines], database)
    # materialize: ClickHouse counts a constant column's bytes once per block, so without it a constant
    # string of 1 KB on 200,000 rows passed the byte cap as a few KB and reached Python as 200 MB.
    settings = CONSOLE_SETTINGS.format(readonly=readonly, seconds=max_execution_s)
    return f"SELECT * APPLY(materialize) FROM ({statement}) SETTINGS {settings}"


def console_column_names(columns: list[str]) -> list[str]:
    """The names of the statement's columns, as written before :func:`admitted_statement` materialized them."""
    return [name[len(_MATERIALIZED) : -1] if name.startswith(_MATERIALIZED) else name for name in columns]


_MATERIALIZED = "materialize("


def check_ast(lines: list[str], database: str) -> None:
    """Raise :class:`ConsoleRefused` unless ``EXPLAIN AST`` ``lines`` describe a harmless SELECT."""
    if not lines or lines[0].strip() != "SelectWithUnionQuery (children 1)":
        root = lines[0].split(" (", 1)[0].strip() if lines else "nothing"
        detail = "INTO OUTFILE or FORMAT" if root == "SelectWithUnionQuery" else root
        raise ConsoleRefused(f"only one SELECT is allowed, without INTO OUTFILE, FORMAT or SETTINGS (got {detail})")
    table_function_depth = None  # the indentation of the TableExpression being read, if any
    in_tables: set[int] = set()  # lines naming the table on the right of an IN
    for number, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" "))
        node = _NODE.match(line)
        kind = node.group(2) if node else ""
        if table_function_depth is not None and indent <= table_function_depth:
            table_function_depth = None  # left that table expression
        if kind == "Set":
            raise ConsoleRefused("SETTINGS are not allowed in the console; it runs with its own")
        if kind == "ColumnsApplyTransformer":
            raise ConsoleRefused("APPLY is not allowed in the console: write the function call out")
        if kind == "TableExpression":
            table_function_depth = indent
            continue
        function = _FUNCTION.match(line)
        if function:
            name = function.group(2).lower()
            if table_function_depth is not None and indent == table_function_depth + 1:
                if name not in ALLOWED_TABLE_FUNCTIONS:
                    raise ConsoleRefused(f"table function {function.group(2)}() is not allowed in the console")
            elif _refused_function(name):
                raise ConsoleRefused(f"function {function.group(2)}() is not allowed in the console")
            if name in _IN_FUNCTIONS:
                in_tables.update(_arguments(lines, number)[1:2])
        identifier = _IDENTIFIER.match(line)
        if identifier and _refused_function(identifier.group(1).strip("`").lower()):
            raise ConsoleRefused(f"function {identifier.group(1)} is not allowed in the console")
        table = _TABLE.match(line) or (identifier if number in in_tables else None)
        if table and "." in table.group(1):
            schema = table.group(1).split(".", 1)[0].strip("`").lower()
            if schema in REFUSED_DATABASES or schema != database.lower():
                raise ConsoleRefused(f"the console reads the store's own tables only, not {table.group(1)}")


def _refused_function(name: str) -> bool:
    return name in REFUSED_FUNCTIONS or name.startswith("dictget")


def _arguments(lines: list[str], function_line: int) -> list[int]:
    """The line numbers of a ``Function`` node's arguments: the children of its ``ExpressionList``."""
    depth = len(lines[function_line]) - len(lines[function_line].lstrip(" "))
    arguments = []
    for number in range(function_line + 1, len(lines)):
        indent = len(lines[number]) - len(lines[number].lstrip(" "))
        if indent <= depth:
            break
        if indent == depth + 2:
            arguments.append(number)
    return arguments
