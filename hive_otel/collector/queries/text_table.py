"""Query results as plain text: the tables ``hive-otel usage``, ``status`` and ``sql`` print (and the demo's)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

__all__ = ["cell", "render_table"]


def cell(value: Any) -> str:
    """One value as text: ``-`` for nothing, floats without trailing zeros, JSON for lists and maps."""
    if value is None or value == "":
        return "-"  # e.g. the model of tool calls, the colony of a queen's own session
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[str] | None = None) -> str:
    """Aligned plain-text table; numeric columns (by default those whose every value is a number) right-aligned."""
    numeric = numeric or {c for i, c in enumerate(columns) if rows and all(
        isinstance(r[i], int | float | Decimal) and not isinstance(r[i], bool) for r in rows)}  # fmt: skip
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if columns[i] in numeric else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)
