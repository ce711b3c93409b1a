"""The ``examples:`` of a model file: contacts with activities at a moment, and the score each should get.

``leadsync model test`` runs them (``scoring.examples``); ``scoring.model`` re-exports these names.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from .model_values import Duration, FieldValueIn, _Strict, duration_seconds


class ExampleContact(_Strict):
    id: str = "example"
    fields: dict[str, FieldValueIn] = Field(default_factory=dict)


class ExampleActivity(_Strict):
    id: str | None = None
    type: Annotated[str, StringConstraints(min_length=1)]
    at: AwareDatetime | None = None
    ago: Duration | None = None
    attributes: dict[str, FieldValueIn] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _when(self) -> ExampleActivity:
        if (self.at is None) == (self.ago is None):
            raise ValueError("give at: (a time) or ago: (a duration such as 2d), one of them")
        return self


class Expectation(_Strict):
    total: int | None = None
    fit: int | None = None
    engagement: int | None = None
    grade: str | None = None
    stage: Literal["lead", "mql", "sql"] | None = None
    label: str | None = Field(default=None, description="Expected label; 'none' for no label.")
    matrix: str | None = None
    tier: str | None = Field(default=None, description="Expected tier; 'none' for no tier.")
    segments: list[str] | None = Field(default=None, description="Expected segments, all of them ([] for none).")


class Example(_Strict):
    name: Annotated[str, StringConstraints(min_length=1)]
    now: AwareDatetime
    contact: ExampleContact = Field(default_factory=ExampleContact)
    activities: list[ExampleActivity] = Field(default_factory=list)
    expect: Expectation

    @model_validator(mode="after")
    def _in_calendar(self) -> Example:
        for index, activity in enumerate(self.activities):
            if activity.ago is not None:
                try:
                    self.now - timedelta(seconds=duration_seconds(activity.ago))
                except OverflowError:
                    raise ValueError(
                        f"activities[{index}]: {activity.ago} before now falls before the year 1"
                    ) from None
        return self


def example_datetime(example: Example, activity: ExampleActivity) -> datetime:
    """When an example's activity happened (``at`` as given, or ``ago`` before the example's ``now``)."""
    if activity.at is not None:
        return activity.at
    assert activity.ago is not None
    return example.now - timedelta(seconds=duration_seconds(activity.ago))
