"""The queries' SQL templates: ``sql/<name>.sql`` beside this module, shipped in the wheel as package data.

A template is SQL with ``{placeholders}`` filled by :meth:`str.format` from values the query layer built
(identifiers from fixed tables, literals through :func:`~hive_otel.collector.store.transport.sql_string`);
its ``--`` comment lines say what it is for and are dropped before it runs.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["template", "templates"]


@cache
def template(name: str) -> str:
    """The text of ``sql/<name>.sql`` (``name`` may hold a folder: ``panels/usage_02_cost``) without its comment lines."""
    text = files(__package__).joinpath("sql", *f"{name}.sql".split("/")).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()


def templates(folder: str) -> list[str]:
    """The names of the templates in ``sql/<folder>``, sorted, for :func:`template`."""
    found = files(__package__).joinpath("sql", folder).iterdir()
    return sorted(f"{folder}/{entry.name.removesuffix('.sql')}" for entry in found if entry.name.endswith(".sql"))
