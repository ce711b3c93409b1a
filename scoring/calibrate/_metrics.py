"""Ranking and threshold metrics on (score, outcome) pairs, in plain numpy.

Written out rather than borrowed from scikit-learn so the figures in a report come from one small, tested
place and the engine's integer totals (with many ties) are handled the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _arrays(scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray) -> tuple[FloatArray, BoolArray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(won, dtype=np.bool_)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and outcomes must be two lists of the same length, got {s.shape} and {y.shape}")
    return s, y


def roc_auc(scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray) -> float | None:
    """Probability that a random won contact outscores a random lost one (ties count half).

    ``None`` when the history has only one outcome, where the figure is undefined.
    """
    s, y = _arrays(scores, won)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: FloatArray) -> FloatArray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    # Tied values share the mean of the ranks they span.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + 1 + end) / 2
    return ranks


@dataclass(frozen=True, slots=True)
class CurvePoint:
    threshold: float
    false_positive_rate: float
    true_positive_rate: float


def roc_curve(scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray) -> list[CurvePoint]:
    """ROC points from the strictest threshold to the loosest, one per distinct score, starting at (0, 0)."""
    s, y = _arrays(scores, won)
    n_pos = max(int(y.sum()), 1)
    n_neg = max(len(y) - int(y.sum()), 1)
    points = [CurvePoint(float("inf"), 0.0, 0.0)]
    for threshold in np.unique(s)[::-1]:
        chosen = s >= threshold
        points.append(
            CurvePoint(
                float(threshold),
                float((chosen & ~y).sum() / n_neg),
                float((chosen & y).sum() / n_pos),
            )
        )
    return points


@dataclass(frozen=True, slots=True)
class LiftPoint:
    """Among the top ``share`` of contacts by score: their conversion rate over the base rate."""

    share: float
    conversion: float
    lift: float
    captured: float  # share of all won contacts found in that top slice


def lift_at(scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray, share: float) -> LiftPoint:
    """Lift of the top ``share`` (0 < share <= 1), ties at the cut broken by keeping the input order stable.

    Ties are resolved by expected value: contacts tied at the cut count in proportion to the room left, so a
    model that gives everyone the same score has a lift of exactly 1.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    s, y = _arrays(scores, won)
    if len(s) == 0:
        return LiftPoint(share, 0.0, 0.0, 0.0)
    base = float(y.mean())
    k = share * len(s)
    order = np.argsort(-s, kind="mergesort")
    cut = s[order[max(int(np.ceil(k)) - 1, 0)]]
    above = s > cut
    at = s == cut
    room = k - above.sum()
    won_top = float(y[above].sum() + (room / at.sum()) * y[at].sum())
    conversion = won_top / k
    total_won = float(y.sum())
    return LiftPoint(
        share,
        conversion,
        conversion / base if base > 0 else 0.0,
        won_top / total_won if total_won > 0 else 0.0,
    )


def lift_curve(
    scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray, steps: int = 20
) -> list[LiftPoint]:
    return [lift_at(scores, won, (i + 1) / steps) for i in range(steps)]


@dataclass(frozen=True, slots=True)
class ThresholdStats:
    """How contacts at or above a threshold convert: the precision and recall of a stage cut-off."""

    threshold: float
    selected: int
    won_selected: int
    precision: float | None
    recall: float | None


def threshold_stats(
    scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray, threshold: float
) -> ThresholdStats:
    s, y = _arrays(scores, won)
    chosen = s >= threshold
    selected = int(chosen.sum())
    won_selected = int((chosen & y).sum())
    total_won = int(y.sum())
    return ThresholdStats(
        float(threshold),
        selected,
        won_selected,
        won_selected / selected if selected else None,
        won_selected / total_won if total_won else None,
    )


@dataclass(frozen=True, slots=True)
class Band:
    """One slice of contacts by score and how it converted.

    ``won`` is a count, except in deciles where contacts tied across a decile boundary are shared out in
    proportion (so it may be fractional: the expected number of won contacts in the slice).
    """

    label: str
    low: float
    high: float
    contacts: int
    won: float

    @property
    def conversion(self) -> float | None:
        return self.won / self.contacts if self.contacts else None


def decile_bands(scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray) -> list[Band]:
    """Ten bands of equal size, best first: "D1" is the top 10% by score.

    Contacts with equal scores that straddle a decile boundary are shared between the two deciles in
    proportion, so a model that gives everyone the same score shows the same conversion in every decile
    (rather than one that depends on the order of the input).
    """
    s, y = _arrays(scores, won)
    n = len(s)
    if n == 0:
        return []
    values, inverse = np.unique(-s, return_inverse=True)  # best score first
    group_size = np.bincount(inverse, minlength=len(values)).astype(np.float64)
    group_won = np.bincount(inverse, weights=y.astype(np.float64), minlength=len(values))
    group_end = np.cumsum(group_size)
    group_start = group_end - group_size
    bands = []
    for d in range(10):
        low_rank, high_rank = round(d * n / 10), round((d + 1) * n / 10)
        if high_rank <= low_rank:
            continue
        overlap = np.clip(np.minimum(group_end, high_rank) - np.maximum(group_start, low_rank), 0, None)
        inside = overlap > 0
        expected_won = float((overlap * group_won / group_size).sum())
        bands.append(
            Band(
                f"D{d + 1}",
                float(-values[inside].max()),
                float(-values[inside].min()),
                high_rank - low_rank,
                expected_won,
            )
        )
    return bands


def cutoff_bands(
    scores: Sequence[float] | FloatArray,
    won: Sequence[bool] | BoolArray,
    cutoffs: Sequence[tuple[str, float]],
) -> list[Band]:
    """Bands from named lower bounds (``[("A", 80), ("B", 50), ("C", 0)]``), highest first.

    A contact falls in the first band whose bound it reaches; contacts below every bound are left out.
    """
    s, y = _arrays(scores, won)
    ordered = sorted(cutoffs, key=lambda item: -item[1])
    taken = np.zeros(len(s), dtype=np.bool_)
    bands = []
    upper = float("inf")
    for label, low in ordered:
        inside = (s >= low) & ~taken
        taken |= inside
        bands.append(Band(label, float(low), upper, int(inside.sum()), int(y[inside].sum())))
        upper = float(low)
    return bands


def threshold_for_precision(
    scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray, target: float
) -> float | None:
    """The lowest threshold whose precision still reaches ``target`` (so recall is as high as it can be)."""
    s, y = _arrays(scores, won)
    best = None
    for threshold in np.unique(s):
        stats = threshold_stats(s, y, float(threshold))
        if stats.precision is not None and stats.precision >= target:
            best = float(threshold)
            break
    return best


def threshold_for_recall(
    scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray, target: float
) -> float | None:
    """The highest threshold whose recall still reaches ``target`` (so precision is as high as it can be)."""
    s, y = _arrays(scores, won)
    for threshold in np.unique(s)[::-1]:
        stats = threshold_stats(s, y, float(threshold))
        if stats.recall is not None and stats.recall >= target:
            return float(threshold)
    return None


def threshold_for_volume(scores: Sequence[float] | FloatArray, share: float) -> float | None:
    """The lowest threshold that selects at most ``share`` of contacts (the capacity of the sales team)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0 or share <= 0:
        return None
    limit = share * len(s)
    chosen = None
    for threshold in np.unique(s)[::-1]:
        if (s >= threshold).sum() > limit:
            break
        chosen = float(threshold)
    return chosen


def histogram(
    scores: Sequence[float] | FloatArray, won: Sequence[bool] | BoolArray, edges: Sequence[float]
) -> tuple[list[int], list[int]]:
    """Counts of won and lost contacts per bin ``[edges[i], edges[i+1])``; the last bin includes its top."""
    s, y = _arrays(scores, won)
    e = np.asarray(edges, dtype=np.float64)
    won_counts, _ = np.histogram(s[y], bins=e)
    lost_counts, _ = np.histogram(s[~y], bins=e)
    return [int(v) for v in won_counts], [int(v) for v in lost_counts]
