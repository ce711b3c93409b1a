"""Conversion per segment: by lead source or channel, industry and region, where history has such fields.

The guides ask for it next to the score bands: a model can rank well overall and still miss that one
channel converts at twice the rate of another.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ._rows import CalibrationRow

# Field names that say what kind of segment they hold, in the report's order.
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("source", re.compile(r"source|channel|origin|utm|campaign", re.IGNORECASE)),
    ("industry", re.compile(r"industry|sector|vertical", re.IGNORECASE)),
    ("region", re.compile(r"region|country|state|city|territory|province|continent", re.IGNORECASE)),
)
_MAX_LEVELS = 12
_MAX_FIELDS_PER_KIND = 3


@dataclass(frozen=True, slots=True)
class SegmentLevel:
    """One value of a segment field: how many contacts held it and how many of them were won."""

    value: str
    contacts: int
    won: int

    @property
    def conversion(self) -> float:
        return self.won / self.contacts if self.contacts else 0.0


@dataclass(frozen=True, slots=True)
class Segment:
    """Conversion per value of one field (frequent values; the rest as 'another value', blanks as 'empty')."""

    kind: str
    field: str
    levels: tuple[SegmentLevel, ...]


def segments(rows: Sequence[CalibrationRow], *, leave_out: Collection[str] = ()) -> tuple[Segment, ...]:
    """Conversion by source/channel, industry and region fields found in ``rows`` (free-text fields skipped)."""
    n = len(rows)
    if not n:
        return ()
    floor = max(5, n // 100)
    names: dict[str, None] = {}
    for row in rows:
        for name in row.contact.fields:
            names.setdefault(name, None)
    out: list[Segment] = []
    for kind, pattern in _KINDS:
        found = 0
        for name in names:
            if found >= _MAX_FIELDS_PER_KIND or name in leave_out or not pattern.search(name):
                continue
            if any(seg.field == name for seg in out):
                continue
            segment = _segment(kind, name, rows, floor)
            if segment is not None:
                out.append(segment)
                found += 1
    return tuple(out)


def _segment(kind: str, name: str, rows: Sequence[CalibrationRow], floor: int) -> Segment | None:
    values = []
    for row in rows:
        value = row.contact.fields.get(name)
        text = "" if value is None or isinstance(value, bool) else str(value).strip()
        values.append(text)
    counts = Counter(v for v in values if v)
    frequent = [value for value, count in counts.most_common(_MAX_LEVELS) if count >= floor]
    if len(frequent) < 2:
        return None  # one value, or free text: nothing to compare
    totals: Counter[str] = Counter()
    wins: Counter[str] = Counter()
    shown = set(frequent)
    for value, row in zip(values, rows, strict=True):
        level = value if value in shown else "(another value)" if value else "(empty)"
        totals[level] += 1
        wins[level] += row.won
    order = [*frequent, "(another value)", "(empty)"]
    levels = tuple(SegmentLevel(level, totals[level], wins[level]) for level in order if totals[level])
    return Segment(kind, name, levels)
