"""The small value types of the model file: numbers with their bounds, text, activity types, durations.

Each is a pydantic ``Annotated`` type whose validators give the sentence a user reads when a value is wrong.
The bounds (``MAX_POINTS``, ``MAX_SCORE``, ``MAX_WEIGHT``, ``MAX_DAYS``, ``MAX_CONDITION_DEPTH``) are listed
in ``docs/model.md`` ("Limits").  ``scoring.model`` re-exports the public names.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from connectors.records import ActivityType

from .yamlfile import unknown_key_message

KNOWN_ACTIVITY_TYPES: tuple[str, ...] = tuple(member.value for member in ActivityType)
STAGES: tuple[str, ...] = ("lead", "mql", "sql")

# Bounds on what a model may say (docs/model.md, "Limits"): beyond them a value is a typo or an attack,
# and the engine's tables (one entry per possible score) and date arithmetic stay small and exact.
MAX_POINTS: Final = 10_000  # |points| and max_points of a rule
MAX_SCORE: Final = 10_000  # scale max, and every threshold on a score (grades, labels, levels, stages, tiers)
MAX_WEIGHT: Final = 100  # scale weights
MAX_DAYS: Final = 36_500  # day counts and durations (100 years)
MAX_CONDITION_DEPTH: Final = 32  # all/any/not nested inside one another


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------------------------------------------------
# Small value types


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("expected a number above 0")
    return value


def _non_negative(value: float) -> float:
    if not value >= 0:
        raise ValueError("expected a number of 0 or more")
    return value


def _at_most(bound: int, what: str) -> Any:
    def check(value: float) -> float:
        if abs(value) > bound:
            raise ValueError(f"{what} go from -{bound:,} to {bound:,}; {value:g} is out of range")
        return value

    return AfterValidator(check)


Number = Annotated[float, AfterValidator(_finite)]
PositiveInt = Annotated[int, Field(ge=1)]
RulePoints = Annotated[float, AfterValidator(_finite), _at_most(MAX_POINTS, "points")]
MaxPoints = Annotated[float, AfterValidator(_finite), AfterValidator(_positive), _at_most(MAX_POINTS, "points")]
Threshold = Annotated[float, AfterValidator(_finite), AfterValidator(_non_negative), _at_most(MAX_SCORE, "scores")]
ScoreCap = Annotated[int, Field(ge=1, le=MAX_SCORE)]
Weight = Annotated[float, AfterValidator(_finite), AfterValidator(_non_negative), _at_most(MAX_WEIGHT, "weights")]
Days = Annotated[float, AfterValidator(_finite), AfterValidator(_positive), _at_most(MAX_DAYS, "day counts")]
NonNegativeDays = Annotated[
    float, AfterValidator(_finite), AfterValidator(_non_negative), _at_most(MAX_DAYS, "day counts")
]


def _check_scalar(value: Any) -> Any:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return float(value)
    raise ValueError("expected text, a number or true/false")


def _check_field_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return value
    raise ValueError("expected text, a number, true/false or nothing (null)")


Scalar = Annotated[
    Any,
    BeforeValidator(_check_scalar),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}),
]
FieldValueIn = Annotated[
    Any,
    BeforeValidator(_check_field_value),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}),
]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_activity_type(value: str) -> str:
    if value not in KNOWN_ACTIVITY_TYPES:
        hint = unknown_key_message(value, KNOWN_ACTIVITY_TYPES).replace("unknown key", "unknown activity type")
        raise ValueError(hint)
    return value


def _non_empty(value: list[Any]) -> list[Any]:
    if not value:
        raise ValueError("expected at least one entry")
    return value


ActivityTypeName = Annotated[
    str,
    AfterValidator(_check_activity_type),
    WithJsonSchema({"type": "string", "enum": list(KNOWN_ACTIVITY_TYPES)}),
]
ActivityTypes = Annotated[
    list[ActivityTypeName],
    BeforeValidator(_one_or_many),
    AfterValidator(_non_empty),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": list(KNOWN_ACTIVITY_TYPES)},
                {"type": "array", "items": {"type": "string", "enum": list(KNOWN_ACTIVITY_TYPES)}},
            ]
        }
    ),
]
StrList = Annotated[
    list[Annotated[str, StringConstraints(min_length=1)]],
    BeforeValidator(_one_or_many),
    AfterValidator(_non_empty),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]
RuleId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=120)]

_DURATION_RE = re.compile(
    r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?"
    r"|d|days?|w|wk|weeks?)\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _unit_letter(unit: str) -> str:
    unit = unit.lower()
    return "m" if unit.startswith("mi") or unit == "m" else unit[0]


def duration_seconds(text: str) -> float:
    """Seconds in a duration such as ``10m``, ``48h``, ``2d``, ``1w`` (``m`` is minutes)."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group("n")) * _UNIT_SECONDS[_unit_letter(match.group("unit"))]


def _normalize_duration(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 10m, 48h, 2d or 1w (m = minutes)")
    match = _DURATION_RE.match(value)
    if match is None:
        raise ValueError(f"expected a duration such as 10m, 48h, 2d or 1w (m = minutes), not {value!r}")
    number = float(match.group("n"))
    if number <= 0:
        raise ValueError("expected a duration above 0")
    if number * _UNIT_SECONDS[_unit_letter(match.group("unit"))] > MAX_DAYS * 86400:
        raise ValueError(f"durations go up to {MAX_DAYS:,} days; {value!r} is longer")
    shown = str(int(number)) if number.is_integer() else match.group("n")
    return f"{shown}{_unit_letter(match.group('unit'))}"


Duration = Annotated[
    str,
    BeforeValidator(_normalize_duration),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?\s*(s|m|h|d|w)$"}),
]


def slugify(text: str) -> str:
    """A rule id from a label: ``"Demo request (24h)"`` -> ``demo_request_24h``."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:64] or "rule"
