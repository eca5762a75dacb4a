"""The collector's SQL templates: ``sql/<name>.sql`` beside the code that runs them, shipped in the wheel as
package data (pyproject ``[tool.setuptools.package-data]``). The one loader for the whole collector wing; it
sits outside the layered subpackages so that each of them (queries, api, store, rollups) may use it.

A template is SQL with ``{placeholders}`` filled by :meth:`str.format` from values the caller built
(identifiers from fixed tables, literals through :func:`~hive_otel.collector.store.transport.sql_string`,
integers through ``int``) or left for the transport's own query parameters; its ``--`` comment lines say
what it is for and are dropped before it runs.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["template", "templates"]


@cache
def template(package: str, name: str) -> str:
    """The text of ``sql/<name>.sql`` in ``package`` (``name`` may hold a folder: ``panels/usage_02_cost``)
    without its comment lines."""
    text = files(package).joinpath("sql", *f"{name}.sql".split("/")).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()


def templates(package: str, folder: str) -> list[str]:
    """The names of the templates in ``package``'s ``sql/<folder>``, sorted, for :func:`template`."""
    found = files(package).joinpath("sql", folder).iterdir()
    return sorted(f"{folder}/{entry.name.removesuffix('.sql')}" for entry in found if entry.name.endswith(".sql"))
