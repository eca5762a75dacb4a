"""Flags whose default is an environment variable, declared one way so each one names its variable,
and the types of numeric flags, so a bad number is refused by argparse (exit 2) before anything runs.

Precedence is the house rule (flag, then environment, then the default): the code that resolves
the value reads the variable (``ReceiverConfig.from_env``, ``default_store_url``); the flag's help
says which, so ``--help`` and README's Configuration table name the same constants of
:mod:`hive_otel.environment_variables`.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from hive_otel import environment_variables as ev
from hive_otel.settings import MAX_SECONDS

__all__ = ["ENV_VAR", "env_flag", "non_negative_int", "positive_seconds", "seconds", "store_flag"]

ENV_VAR = "env_var"
"""The attribute of an argparse action that names the variable it falls back to (tests/test_cli.py reads it)."""


def env_flag(
    parser: argparse.ArgumentParser, flag: str, env: str, *, fallback: str, help: str, **kwargs: Any
) -> argparse.Action:
    """Add ``flag``; when it is absent the value is ``$env``, else ``fallback`` (as the help says)."""
    if env not in ev.__all__:
        raise ValueError(f"{env} is not a constant of hive_otel.environment_variables")
    action = parser.add_argument(flag, help=f"{help} (default: ${env}, else {fallback})", **kwargs)
    setattr(action, ENV_VAR, env)
    return action


def store_flag(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--store URL``, the same for every command that opens the store."""
    return env_flag(
        parser, "--store", ev.HIVE_CLICKHOUSE_URL, metavar="URL", fallback="chdb://$HIVE_HOME/otel/clickhouse",
        help="the store: chdb:///abs/path (embedded) or http(s)://user:pass@host:8123/db (a ClickHouse server)",
    )  # fmt: skip


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return math.nan  # refused by the caller, with the flag's own message


def seconds(raw: str) -> float:
    """A duration flag: 0 to :data:`MAX_SECONDS` (a negative or NaN wait would spin, an infinite one hang)."""
    value = _number(raw)
    if not 0 <= value <= MAX_SECONDS:  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(f"expected seconds (0 to {MAX_SECONDS:g}), got {raw!r}")
    return value


def positive_seconds(raw: str) -> float:
    """A duration flag that must not be 0 either (a poll interval)."""
    value = _number(raw)
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected seconds (more than 0, at most {MAX_SECONDS:g}), got {raw!r}")
    return value


def non_negative_int(raw: str) -> int:
    """A count or version flag: a whole number, 0 or more."""
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {raw!r}")
    return value
