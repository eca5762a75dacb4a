"""The ``hive-otel`` command: a thin ``run()`` that dispatches to library code.

Client commands (backfill, watch, doctor) live in :mod:`hive_otel.cli.client`; cloud-side commands
(collector, tokens, api, migrate, usage, sql, status, reconcile, report) in :mod:`hive_otel.cli.collector`,
:mod:`hive_otel.collector.receiver.receiver`, :mod:`hive_otel.cli.api` and :mod:`hive_otel.collector.report`. Each module has
a ``register``-style function that adds its subcommands with a ``func`` default returning an exit code.

Two install profiles: ``pip install hive-otel`` is the client only; ``hive-otel[collector]`` adds the
packages in :data:`COLLECTOR_IMPORTS`. A client command never imports the collector side (not even where
it is installed: the client runs inside Hive's process and should load only what it uses); a collector
command without them exits 2 naming the install command.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys

from hive_otel import __version__

# Every command that is not the client's (tests/test_install_profiles.py checks the list is whole).
COLLECTOR_COMMANDS = ("collector", "tokens", "api", "migrate", "usage", "sql", "status", "reconcile", "settle", "report")
# Import name → distribution, for each package the `collector` extra in pyproject.toml adds.
COLLECTOR_IMPORTS = {
    "chdb": "chdb-core",
    "pyarrow": "pyarrow",
    "clickhouse_connect": "clickhouse-connect",
    "genai_prices": "genai-prices",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "fastapi": "fastapi",
    "plotly": "plotly",
}
COLLECTOR_INSTALL = "pip install 'hive-otel[collector]'"
EXIT_USAGE = 2


def missing_collector_packages() -> list[str]:
    """The distributions of the `collector` extra that cannot be imported here (found without importing)."""
    return [dist for name, dist in COLLECTOR_IMPORTS.items() if importlib.util.find_spec(name) is None]


def command_of(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (no global option takes a value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; for a client ``command`` only the client commands, so nothing of the collector is imported."""
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
    from hive_otel.cli import client as client_cli

    client_cli.register(sub)
    if command in sub.choices:  # a client command
        return parser
    if missing_collector_packages():
        for name in COLLECTOR_COMMANDS:  # listed in --help; run() refuses them before parsing
            sub.add_parser(name, help=f"(collector side: {COLLECTOR_INSTALL})")
        return parser
    from hive_otel.cli import collector as collector_cli
    from hive_otel.collector import report

    collector_cli.register(sub)
    report.register(sub)
    return parser


def run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = command_of(argv)
    if command in COLLECTOR_COMMANDS and (missing := missing_collector_packages()):
        print(f"hive-otel {command} needs: {COLLECTOR_INSTALL} ({', '.join(missing)} not installed)", file=sys.stderr)
        return EXIT_USAGE
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
