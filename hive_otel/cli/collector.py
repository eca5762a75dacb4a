"""Cloud-side subcommands: collector, migrate, usage, sql, status, reconcile, settle.

Exit codes: 0 ok, 2 usage error (bad flag, key, time or statement), 3 store unavailable or locked.
While a collector owns an embedded (chDB) store, ``usage``, ``sql`` and ``status`` ask it over HTTP
(the owner URL recorded in the store's lock file) instead of opening the files.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from hive_otel import environment_variables as ev
from hive_otel.collector.queries.group_by import parse_keys
from hive_otel.collector.queries.remote import open_reader
from hive_otel.collector.queries.status import recent_sessions
from hive_otel.collector.queries.text_table import cell, render_table
from hive_otel.collector.queries.usage import GROUP_KEYS, MEASURES, usage
from hive_otel.collector.store.migrations import PREFOLD_CHAIN, RenderOptions
from hive_otel.collector.store.store import is_read_only_sql, open_store
from hive_otel.collector.store.transport import StoreError

EXIT_OK, EXIT_USAGE, EXIT_STORE = 0, 2, 3
FORMATS = ("table", "json", "csv")


def _store_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"chdb:///abs/path or http(s)://user:pass@host:8123/db (default: ${ev.HIVE_CLICKHOUSE_URL}, "
        "else chdb://$HIVE_HOME/otel/clickhouse)",
    )


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
        except ValueError as exc:
            print(f"hive-otel {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except StoreError as exc:
            print(f"hive-otel {args.command}: {exc}", file=sys.stderr)
            return EXIT_STORE

    return wrapper


def _cmd_migrate(args: argparse.Namespace) -> int:
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
    finally:
        store.close()
    return EXIT_OK


def _restamped(stamped: list[int]) -> str:
    if not stamped:
        return "nothing to restamp: the store records the folded migrations already (or none)"
    return (f"restamped: the pre-fold migrations 0001-{max(PREFOLD_CHAIN):04d} are now recorded as the folded "
            f"0001-{max(stamped):04d}")  # fmt: skip


def _cmd_usage(args: argparse.Namespace) -> int:
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
    if not is_read_only_sql(args.statement):
        raise ValueError("only one SELECT is allowed")
    reader, close = open_reader(args.store)
    try:  # the console policy (hive_otel.collector.store.console) here or in the collector that owns the store
        columns, rows = reader.console_query(args.statement)
    finally:
        close()
    _emit(columns, rows, args.format)
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    reader, close = open_reader(args.store)
    try:  # the store's tables, or the collector that owns the store, asked by parameters
        columns, rows = recent_sessions(reader, args.tenant, args.limit)
    finally:
        close()
    _emit(columns, rows, args.format)
    return EXIT_OK


def _cmd_reconcile(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    try:
        result = store.reconcile()
    finally:
        store.close()
    print(f"rebuilt the ledger and rollups from {result['facts']} current fact(s)")
    return EXIT_OK


def _cmd_settle(args: argparse.Namespace) -> int:
    store = open_store(args.store)
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


def register(sub: argparse._SubParsersAction) -> None:
    migrate = sub.add_parser("migrate", help="apply the ClickHouse migrations (idempotent)")
    _store_arg(migrate)
    migrate.add_argument("--cluster", metavar="NAME", help="render ON CLUSTER NAME and Replicated* engines")
    migrate.add_argument("--ttl-days", type=int, default=0, metavar="N",
                         help="expire raw otel_* rows after N days (0, the default, keeps them)")  # fmt: skip
    migrate.add_argument("--down-to", type=int, metavar="VERSION", help="roll back to VERSION (0 = everything)")
    migrate.add_argument("--restamp-prefold", action="store_true",
                         help="first record a store migrated by the complete pre-fold chain (0001-0034) as "
                         "migrated by the folded set: same schema, only schema_migrations changes")  # fmt: skip
    migrate.set_defaults(func=_guarded(_cmd_migrate))

    use = sub.add_parser("usage", help="usage rollups grouped by keys")
    _store_arg(use)
    use.add_argument("--group-by", required=True, metavar="KEY[,KEY...]", help=f"keys: {', '.join(GROUP_KEYS)}")
    use.add_argument("--since", metavar="WHEN",
                     help="from this time (inclusive): ISO (UTC unless an offset is given) or e.g. now-7d/d")  # fmt: skip
    use.add_argument("--until", metavar="WHEN", help="up to this time (exclusive): ISO or e.g. now/d")
    use.add_argument("--tenant", metavar="T", help="only this tenant")
    _format_arg(use)
    use.set_defaults(func=_guarded(_cmd_usage))

    sql = sub.add_parser("sql", help="run one read-only SQL statement on the store")
    _store_arg(sql)
    sql.add_argument("statement", metavar="SQL", help='e.g. "SELECT model, count() FROM usage_facts FINAL GROUP BY model"')
    _format_arg(sql)
    sql.set_defaults(func=_guarded(_cmd_sql))

    status = sub.add_parser("status", help="sessions with status, phase and last-seen time")
    _store_arg(status)
    status.add_argument("--tenant", metavar="T", help="only this tenant")
    status.add_argument("--limit", type=int, default=100, help="at most this many sessions (default 100)")
    _format_arg(status)
    status.set_defaults(func=_guarded(_cmd_status))

    reconcile = sub.add_parser("reconcile", help="rebuild the usage ledger and rollups from the facts")
    _store_arg(reconcile)
    reconcile.set_defaults(func=_guarded(_cmd_reconcile))

    settle = sub.add_parser(
        "settle", help="make the facts and rollups agree with the calls as merged by ClickHouse (several collectors)"
    )
    _store_arg(settle)
    settle.add_argument("--every", type=float, default=0.0, metavar="SECONDS",
                        help="settle again every SECONDS until interrupted (run one such process per store)")  # fmt: skip
    settle.set_defaults(func=_guarded(_cmd_settle))

    try:  # the receiver helper adds `hive-otel collector` there
        from hive_otel.collector.receiver.receiver import add_collector_command
    except ImportError:
        return
    add_collector_command(sub)
    from hive_otel.cli.api import add_api_command

    add_api_command(sub)
