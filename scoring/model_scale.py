"""The model file's scale, labels, matrix and stages: how points become a total, a label, a matrix cell and a
stage (validated here; ``scoring.model`` re-exports them)."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .model_values import Label, ScoreCap, Threshold, Weight, _Strict


class Weights(_Strict):
    fit: Weight = 0.5
    engagement: Weight = 0.5


class Scale(_Strict):
    """Caps and how fit and engagement combine into the total."""

    max: ScoreCap = Field(default=100, description="Cap of fit, engagement and total (0..max).")
    fit_max: ScoreCap | None = None
    engagement_max: ScoreCap | None = None
    combine: Literal["sum", "weighted"] = "sum"
    weights: Weights | None = None

    @model_validator(mode="after")
    def _weights(self) -> Scale:
        if self.combine == "weighted" and self.weights is None:
            raise ValueError("combine: weighted needs weights: {fit: ..., engagement: ...}")
        if self.combine == "sum" and self.weights is not None:
            raise ValueError("weights only apply with combine: weighted")
        return self


def _check_cuts(value: dict[str, float]) -> dict[str, float]:
    if not value:
        raise ValueError("expected at least one entry")
    if len(set(value.values())) != len(value):
        raise ValueError("each entry needs its own minimum")
    for name in value:
        if not name.strip():
            raise ValueError("names cannot be empty")
    return value


Cuts = Annotated[dict[str, Threshold], AfterValidator(_check_cuts)]


class Labels(_Strict):
    """A hot / warm / cold label (names and cut-offs configurable) from total, fit or engagement."""

    based_on: Literal["total", "fit", "engagement"] = "total"
    cuts: Cuts = Field(default_factory=lambda: {"hot": 70.0, "warm": 40.0, "cold": 0.0})


def _descending(value: list[float]) -> list[float]:
    if not value:
        raise ValueError("expected at least one level")
    if any(later >= earlier for earlier, later in itertools.pairwise(value)):
        raise ValueError("levels must go down, e.g. [75, 50, 25, 0]")
    return value


class Matrix(_Strict):
    """Fit grade x engagement level -> a cell such as ``A1`` (level 1 is the most engaged)."""

    engagement_levels: Annotated[list[Threshold], AfterValidator(_descending)] = Field(
        default_factory=lambda: [75.0, 50.0, 25.0, 0.0]
    )
    cells: dict[str, Label] = Field(default_factory=dict, description="Optional names for cells, e.g. A1: hot.")


class Stages(_Strict):
    """Total score thresholds for MQL and SQL; below MQL a contact is a lead."""

    mql: Threshold = 40.0
    sql: Threshold = 75.0

    @model_validator(mode="after")
    def _order(self) -> Stages:
        if self.mql > self.sql:
            raise ValueError("mql must not be above sql")
        return self


def cut_name(cuts: dict[str, float], value: float) -> str:
    """The name of the highest cut-off that ``value`` reaches (the lowest one when it reaches none)."""
    best_name, best_min = "", -math.inf
    lowest_name, lowest_min = "", math.inf
    for name, minimum in cuts.items():
        if value >= minimum and minimum > best_min:
            best_name, best_min = name, minimum
        if minimum < lowest_min:
            lowest_name, lowest_min = name, minimum
    return best_name or lowest_name
