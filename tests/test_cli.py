"""The ``hive-otel`` command: one table lists every subcommand, each explains itself, and every flag that
falls back to an environment variable names it (README's Configuration table documents each variable:
tests/test_readme.py::test_every_environment_variable_is_documented).

The parsers are the real ones (nothing is run but argparse and ``hive-otel --help`` in a subprocess).
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hive_otel import environment_variables as ev
from hive_otel.cli import CLIENT_COMMANDS, COLLECTOR_COMMANDS, COMMANDS, build_parser
from hive_otel.cli.flags import ENV_VAR

# The flags whose value the environment gives when they are absent, wherever a command has them.
ENV_FLAGS = {"--store": ev.HIVE_CLICKHOUSE_URL, "--tokens": ev.HIVE_OTEL_COLLECTOR_TOKENS,
             "--max-body": ev.HIVE_OTEL_COLLECTOR_MAX_BODY}  # fmt: skip


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _every_parser(parser: argparse.ArgumentParser, name: str = "hive-otel") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for command, child in _subcommands(parser).items():
        yield f"{name} {command}", child
        yield from _every_parser(child, f"{name} {command}")


def _flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_help_lists_every_subcommand() -> None:
    done = subprocess.run([sys.executable, "-m", "hive_otel.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = re.findall(r"^    (\w+) ", done.stdout, flags=re.M)
    assert listed == list(COMMANDS)  # every one, in the table's order
    assert set(COMMANDS) == set(CLIENT_COMMANDS) | set(COLLECTOR_COMMANDS)
    assert not set(CLIENT_COMMANDS) & set(COLLECTOR_COMMANDS)


@pytest.mark.parametrize("module", sorted(set(COMMANDS.values())))
def test_each_module_adds_exactly_the_commands_the_table_gives_it(module: str) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"hive_otel.cli.{module}").register(sub)
    assert set(sub.choices) == {command for command, owner in COMMANDS.items() if owner == module}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_explains_itself_and_each_of_its_flags(command: str) -> None:
    top = build_parser()
    listing = {a.dest: a.help for a in top._subparsers._group_actions[0]._choices_actions}  # type: ignore[union-attr]
    assert listing[command]  # the line `hive-otel --help` shows
    for name, parser in [(f"hive-otel {command}", _subcommands(top)[command]), *_every_parser(_subcommands(top)[command])]:
        if not _subcommands(parser) and command in COLLECTOR_COMMANDS:
            assert parser.description, f"{name} --help says what it does (and its exit codes)"
        positional = [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
        for flag in _flags(parser) + positional:
            assert flag.help, f"{name} {flag.option_strings or flag.dest} has no help"


def test_a_flag_that_falls_back_to_the_environment_names_the_variable() -> None:
    parsers = list(_every_parser(build_parser()))
    tagged = 0
    for name, parser in parsers:
        for flag in _flags(parser):
            env = getattr(flag, ENV_VAR, None)
            expected = next((ENV_FLAGS[o] for o in flag.option_strings if o in ENV_FLAGS), None)
            if name.split()[1] in COLLECTOR_COMMANDS:
                assert env == expected, f"{name} {flag.option_strings}: declared with hive_otel.cli.flags.env_flag"
            if env is not None:
                tagged += 1
                assert f"${env}" in flag.help, f"{name} {flag.option_strings} does not name ${env}"
            for mentioned in re.findall(r"\$([A-Z][A-Z0-9_]+)", flag.help or ""):
                assert mentioned in ev.__all__, f"{name} {flag.option_strings} names ${mentioned}, not a known variable"
    assert tagged >= len(COLLECTOR_COMMANDS) - 1  # every command of the store has --store (tokens has none)


@pytest.mark.parametrize("command", ["doctor", "usage"])
def test_verbose_goes_before_or_after_the_command(command: str) -> None:
    """`hive-otel backfill -v` was "unrecognized arguments: -v"."""
    parser = build_parser(command)
    extra = ["--group-by=model"] if command == "usage" else []
    assert parser.parse_args([command, *extra, "-v"]).verbose is True
    assert parser.parse_args(["-v", command, *extra]).verbose is True
    assert parser.parse_args([command, *extra]).verbose is False
