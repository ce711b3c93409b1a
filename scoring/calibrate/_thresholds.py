"""MQL and SQL thresholds on the proposed model's scale, chosen on the training totals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scoring import Model

from ._metrics import threshold_for_precision, threshold_for_recall, threshold_for_volume


@dataclass(frozen=True, slots=True)
class Thresholds:
    mql: float
    sql: float
    how: str


def _share_at(totals: Sequence[int], threshold: float) -> float:
    return sum(1 for t in totals if t >= threshold) / len(totals) if totals else 0.0


def choose_thresholds(
    current: Model,
    draft: Model,
    totals: Sequence[int],
    current_totals: Sequence[int],
    won: Sequence[bool],
    *,
    target_precision: float | None,
    target_recall: float | None,
    capacity_per_week: float | None,
    leads_per_week: float | None,
    weeks: float | None,
    train_share: float,
) -> Thresholds:
    """MQL and SQL on the proposed scale, chosen on the training totals; ``how`` says how in words."""
    base = sum(won) / len(won) if won else 0.0
    notes = []
    mql_share = _share_at(current_totals, current.stages.mql)
    sql_share = _share_at(current_totals, current.stages.sql)
    top = float(draft.scale.max)

    mql: float | None
    if target_recall is not None:
        mql = threshold_for_recall(totals, won, target_recall)
        notes.append(f"MQL catches at least {target_recall:.0%} of customers")
    elif 0 < mql_share < 1:
        mql = threshold_for_volume(totals, mql_share)
        notes.append(f"MQL keeps the current share of contacts ({mql_share:.0%})")
    else:
        mql = threshold_for_recall(totals, won, 0.9)
        notes.append("MQL catches 90% of customers (the current model gives no usable MQL volume)")

    sql: float | None
    if target_precision is not None:
        sql = threshold_for_precision(totals, won, target_precision)
        notes.append(f"SQL converts at {target_precision:.0%} or better")
    elif capacity_per_week is not None:
        volume = leads_per_week or (len(totals) / train_share / weeks if weeks else None)
        if volume:
            sql = threshold_for_volume(totals, min(capacity_per_week / volume, 1.0))
            notes.append(f"SQL sends sales about {capacity_per_week:g} of {volume:.0f} new leads a week")
        else:
            sql = None
            notes.append("SQL capacity needs dated history or leads_per_week; the current SQL share is kept")
    elif 0 < sql_share < 1:
        sql = threshold_for_volume(totals, sql_share)
        notes.append(f"SQL keeps the current share of contacts ({sql_share:.0%})")
    else:
        target = min(0.9, 2 * base)
        sql = threshold_for_precision(totals, won, target)
        notes.append(f"SQL converts at {target:.0%} or better (twice the average lead)")
    if sql is None:
        sql = top if not 0 < sql_share < 1 else (threshold_for_volume(totals, sql_share) or top)
        notes.append("no threshold met the SQL target; SQL is set at the top of the scale")
    if mql is None or mql > sql:
        mql = sql
        notes.append("MQL is set at SQL, since its target asked for a higher threshold")
    return Thresholds(float(mql), float(sql), "; ".join(notes) + ".")
