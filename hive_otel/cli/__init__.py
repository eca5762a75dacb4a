"""The ``hive-otel`` command: a thin ``run()`` that dispatches to library code.

:data:`COMMANDS` lists every subcommand with the module of this package that adds it (each module's
``register(sub)`` adds its commands, each with a ``func`` default returning an exit code): the
client's in :mod:`hive_otel.cli.client`, the collector wing's in :mod:`hive_otel.cli.collector` and
:mod:`hive_otel.cli.api`. No component registers a command; the collector's commands assemble the
components (``hive-otel collector`` opens the store and runs :mod:`hive_otel.collector.service`).

Two install profiles: ``pip install hive-otel`` is the client only; ``hive-otel[collector]`` adds the
packages in :data:`COLLECTOR_IMPORTS`. A client command never imports the collector side (not even where
it is installed: the client runs inside Hive's process and should load only what it uses); a collector
command without them exits 2 naming the install command.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import signal
import sys

from hive_otel import __version__

# Every subcommand → the module of hive_otel.cli that adds it, in the order of `hive-otel --help` (tests/test_cli.py
# checks each module adds exactly its commands, and tests/test_install_profiles.py that the client's
# parser has only the client's).
CLIENT_COMMANDS = {"backfill": "client", "watch": "client", "doctor": "client", "outbox": "client"}
COLLECTOR_COMMAND_MODULES = {
    "collector": "collector",
    "tokens": "collector",
    "migrate": "collector",
    "reconcile": "collector",
    "settle": "collector",
    "usage": "collector",
    "sql": "collector",
    "status": "collector",
    "report": "collector",
    "api": "api",
}
COMMANDS = {**CLIENT_COMMANDS, **COLLECTOR_COMMAND_MODULES}
COLLECTOR_COMMANDS = tuple(COLLECTOR_COMMAND_MODULES)
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
    "zlib_ng": "zlib-ng",
    "h11": "h11",
}
COLLECTOR_INSTALL = "pip install 'hive-otel[collector]'"
EXIT_USAGE = 2
VERBOSE_HELP = "log debug detail to stderr"
MIGRATIONS_LOGGER = "hive_otel.collector.store.migrations"  # named, not imported: a client-only install has none
# The reader of our output went away (`hive-otel sql ... | head`): the code a shell reports for a command
# SIGPIPE ended (`yes | head`), so scripts see what any other Unix filter gives them; not 1 (Python's
# documented recipe), which `outbox`, `report` and `collector` use for outcomes of their own.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


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
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_modules(sub, CLIENT_COMMANDS)
    if command in CLIENT_COMMANDS:
        verbose_after_the_command(sub)
        return parser
    if missing_collector_packages():
        for name in COLLECTOR_COMMANDS:  # listed in --help; run() refuses them before parsing
            sub.add_parser(name, help=f"(collector side: {COLLECTOR_INSTALL})")
        return parser
    register_modules(sub, COLLECTOR_COMMAND_MODULES)
    verbose_after_the_command(sub)
    return parser


def verbose_after_the_command(sub: argparse._SubParsersAction) -> None:
    """``-v`` after the command too (``hive-otel backfill -v``), as users type it. Without a default of
    its own, a command's ``-v`` leaves the top-level one (``hive-otel -v backfill``) as it was."""
    for parser in sub.choices.values():
        parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)


def register_modules(sub: argparse._SubParsersAction, commands: dict[str, str]) -> None:
    """Let each module ``commands`` names add its subcommands, in the order of the table."""
    for module in dict.fromkeys(commands.values()):
        importlib.import_module(f"{__name__}.{module}").register(sub)


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
    if not args.verbose:  # every command that opens a store migrates it: each migration applied is said
        logging.getLogger(MIGRATIONS_LOGGER).setLevel(logging.INFO)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that left is found here, not by the interpreter's flush at exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """End quietly after the reader of stdout closed the pipe: the command did nothing wrong, and
    nobody is left to tell. Stdout goes to /dev/null so that the interpreter's final flush of what is
    still buffered cannot fail again (Python's recipe, docs: "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE
