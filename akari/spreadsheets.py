"""Text for CSV files that spreadsheets open: a cell from a user never runs as a formula."""

from __future__ import annotations

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ (or a tab or carriage return) as formulas."""
    return "'" + value if value[:1] in _FORMULA_STARTS else value
