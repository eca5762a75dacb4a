"""The collector wing's subcommands: collector, tokens, migrate, usage, sql, status, reconcile, settle,
report (``api`` is :mod:`hive_otel.cli.api`).

``collector`` opens the store and runs :class:`hive_otel.collector.service.Collector` over it (the
receiver with the API on its HTTP port) in the foreground. Exit codes: 0 ok, 1 a port is taken
(``collector``) or some report panels failed (``report``), 2 usage error (bad flag, key, time or
statement), 3 store unavailable or locked, or no store at the path: only ``collector``, ``migrate``
and ``api`` create one, the others refuse a path that holds no store. While a collector owns an
embedded (chDB) store, ``usage``, ``sql``, ``status`` and ``report`` ask it over HTTP (the owner URL
recorded in the store's lock file) instead of opening the files; on a server store they apply no
migration (it is shared with the collectors writing into it) and refuse one that lacks any (3).
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hive_otel import environment_variables as ev
from hive_otel.cli.flags import env_flag, non_negative_int, seconds, store_flag
from hive_otel.collector.auth.tokens import MIN_TOKEN_LENGTH, add_token, hash_token
from hive_otel.collector.config import DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_MAX_BODY, ReceiverConfig
from hive_otel.collector.queries.group_by import parse_keys
from hive_otel.collector.queries.remote import open_reader
from hive_otel.collector.queries.status import recent_sessions
from hive_otel.collector.queries.text_table import cell, render_table
from hive_otel.collector.queries.usage import GROUP_KEYS, MEASURES, usage
from hive_otel.collector.store.migrations import PREFOLD_CHAIN, RenderOptions, load_migrations
from hive_otel.collector.store.store import StoreUrlError, open_store
from hive_otel.collector.store.transport import StoreError
from hive_otel.settings import SettingsError

EXIT_OK, EXIT_USAGE, EXIT_STORE = 0, 2, 3
EXIT_PORT_TAKEN = EXIT_INCOMPLETE = 1
FORMATS = ("table", "json", "csv")


def _format_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")


def _emit(columns: list[str], rows: list[list[Any]], fmt: str, doc: Any = None) -> None:
    if fmt == "json":
        records = [dict(zip(columns, r, strict=True)) for r in rows]
        print(json.dumps(doc if doc is not None else records, indent=2, default=str))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[cell(v) for v in r] for r in rows])
        sys.stdout.write(buffer.getvalue())
    else:
        print(render_table(columns, rows))


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (ValueError, StoreUrlError) as exc:
            print(f"hive-otel {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except StoreError as exc:  # StoreLockedError included: another process owns the chDB path
            print(f"hive-otel {args.command}: {exc}", file=sys.stderr)
            return EXIT_STORE

    return wrapper


def _cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the ClickHouse migrations (idempotent).

    Apply the migrations under clickhouse/migrations the store has not run yet (a collector does it too as it opens one),
    or roll back with --down-to; --restamp-prefold first records a store migrated before the migrations were
    folded (clickhouse/migrations/README.md). Exit codes: 0 ok, 2 usage error, 3 store unavailable, locked or
    migrated by another set of migrations.
    """
    options = RenderOptions(cluster=args.cluster, ttl_days=args.ttl_days)
    store = open_store(args.store, migrate=False)
    try:
        if args.restamp_prefold:
            print(_restamped(store.restamp_prefold(options)))
        if args.down_to is not None:
            done = store.rollback(args.down_to, options)
            print(f"rolled back {len(done)} migration(s)" + (f": {', '.join(f'{v:04d}' for v in done)}" if done else ""))
        else:
            done = store.migrate(options)
            print(f"applied {len(done)} migration(s)" + (f": {', '.join(f'{v:04d}' for v in done)}" if done else ""))
            if (args.cluster or args.ttl_days) and len(done) < len(load_migrations()):
                # A deploy script runs the same `migrate` every start: say so, do not fail it.
                print("hive-otel migrate: --cluster and --ttl-days shape only the migrations a run applies; the "
                      "store had the others already, and their tables keep what they were made with "
                      "(clickhouse/migrations/README.md)", file=sys.stderr)  # fmt: skip
    finally:
        store.close()
    return EXIT_OK


def _restamped(stamped: list[int]) -> str:
    if not stamped:
        return "nothing to restamp: the store records the folded migrations already (or none)"
    return (f"restamped: the pre-fold migrations 0001-{max(PREFOLD_CHAIN):04d} are now recorded as the folded "
            f"0001-{max(stamped):04d}")  # fmt: skip


def _cmd_usage(args: argparse.Namespace) -> int:
    """Usage rollups grouped by keys.

    Tokens, cost and calls from the usage rollups, grouped by the given keys, over [--since, --until).
    Exit codes: 0 ok, 2 bad key or time, 3 no store at the path, store unavailable or locked.
    """
    keys = parse_keys(args.group_by, GROUP_KEYS)
    if not keys:
        raise ValueError(f"--group-by needs at least one of {', '.join(GROUP_KEYS)}")
    reader, close = open_reader(args.store)
    try:  # the store's tables, or the collector that owns the store, asked by parameters
        report = usage(reader, keys, args.since, args.until, args.tenant)
    finally:
        close()
    columns = keys + list(MEASURES)
    rows = [[row[c] for c in columns] for row in report.rows]
    if args.format == "table":
        rows.append(["TOTAL"] + [""] * (len(keys) - 1) + [report.totals[m] for m in MEASURES])
    _emit(columns, rows, args.format, report.as_dict() if args.format == "json" else None)
    return EXIT_OK


def _cmd_sql(args: argparse.Namespace) -> int:
    """Run one read-only SQL statement on the store (the operator's console).

    One SELECT over every tenant's rows, under the console policy (README: The SQL console). Through a
    running collector it needs an admin token and this machine. Exit codes: 0 ok, 2 refused or bad
    statement, 3 no store at the path, store unavailable or locked.
    """
    reader, close = open_reader(args.store)
    try:  # the console policy (hive_otel.collector.store.console), here or in the collector that owns the store,
        columns, rows = reader.console_query(args.statement)  # refuses what it does not run with ClickHouse's reason
    finally:
        close()
    _emit(columns, rows, args.format)
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    """Sessions with status, phase and last-seen time.

    The most recently seen sessions first. Exit codes: 0 ok, 2 bad limit, 3 no store at the path, store
    unavailable or locked.
    """
    reader, close = open_reader(args.store)
    try:  # the store's tables, or the collector that owns the store, asked by parameters
        columns, rows = recent_sessions(reader, args.tenant, args.limit)
    finally:
        close()
    _emit(columns, rows, args.format)
    return EXIT_OK


def _cmd_reconcile(args: argparse.Namespace) -> int:
    """Rebuild the usage facts, ledger and rollups from usage_calls.

    Rewrite the usage facts from usage_calls (every version of each call any collector wrote, merged), then
    rebuild the signed ledger, the rollups and the key index from them. Run it with ingest paused; while
    several collectors write, `hive-otel settle` is the one to run. Exit codes: 0 ok, 3 no store at the path,
    store unavailable or locked.
    """
    store = open_store(args.store, create=False)  # nothing to rebuild where there is no store
    try:
        result = store.reconcile()
    finally:
        store.close()
    print(f"rebuilt the ledger and rollups from {result['facts']} current fact(s)")
    return EXIT_OK


def _cmd_settle(args: argparse.Namespace) -> int:
    """Make the facts and rollups agree with the calls as merged by ClickHouse (several collectors).

    For several collectors on one ClickHouse server (docs/scaling.md). Exit codes: 0 ok, 2 usage error, 3 no
    store at the path, store unavailable or locked.
    """
    store = open_store(args.store, create=False)  # nothing to settle where there is no store
    try:
        while True:
            started = time.monotonic()
            store.settle()
            print(f"settled in {time.monotonic() - started:.2f} s", flush=True)
            if not args.every:
                return EXIT_OK
            time.sleep(max(0.0, args.every - (time.monotonic() - started)))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        store.close()


def _cmd_report(args: argparse.Namespace) -> int:
    """Write the usage and status charts as one self-contained HTML page.

    For people without Grafana: the panels of the Usage and Status dashboards, drawn with the plotly.js
    embedded in the page, which opens offline. Exit codes: 0 written, 1 written but some panels failed,
    2 usage error, 3 no store at the path, store unavailable or locked.
    """
    from hive_otel.collector.report import write_report

    reader, close = open_reader(args.store)  # the store, or the collector that owns it (errors: _guarded)
    try:
        source = args.store or "the default store"
        result = write_report(reader, args.html, since=args.since, until=args.until, source=source, tenant=args.tenant)
    finally:
        close()
    for problem in result.failed:
        print(f"hive-otel report: panel failed: {problem}", file=sys.stderr)
    print(f"hive-otel report: {result.panels} panels ({result.charts} charts) written to {result.path}")
    return EXIT_INCOMPLETE if result.failed else EXIT_OK


# --- `hive-otel collector`: the store, then the receiver and the API over it --------------------


def _cmd_collector(args: argparse.Namespace) -> int:
    """Receive OTLP (gRPC and HTTP) into the store, and serve the API on the HTTP port.

    Run the OTLP receiver, with the status and usage API on its HTTP port, in the foreground until SIGTERM or
    SIGINT. Requests are acknowledged only after the store has ingested them; a client too slow to send a
    whole request, or a connection held open, is cut off (README: slow clients). Without --tokens the collector
    listens on loopback only, and a request's tenant is its x-hive-tenant-id header, else 'local'. Exit codes:
    0 after a clean shutdown, 1 when a port is taken, 2 for invalid settings, 3 when the store cannot be opened
    or another process owns the embedded store; a signal while the store opens (migrations, recovery) ends it as
    the signal does (143 for SIGTERM), and the next start does that work again.
    """
    try:
        config = ReceiverConfig.from_env(grpc=args.grpc, http=args.http, max_body=args.max_body, tokens=args.tokens)
    except SettingsError as exc:
        print(f"hive-otel collector: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = open_store(args.store, allow_all_keys=args.allow_all_keys)  # its errors are exit codes by _guarded
    stop_requested = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop_requested.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _serve(store, config, stop_requested)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.close()


def _serve(store: Any, config: ReceiverConfig, stop_requested: threading.Event) -> int:
    from hive_otel.collector.service import Collector

    collector = Collector.from_config(store, config)
    try:
        collector.start()
    except OSError as exc:
        print(f"hive-otel collector: {exc}", file=sys.stderr)
        return EXIT_PORT_TAKEN
    try:
        tenancy = f"{len(config.tokens)} token(s), tenant from the token" if config.tokens else "single-tenant, no tokens"
        print(
            f"hive-otel collector: OTLP/gRPC on {collector.grpc_target}, OTLP/HTTP on {collector.http_url} "
            f"({tenancy}; pid {os.getpid()})",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            pass  # a timed wait keeps the main thread responsive to signals
        print("hive-otel collector: shutting down", file=sys.stderr, flush=True)
    finally:
        collector.stop()
    return EXIT_OK


# --- `hive-otel tokens`: the collector's tokens file ----------------------------------------------


def _read_token_from_stdin() -> str:
    token = sys.stdin.readline().strip()
    if not token:
        raise ValueError('expected the token on stdin (e.g. `printf %s "$TOKEN" | hive-otel tokens hash`)')
    if len(token) < MIN_TOKEN_LENGTH:  # `hash` too: a hash added by hand must not let a guessable token in
        raise ValueError(
            f"the token is shorter than {MIN_TOKEN_LENGTH} characters; `hive-otel tokens add --generate` makes a strong one"
        )
    return token


def _cmd_tokens_hash(_: argparse.Namespace) -> int:
    try:
        print(hash_token(_read_token_from_stdin()))
    except ValueError as exc:
        print(f"hive-otel tokens hash: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _cmd_tokens_add(args: argparse.Namespace) -> int:
    try:
        token = secrets.token_urlsafe(32) if args.generate else _read_token_from_stdin()
        entry = add_token(args.file, token, args.tenant, admin=args.admin, label=args.label)
    except (ValueError, SettingsError) as exc:
        print(f"hive-otel tokens add: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.generate:
        print(token)  # the only time this token is ever shown
    print(f"added {entry.sha256[:12]}… for tenant {entry.tenant!r} to {args.file}", file=sys.stderr)
    return EXIT_OK


# --- the parsers ------------------------------------------------------------------------------------


def _command(
    sub: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """A command on the store: ``--store``, and ``run`` with its usage and store errors turned into exit codes.
    Its one-line help and its description are ``run``'s docstring (first paragraph, then the rest)."""
    summary, _, details = inspect.cleandoc(run.__doc__ or "").partition("\n\n")
    parser = sub.add_parser(name, help=summary[0].lower() + summary[1:].rstrip("."), description=details)
    store_flag(parser)
    parser.set_defaults(func=_guarded(run))
    return parser


def _add_collector(sub: argparse._SubParsersAction) -> None:
    parser = _command(sub, "collector", _cmd_collector)
    for flag, transport, address in (("--grpc", "gRPC", DEFAULT_GRPC_ENDPOINT), ("--http", "HTTP", DEFAULT_HTTP_ENDPOINT)):
        parser.add_argument(
            flag, metavar="HOST:PORT", help=f"OTLP/{transport} listen address (default: {address}; port 0 = any)"
        )
    env_flag(parser, "--max-body", ev.HIVE_OTEL_COLLECTOR_MAX_BODY, metavar="BYTES", type=int,
             fallback=str(DEFAULT_MAX_BODY), help="largest request accepted, before and after decompression")  # fmt: skip
    env_flag(parser, "--tokens", ev.HIVE_OTEL_COLLECTOR_TOKENS, metavar="FILE",
             help="YAML/JSON file of bearer-token SHA-256 hashes and their tenants; every request then needs a "
             "listed token, and its tenant overwrites the payload's",
             fallback="none: loopback only, tenant from x-hive-tenant-id or 'local'; "
             "make one with `hive-otel tokens add`")  # fmt: skip
    parser.add_argument(
        "--allow-all-keys", action="store_true",
        help="store every attribute key as sent, for a store that also takes other senders' OTLP (default: only the "
        "keys of the redaction policy, as the client sends them; the others are dropped and counted in "
        "redaction_dropped_attributes)",
    )  # fmt: skip


def _add_tokens(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tokens", help="hash bearer tokens and add them to a collector tokens file",
        description="The collector's tokens file (--tokens FILE) stores SHA-256 hashes of tokens, never tokens. "
        "Exit codes: 0 ok, 2 no token on stdin or an invalid entry.",
    )  # fmt: skip
    actions = parser.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    actions.add_parser(
        "hash", help="print the SHA-256 hash of the token read from stdin",
        description="Print the hash a tokens file lists for the token read from stdin (to add it by hand).",
    ).set_defaults(func=_cmd_tokens_hash)  # fmt: skip
    add = actions.add_parser(
        "add", help="append a token's hash and tenant to a tokens file",
        description="Reads the token from stdin, or makes a new one with --generate and prints it once.",
    )  # fmt: skip
    add.add_argument("--tenant", required=True, help="the tenant requests with this token write as")
    add.add_argument("--file", required=True, type=Path, help="the tokens file (created if missing)")
    add.add_argument("--admin", action="store_true", help="also allow SQL on /hive/v1/query from the collector's machine")
    add.add_argument("--label", help="who holds the token (kept in the file for people)")
    add.add_argument("--generate", action="store_true", help="make a random token and print it on stdout")
    add.set_defaults(func=_cmd_tokens_add)


def _add_store_commands(sub: argparse._SubParsersAction) -> None:
    migrate = _command(sub, "migrate", _cmd_migrate)
    migrate.add_argument("--cluster", metavar="NAME",
                         help="render ON CLUSTER NAME and Replicated* engines (for migrations not yet applied: give it "
                         "to the first migrate of a new store, before any other command opens it)")  # fmt: skip
    migrate.add_argument("--ttl-days", type=non_negative_int, default=0, metavar="N",
                         help="expire raw otel_* rows after N days (0, the default, keeps them; like --cluster, for "
                         "migrations not yet applied)")  # fmt: skip
    migrate.add_argument("--down-to", type=non_negative_int, metavar="VERSION", help="roll back to VERSION (0 = everything)")
    migrate.add_argument("--restamp-prefold", action="store_true",
                         help="first record a store migrated by the complete pre-fold chain (0001-0034) as "
                         "migrated by the folded set: same schema, only schema_migrations changes")  # fmt: skip
    _command(sub, "reconcile", _cmd_reconcile)
    settle = _command(sub, "settle", _cmd_settle)
    settle.add_argument("--every", type=seconds, default=0.0, metavar="SECONDS",
                        help="settle again every SECONDS until interrupted (run one such process per store)")  # fmt: skip


def _add_read_commands(sub: argparse._SubParsersAction) -> None:
    use = _command(sub, "usage", _cmd_usage)
    use.add_argument("--group-by", required=True, metavar="KEY[,KEY...]", help=f"keys: {', '.join(GROUP_KEYS)}")
    use.add_argument("--since", metavar="WHEN",
                     help="from this time (inclusive): ISO (UTC unless an offset is given) or e.g. now-7d/d")  # fmt: skip
    use.add_argument("--until", metavar="WHEN", help="up to this time (exclusive): ISO or e.g. now/d")
    use.add_argument("--tenant", metavar="T", help="only this tenant")
    _format_arg(use)
    sql = _command(sub, "sql", _cmd_sql)
    sql.add_argument("statement", metavar="SQL", help='e.g. "SELECT model, count() FROM usage_facts FINAL GROUP BY model"')
    _format_arg(sql)
    status = _command(sub, "status", _cmd_status)
    status.add_argument("--tenant", metavar="T", help="only this tenant")
    status.add_argument("--limit", type=int, default=100, help="at most this many sessions (default 100)")
    _format_arg(status)


def _add_report(sub: argparse._SubParsersAction) -> None:
    from hive_otel.collector.report import DEFAULT_SINCE

    report = _command(sub, "report", _cmd_report)
    report.add_argument("--html", required=True, type=Path, metavar="FILE", help="the page to write, e.g. report.html")
    report.add_argument("--since", metavar="WHEN", help=f"start: ISO time or e.g. now-7d (default {DEFAULT_SINCE})")
    report.add_argument("--until", metavar="WHEN", help="end: ISO time or e.g. now-1d/d (default: now)")
    report.add_argument("--tenant", metavar="T", help="only this tenant")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the commands this module runs (hive_otel.cli.COMMANDS lists them, in this order)."""
    for add in (_add_collector, _add_tokens, _add_store_commands, _add_read_commands, _add_report):
        add(sub)
