"""Client-side subcommands: backfill, watch, doctor (filled in by the client pipeline)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    return None
