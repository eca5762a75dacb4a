"""The one parser of key lists: ``--group-by model,day`` on the command line, ``group_by=model,day`` and
``filter=llm,tool`` in the API, ``{"group_by": ["model", "day"]}`` in ``POST /hive/v1/usage``.

A list is given as comma-separated text or as a list of strings; keys are stripped, empty ones dropped,
and each must be one of ``allowed`` and appear once. Anything else is a :class:`ValueError` that names
the choices.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["parse_keys"]


def parse_keys(value: str | Sequence[str] | None, allowed: Sequence[str], *, what: str = "group-by") -> list[str]:
    """``value`` as a list of distinct keys of ``allowed`` (possibly empty)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    elif not all(isinstance(key, str) for key in value):
        raise ValueError(f"{what}: expected a list of key names")
    keys = [key.strip() for key in value if key.strip()]
    unknown = [key for key in keys if key not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; choose from {', '.join(allowed)}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"a {what} key is repeated; choose distinct keys from {', '.join(allowed)}")
    return keys
