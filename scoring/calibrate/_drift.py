"""Drift: does the model still rank this period's leads the way it ranked the previous period's?

``drift(model, rows, now, period_days=30)`` scores the leads that came in during ``[now - 30d, now)`` and
``[now - 60d, now - 30d)`` (by creation date; by close date only when no row has one), compares conversion
per band and ROC AUC, and says plainly whether the model has degraded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scoring import Model

from ._evaluate import Evaluation, evaluation_from_results
from ._metrics import Band
from ._replay import score_rows
from ._rows import CalibrationRow

_MIN_CONTACTS = 20  # per period, to say anything at all
_MIN_BAND = 10  # per band and period, to compare a band
_Z = 1.96  # two-sided 95% for a fall in conversion
_MIN_FALL = 0.10  # and at least 10 percentage points, so a big history does not flag trivia
_AUC_FALL = 0.05


@dataclass(frozen=True, slots=True)
class BandChange:
    """One band's conversion in the previous and the current period."""

    band: str
    kind: str  # "stage" or "grade"
    previous: Band
    current: Band
    fell: bool  # a significant fall (95%, and at least 10 points)
    rose: bool

    @property
    def name(self) -> str:
        return f"{self.band}-band" if self.kind == "grade" else self.band


@dataclass(frozen=True, slots=True)
class DriftReport:
    period_days: int
    now: datetime
    current_start: datetime
    previous_start: datetime
    current: Evaluation | None
    previous: Evaluation | None
    bands: tuple[BandChange, ...]
    degraded: bool | None  # None when there is too little dated history to tell
    verdict: str


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _significant(previous: Band, current: Band) -> tuple[bool, bool]:
    if previous.contacts < _MIN_BAND or current.contacts < _MIN_BAND:
        return False, False
    p1, p2 = previous.won / previous.contacts, current.won / current.contacts
    pooled = (previous.won + current.won) / (previous.contacts + current.contacts)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / previous.contacts + 1 / current.contacts))
    if spread == 0:
        return False, False
    z = (p1 - p2) / spread
    return z >= _Z and p1 - p2 >= _MIN_FALL, z <= -_Z and p2 - p1 >= _MIN_FALL


def drift(model: Model, rows: Sequence[CalibrationRow], now: datetime, period_days: int = 30) -> DriftReport:
    """Compare conversion per band in the last ``period_days`` with the period before it."""
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    if period_days < 1:
        raise ValueError("period_days must be 1 or more")
    current_start = now - timedelta(days=period_days)
    previous_start = current_start - timedelta(days=period_days)
    # Leads are placed in a period by when they came in; only without any creation date by their close date.
    by_created = any(r.created_at is not None for r in rows)
    dates = [r.created_at if by_created else r.closed_at for r in rows]
    current_rows = [r for r, d in zip(rows, dates, strict=True) if d is not None and current_start <= d < now]
    previous_rows = [
        r for r, d in zip(rows, dates, strict=True) if d is not None and previous_start <= d < current_start
    ]

    def report(
        current: Evaluation | None,
        previous: Evaluation | None,
        bands: Sequence[BandChange],
        degraded: bool | None,
        verdict: str,
    ) -> DriftReport:
        return DriftReport(
            period_days, now, current_start, previous_start, current, previous, tuple(bands), degraded, verdict
        )

    window = f"{period_days} days"
    if len(current_rows) < _MIN_CONTACTS or len(previous_rows) < _MIN_CONTACTS:
        dated = sum(1 for d in dates if d is not None)
        return report(
            None,
            None,
            (),
            None,
            f"Not enough dated history to judge drift: {len(current_rows)} leads in the last {window} and "
            f"{len(previous_rows)} in the {window} before ({dated} of {len(rows)} rows carry a date; at least "
            f"{_MIN_CONTACTS} per period are needed).",
        )
    current = evaluation_from_results(model, current_rows, score_rows(model, current_rows, now), now, replay=False)
    previous = evaluation_from_results(model, previous_rows, score_rows(model, previous_rows, now), now, replay=False)
    changes = []
    for kind, before_bands, after_bands in (
        ("stage", previous.stages, current.stages),
        ("grade", previous.grades, current.grades),
    ):
        for before, after in zip(before_bands, after_bands, strict=True):
            fell, rose = _significant(before, after)
            changes.append(BandChange(before.label, kind, before, after, fell, rose))

    auc_fell = current.auc is not None and previous.auc is not None and previous.auc - current.auc >= _AUC_FALL
    falls = [c for c in changes if c.fell]
    # A fall in every compared band with ranking intact means fewer conversions overall, not a worse model.
    compared = [c for c in changes if c.previous.contacts >= _MIN_BAND and c.current.contacts >= _MIN_BAND]
    top_falls = [c for c in falls if c is _top(changes, c.kind)]
    auc_text = f"ROC AUC {_auc(previous.auc)} -> {_auc(current.auc)}"
    if not auc_fell and len(compared) >= 2 and len(falls) == len(compared):
        verdict = (
            f"Conversion fell in every band ({_summary(falls)}) while the ranking held ({auc_text}): fewer leads "
            "are converting overall; the model still orders them well."
        )
        return report(current, previous, changes, False, verdict)
    if auc_fell or top_falls:
        worst = top_falls[0] if top_falls else None
        if worst is None:
            verdict = (
                f"The model ranks this period's leads worse than the last ({auc_text}): it has degraded; run calibrate."
            )
        else:
            fell_text = (
                f"Conversion of {worst.name} leads fell from {_pct(worst.previous.conversion)} to "
                f"{_pct(worst.current.conversion)}"
            )
            also = f" and {auc_text}" if auc_fell else ""
            verdict = f"{fell_text}{also}: the model has degraded; run calibrate."
        return report(current, previous, changes, True, verdict)
    steady = [c for c in changes if c.kind == "stage" and c in compared]
    verdict = (
        f"Conversion per band held steady over the last {window} ({_summary(steady) or 'too few leads per band'}; "
        f"{auc_text}): the model has not degraded."
    )
    return report(current, previous, changes, False, verdict)


def _top(changes: Sequence[BandChange], kind: str) -> BandChange | None:
    """The highest band of a kind with enough leads in both periods to compare."""
    for change in changes:
        if change.kind == kind and change.previous.contacts >= _MIN_BAND and change.current.contacts >= _MIN_BAND:
            return change
    return None


def _auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _summary(changes: Sequence[BandChange]) -> str:
    return ", ".join(f"{c.name} {_pct(c.previous.conversion)} -> {_pct(c.current.conversion)}" for c in changes)
