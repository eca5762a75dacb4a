"""The ``hive-otel`` command: a thin ``run()`` that dispatches to library code.

Client commands (backfill, watch, doctor) live in :mod:`hive_otel.client_cli`; cloud-side commands
(collector, migrate, usage, sql, status) in :mod:`hive_otel.collector.cli`. Each module has a
``register(subparsers)`` that adds its subcommands with a ``func`` default returning an exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hive_otel import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hive-otel",
        description=(
            "Carry Hive's usage and status to any OpenTelemetry backend (client side), and receive, "
            "store and report it (cloud side). Nothing is exported unless HIVE_OTEL_ENDPOINT is set."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hive-otel {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from hive_otel import client_cli, report
    from hive_otel.collector import cli as collector_cli

    client_cli.register(sub)
    collector_cli.register(sub)
    report.register(sub)
    return parser


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(run())
