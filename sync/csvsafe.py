"""CSV cells a spreadsheet will not run: every CSV leadsync writes goes through ``safe_writer``.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets (``=cmd|' /C calc'!A0`` runs a program; leadsync's own reasons start with ``+20``/``-10``).
Such a cell gets a leading ``'``, which spreadsheets show as text and strip on display (OWASP's advice).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["FORMULA_STARTS", "SafeWriter", "plain_cell", "safe_cell", "safe_writer"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def safe_cell(value: object) -> str:
    """``value`` as CSV text that no spreadsheet evaluates; ``None`` is an empty cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def plain_cell(text: str) -> str:
    """The value ``safe_cell`` neutralised, for a program reading leadsync's CSV back."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


class SafeWriter:
    """``csv.writer`` whose every cell passes through ``safe_cell``."""

    def __init__(self, fh: _Writable, **fmt: Any) -> None:
        self._writer = csv.writer(fh, **fmt)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(fh: _Writable, **fmt: Any) -> SafeWriter:
    return SafeWriter(fh, **fmt)
