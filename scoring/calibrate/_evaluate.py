"""How a model ranked the contacts whose outcome is known: ``evaluate(model, rows, now) -> Evaluation``."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scoring import Model, ScoreResult

from ._metrics import (
    Band,
    CurvePoint,
    LiftPoint,
    ThresholdStats,
    decile_bands,
    histogram,
    lift_at,
    lift_curve,
    roc_auc,
    roc_curve,
    threshold_stats,
)
from ._replay import mql_crossing, score_rows
from ._rows import CalibrationRow

_DAY = 86400.0
_STAGE_NAMES = {"sql": "SQL", "mql": "MQL", "lead": "lead"}


@dataclass(frozen=True, slots=True)
class RuleStat:
    """One rule of the model: its points, how many contacts it fired for, and how those converted."""

    rule_id: str
    label: str
    section: str
    points: float
    fired: int
    won_when_fired: int

    @property
    def conversion_when_fired(self) -> float | None:
        return self.won_when_fired / self.fired if self.fired else None


@dataclass(frozen=True, slots=True)
class MqlTiming:
    """For won contacts with activity history: when, before the win, the total first reached MQL."""

    won_with_history: int
    crossed: int
    median_days_before_win: float | None
    quartile_days: tuple[float, float] | None

    @property
    def never_crossed(self) -> int:
        return self.won_with_history - self.crossed


@dataclass(frozen=True, slots=True)
class Histogram:
    edges: tuple[float, ...]
    won: tuple[int, ...]
    lost: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The model's ranking of history: AUC, conversion per band, stage precision/recall, lift, timing."""

    model_name: str
    model_version: str
    evaluated_at: datetime
    contacts: int
    won: int
    auc: float | None
    mql_threshold: float
    sql_threshold: float
    mql: ThresholdStats
    sql: ThresholdStats
    deciles: tuple[Band, ...]
    stages: tuple[Band, ...]
    grades: tuple[Band, ...]
    lift_10: LiftPoint
    lift_20: LiftPoint
    roc: tuple[CurvePoint, ...]
    lift: tuple[LiftPoint, ...]
    histogram: Histogram
    rules: tuple[RuleStat, ...]
    timing: MqlTiming | None
    totals: tuple[int, ...]
    outcomes: tuple[bool, ...]
    score_max: int

    @property
    def base_rate(self) -> float | None:
        return self.won / self.contacts if self.contacts else None


def evaluate(model: Model, rows: Sequence[CalibrationRow], now: datetime, *, replay: bool = True) -> Evaluation:
    """Score every row as it stood when its outcome was decided, and measure how the scores ranked them.

    With ``replay`` (the default), won contacts with activity history are re-scored at each activity to
    find how many days before the win they crossed MQL.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    results = score_rows(model, rows, now)
    return evaluation_from_results(model, rows, results, now, replay=replay)


def evaluation_from_results(
    model: Model,
    rows: Sequence[CalibrationRow],
    results: Sequence[ScoreResult],
    now: datetime,
    *,
    replay: bool = True,
) -> Evaluation:
    totals = [result.total for result in results]
    won = [row.won for row in rows]
    score_max = model.scale.max
    step = max(score_max / 10, 1)
    edges = [min(i * step, score_max) for i in range(11)]
    won_counts, lost_counts = histogram(totals, won, edges)
    return Evaluation(
        model_name=model.name,
        model_version=model.version,
        evaluated_at=now,
        contacts=len(rows),
        won=sum(won),
        auc=roc_auc(totals, won),
        mql_threshold=model.stages.mql,
        sql_threshold=model.stages.sql,
        mql=threshold_stats(totals, won, model.stages.mql),
        sql=threshold_stats(totals, won, model.stages.sql),
        deciles=tuple(decile_bands(totals, won)),
        stages=tuple(_stage_bands(model, results, won)),
        grades=tuple(_grade_bands(model, results, won)),
        lift_10=lift_at(totals, won, 0.1) if rows else LiftPoint(0.1, 0, 0, 0),
        lift_20=lift_at(totals, won, 0.2) if rows else LiftPoint(0.2, 0, 0, 0),
        roc=tuple(roc_curve(totals, won)),
        lift=tuple(lift_curve(totals, won)) if rows else (),
        histogram=Histogram(tuple(edges), tuple(won_counts), tuple(lost_counts)),
        rules=tuple(_rule_stats(model, results, won)),
        timing=_timing(model, rows, now) if replay else None,
        totals=tuple(totals),
        outcomes=tuple(won),
        score_max=score_max,
    )


def _stage_bands(model: Model, results: Sequence[ScoreResult], won: Sequence[bool]) -> list[Band]:
    bounds = {
        "sql": (model.stages.sql, float(model.scale.max)),
        "mql": (model.stages.mql, model.stages.sql),
        "lead": (0.0, model.stages.mql),
    }
    bands = []
    for stage in ("sql", "mql", "lead"):
        inside = [w for result, w in zip(results, won, strict=True) if result.stage == stage]
        low, high = bounds[stage]
        bands.append(Band(_STAGE_NAMES[stage], low, high, len(inside), sum(inside)))
    return bands


def _grade_bands(model: Model, results: Sequence[ScoreResult], won: Sequence[bool]) -> list[Band]:
    cuts = sorted(model.grades.items(), key=lambda item: -item[1])
    bands = []
    upper = float(model.scale.fit_max or model.scale.max)
    for grade, low in cuts:
        inside = [w for result, w in zip(results, won, strict=True) if result.grade == grade]
        bands.append(Band(grade, low, upper, len(inside), sum(inside)))
        upper = low
    return bands


def _rule_stats(model: Model, results: Sequence[ScoreResult], won: Sequence[bool]) -> list[RuleStat]:
    fired: dict[str, int] = {}
    won_fired: dict[str, int] = {}
    for result, outcome in zip(results, won, strict=True):
        for rule_id in {reason.rule for reason in result.reasons}:
            fired[rule_id] = fired.get(rule_id, 0) + 1
            won_fired[rule_id] = won_fired.get(rule_id, 0) + int(outcome)
    stats = [
        RuleStat(rule.id, rule.label, section, rule.points, fired.get(rule.id, 0), won_fired.get(rule.id, 0))
        for section, rule in model.iter_rules()
    ]
    if model.stagnation is not None:
        stag = model.stagnation
        stats.append(
            RuleStat(stag.id, stag.text, "stagnation", stag.points, fired.get(stag.id, 0), won_fired.get(stag.id, 0))
        )
    return stats


def _timing(model: Model, rows: Sequence[CalibrationRow], now: datetime) -> MqlTiming | None:
    days: list[float] = []
    with_history = 0
    for row in rows:
        if not row.won or row.closed_at is None or not row.activities:
            continue
        with_history += 1
        crossed = mql_crossing(model, row, now)
        if crossed is not None:
            days.append(max((row.closed_at - crossed).total_seconds() / _DAY, 0.0))
    if not with_history:
        return None
    if not days:
        return MqlTiming(with_history, 0, None, None)
    quartiles = statistics.quantiles(days, n=4) if len(days) > 1 else [days[0], days[0], days[0]]
    return MqlTiming(with_history, len(days), statistics.median(days), (quartiles[0], quartiles[2]))
