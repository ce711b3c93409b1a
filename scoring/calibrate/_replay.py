"""Scoring history with the real engine: each contact as it stood when its outcome was decided.

A won contact is scored at its close date with the activities it had by then, a contact without a close
date at ``now``; activities after that moment are left out so the evaluation never sees the future.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connectors.records import Activity
from scoring import Model, ScoreResult, score

from ._rows import CalibrationRow


def decided_at(row: CalibrationRow, now: datetime) -> datetime:
    """The moment a row is scored at: its close date, or ``now`` when it has none (or a later one)."""
    if row.closed_at is not None and row.closed_at < now:
        return row.closed_at
    return now


def activities_until(row: CalibrationRow, moment: datetime) -> tuple[Activity, ...]:
    return tuple(a for a in row.activities if a.occurred_at <= moment)


def score_rows(model: Model, rows: Sequence[CalibrationRow], now: datetime) -> list[ScoreResult]:
    """The engine's result for every row, each at the moment its outcome was decided."""
    results = []
    for row in rows:
        moment = decided_at(row, now)
        results.append(score(model, row.contact, activities_until(row, moment), moment))
    return results


def mql_crossing(model: Model, row: CalibrationRow, now: datetime) -> datetime | None:
    """When the contact's total first reached the model's MQL threshold, replaying its history.

    The contact is re-scored at its creation (when known) and at each activity, up to its close date.
    """
    end = decided_at(row, now)
    moments = sorted({a.occurred_at for a in row.activities if a.occurred_at <= end})
    created = row.created_at
    if created is not None and created <= end:
        moments = sorted({created, *moments})
    threshold = model.stages.mql
    for moment in moments:
        if score(model, row.contact, activities_until(row, moment), moment).total >= threshold:
            return moment
    return None
