"""Query results as plain text: the tables ``hive-otel usage``, ``status`` and ``sql`` print (and the demo's)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

__all__ = ["cell", "render_table"]

# C0 controls, DEL and C1 controls, each as the escape Python writes for it: a terminal acts on them (ESC and
# C1's CSI start sequences that clear the screen or set the window title; NUL, BEL, CR and LF break the table),
# and any tenant's sender chooses the strings a table shows (a model's name, a session's phase).
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]} | {
    ord("\t"): "\\t",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
}


def cell(value: Any) -> str:
    """One value as text: ``-`` for nothing, floats without trailing zeros, JSON for lists and maps."""
    if value is None or value == "":
        return "-"  # e.g. the model of tool calls, the colony of a queen's own session
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _visible(text: str) -> str:
    """``text`` with each control character written as its escape (``\\x1b``, ``\\n``), for a terminal to show, not obey,
    and each invisible format or separator character too (``\\u202e``): a right-to-left override or a zero-width
    space in a model's name would make the table show another name."""
    shown = text.translate(_CONTROL_ESCAPES)
    if shown.isascii():
        return shown
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _INVISIBLE else ch for ch in shown)


_INVISIBLE = frozenset({"Cf", "Zl", "Zp"})  # format characters (bidi, zero-width), line and paragraph separators


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[str] | None = None) -> str:
    """Aligned plain-text table; numeric columns (by default those whose every value is a number) right-aligned.
    Control characters are escaped (:func:`_visible`), in the column names too (``sql`` takes them from a statement)."""
    numeric = numeric or {c for i, c in enumerate(columns) if rows and all(
        isinstance(r[i], int | float | Decimal) and not isinstance(r[i], bool) for r in rows)}  # fmt: skip
    header = [_visible(c) for c in columns]
    cells = [[_visible(cell(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if columns[i] in numeric else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)
