"""The model file: what a RevOps user writes, validated with pydantic (every key known, every value typed).

The layout and the meaning of every key are documented in ``docs/model.md``.  This module only checks the
file; ``scoring.engine`` compiles a validated ``Model`` into plain functions for scoring.
The small value types and their bounds are in ``scoring.model_values``, the ``examples:`` in
``scoring.model_examples``; this module re-exports their public names.

``Model.version`` is a stable hash of the normalized model: 12 hex digits of the SHA-256 of its canonical
JSON (defaults filled in, keys sorted), so comments, formatting and key order do not change it.  It covers
everything except ``description`` and ``examples``, which cannot change a score; the pass-through
``policies``, ``fields`` and ``calibration`` blocks are included, so a policy change also shows up as a new
model version on the CRM record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from .model_examples import Example, ExampleActivity, ExampleContact, Expectation, example_datetime
from .model_scale import Cuts, Labels, Matrix, Scale, Stages, Weights, cut_name
from .model_values import (
    KNOWN_ACTIVITY_TYPES,
    MAX_CONDITION_DEPTH,
    STAGES,
    ActivityTypes,
    Days,
    Duration,
    Label,
    MaxPoints,
    NonNegativeDays,
    Number,
    PositiveInt,
    RuleId,
    RulePoints,
    Scalar,
    StrList,
    Threshold,
    _Strict,
    duration_seconds,
    slugify,
)
from .patterns import compile_regex
from .segment_lang import MAX_SEGMENTS, SEGMENT_NAME_RE, Vocabulary, check_segment, matrix_cells, parse_segment

# defined in model_values / model_examples / model_scale, imported from here by the rest of leadsync
__all__ = [
    "KNOWN_ACTIVITY_TYPES",
    "STAGES",
    "Cuts",
    "Example",
    "ExampleActivity",
    "ExampleContact",
    "Expectation",
    "Labels",
    "Matrix",
    "Scale",
    "Stages",
    "Weights",
    "cut_name",
    "duration_seconds",
    "example_datetime",
    "slugify",
]


# ---------------------------------------------------------------------------------------------------------
# Conditions over contact fields (fit, properties, negative) or activity attributes (where:)

CONDITION_OPERATORS: tuple[str, ...] = (
    "equals",
    "in",
    "not_in",
    "contains",
    "contains_word",
    "regex",
    "gte",
    "lte",
    "between",
    "exists",
    "missing",
    "within_days",
    "older_than_days",
    "free_mail",
    "all",
    "any",
    "not",
)
_NO_FIELD_OPERATORS = frozenset({"free_mail", "all", "any", "not"})


class Condition(_Strict):
    """One test on a contact's fields (or an activity's attributes), or ``all``/``any``/``not`` of tests."""

    field: str | None = Field(default=None, min_length=1, description="Field (or attribute) to test.")
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    contains: StrList | None = None
    contains_word: StrList | None = None
    regex: str | None = None
    gte: Number | None = None
    lte: Number | None = None
    between: tuple[Number, Number] | None = None
    exists: bool | None = None
    missing: bool | None = None
    within_days: Days | None = None
    older_than_days: NonNegativeDays | None = None
    free_mail: bool | None = None
    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")
    case_sensitive: bool = False

    _depth: int = PrivateAttr(default=1)  # this condition and the all/any/not nested in it, in levels

    @property
    def operator(self) -> str:
        return next(op for op in CONDITION_OPERATORS if self._value(op) is not None)

    def _value(self, op: str) -> Any:
        return getattr(self, {"in": "in_", "all": "all_", "any": "any_", "not": "not_"}.get(op, op))

    @field_validator("regex")
    @classmethod
    def _linear_regex(cls, value: str | None) -> str | None:
        if value is not None:
            compile_regex(value, True)  # case folding does not change what RE2 can run
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        used = [op for op in CONDITION_OPERATORS if self._value(op) is not None]
        if not used:
            raise ValueError(
                "give one test: "
                + ", ".join(op for op in CONDITION_OPERATORS if op not in ("all", "any", "not"))
                + ", or all/any/not"
            )
        if len(used) > 1:
            hint = "; use between for a range" if set(used) == {"gte", "lte"} else "; combine tests with all:"
            raise ValueError(f"give one test per condition, found {' and '.join(used)}{hint}")
        op = used[0]
        if op in _NO_FIELD_OPERATORS and self.field is not None:
            raise ValueError(f"'{op}' takes no field")
        if op not in _NO_FIELD_OPERATORS and self.field is None:
            raise ValueError(f"'{op}' needs a field to test")
        if op in ("all", "any") and not self._value(op):
            raise ValueError(f"'{op}' needs at least one condition")
        if op == "between" and self.between is not None and self.between[0] > self.between[1]:
            raise ValueError("between needs [low, high] with low <= high")
        if op in ("in", "not_in") and not self._value(op):
            raise ValueError(f"'{op}' needs at least one value")
        children = [self.not_] if op == "not" else self._value(op) if op in ("all", "any") else []
        self._depth = 1 + max((child._depth for child in children if child is not None), default=0)
        if self._depth > MAX_CONDITION_DEPTH:
            raise ValueError(
                f"conditions nest at most {MAX_CONDITION_DEPTH} levels deep (all/any/not inside one another); "
                "flatten this one"
            )
        return self

    def fields_used(self) -> Iterator[str]:
        """Every field this condition reads (``email`` for free_mail)."""
        op = self.operator
        if op in ("all", "any"):
            for child in self._value(op):
                yield from child.fields_used()
        elif op == "not":
            assert self.not_ is not None
            yield from self.not_.fields_used()
        elif op == "free_mail":
            yield "email"
        elif self.field is not None:
            yield "email" if self.field == "email_domain" else self.field


# ---------------------------------------------------------------------------------------------------------
# Decay


class Decay(_Strict):
    """How engagement points fade: ``{half_life_days: N}``, ``{expire_days: N}`` or ``none``."""

    half_life_days: Days | None = None
    expire_days: Days | None = None

    @model_validator(mode="before")
    @classmethod
    def _none_word(cls, value: Any) -> Any:
        if value is False or (isinstance(value, str) and value.strip().lower() == "none"):
            return {}
        if not isinstance(value, dict | Decay):
            raise ValueError("expected {half_life_days: N}, {expire_days: N} or none")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Decay:
        if self.half_life_days is not None and self.expire_days is not None:
            raise ValueError("give half_life_days or expire_days, not both")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        if self.half_life_days is None and self.expire_days is None:
            return "none"
        data = handler(self)
        return {key: value for key, value in data.items() if value is not None}

    @property
    def kind(self) -> Literal["half_life", "linear", "none"]:
        if self.half_life_days is not None:
            return "half_life"
        if self.expire_days is not None:
            return "linear"
        return "none"


# ---------------------------------------------------------------------------------------------------------
# Rules


class _Rule(_Strict):
    id: RuleId = Field(description="Stable id shown in reasons; defaults to the label in snake_case.")
    label: Label = Field(description="Human text for reasons, e.g. 'demo request'.")
    points: RulePoints

    @model_validator(mode="before")
    @classmethod
    def _default_id_and_label(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        rule_id, label = value.get("id"), value.get("label")
        if rule_id is None and label is None:
            raise ValueError("give the rule an id or a label")
        if rule_id is None and isinstance(label, str):
            value = {**value, "id": slugify(label)}
        if label is None and isinstance(rule_id, str):
            value = {**value, "label": rule_id.replace("_", " ")}
        return value


def _check_positive_points(value: float) -> float:
    if value < 0:
        raise ValueError("rules here add points (0 or more); put rules that take points away under negative:")
    return value


def _check_negative_points(value: float) -> float:
    if value >= 0:
        raise ValueError("negative rules take points away: give a number below 0, e.g. -10")
    return value


class FitRule(_Rule):
    """Points for who the contact is: a test on contact fields."""

    when: Condition
    points: Annotated[RulePoints, AfterValidator(_check_positive_points)]


class PropertyRule(_Rule):
    """Engagement points from CRM rollup fields (a count field >= N, a date field within N days)."""

    when: Condition
    points: Annotated[RulePoints, AfterValidator(_check_positive_points)]


_WHERE_HELP = "Test on the activity's attributes."
_WITHIN_HELP = "Only activities younger than this many days count."
_MAX_POINTS_HELP = "Cap on this rule's points (absolute value)."
_MAX_TIMES_HELP = "Count at most the N most recent activities."
_DECAY_HELP = "Overrides the model's decay for this rule."


class EngagementRule(_Rule):
    """Points per activity of the given canonical type(s)."""

    activity: ActivityTypes
    where: Condition | None = Field(default=None, description=_WHERE_HELP)
    points: Annotated[RulePoints, AfterValidator(_check_positive_points)]
    within_days: Days | None = Field(default=None, description=_WITHIN_HELP)
    max_points: MaxPoints | None = Field(default=None, description=_MAX_POINTS_HELP)
    max_times: PositiveInt | None = Field(default=None, description=_MAX_TIMES_HELP)
    decay: Decay | None = Field(default=None, description=_DECAY_HELP)


class NegativeRule(_Rule):
    """Points taken away: a field test (``when``), an activity (``activity``) or inactivity (``inactive_days``).

    A ``when`` rule lowers fit unless it says ``applies_to: engagement`` or ``applies_to: total`` (the
    total only, e.g. to sink competitors whatever they do); activity and inactivity rules lower engagement.
    Negative activity rules do not decay unless they give ``decay:`` themselves.
    """

    when: Condition | None = None
    activity: ActivityTypes | None = None
    where: Condition | None = Field(default=None, description=_WHERE_HELP)
    points: Annotated[RulePoints, AfterValidator(_check_negative_points)]
    within_days: Days | None = Field(default=None, description=_WITHIN_HELP)
    max_points: MaxPoints | None = Field(default=None, description=_MAX_POINTS_HELP)
    max_times: PositiveInt | None = Field(default=None, description=_MAX_TIMES_HELP)
    decay: Decay | None = Field(default=None, description=_DECAY_HELP)
    inactive_days: Days | None = Field(
        default=None, description="No activity (of the listed types, or any) for this many days."
    )
    applies_to: Literal["fit", "engagement", "total"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> NegativeRule:
        if self.when is not None and (self.activity is not None or self.inactive_days is not None):
            raise ValueError("a negative rule tests fields (when:) or activities (activity:), not both")
        if self.when is None and self.activity is None and self.inactive_days is None:
            raise ValueError("give when: (a field test), activity: or inactive_days:")
        activity_options = ("where", "within_days", "max_points", "max_times", "decay")
        if self.when is not None or self.inactive_days is not None:
            used = [name for name in activity_options if getattr(self, name) is not None]
            if used:
                raise ValueError(f"{', '.join(used)} only apply to activity rules")
        if self.applies_to in ("fit", "total") and self.when is None:
            raise ValueError(f"only field tests (when:) can apply to {self.applies_to}")
        return self

    @property
    def kind(self) -> Literal["field", "activity", "inactivity"]:
        if self.when is not None:
            return "field"
        if self.inactive_days is not None:
            return "inactivity"
        return "activity"

    @property
    def target(self) -> Literal["fit", "engagement", "total"]:
        if self.applies_to is not None:
            return self.applies_to
        return "fit" if self.when is not None else "engagement"


class FitSection(_Strict):
    rules: list[FitRule] = Field(default_factory=list)


class EngagementSection(_Strict):
    rules: list[EngagementRule] = Field(default_factory=list)


class PropertySection(_Strict):
    rules: list[PropertyRule] = Field(default_factory=list)


class NegativeSection(_Strict):
    rules: list[NegativeRule] = Field(default_factory=list)


class Stagnation(_Strict):
    """Points lost when a contact repeats only low-intent actions for ``after_days`` without a high-intent one."""

    id: RuleId = "stagnation"
    label: Label | None = None
    after_days: Days
    low_intent: ActivityTypes
    high_intent: ActivityTypes
    points: Annotated[RulePoints, AfterValidator(_check_negative_points)]
    min_actions: PositiveInt = Field(default=2, description="Low-intent actions needed to count as repeating.")

    @model_validator(mode="after")
    def _disjoint(self) -> Stagnation:
        both = sorted(set(self.low_intent) & set(self.high_intent))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both low_intent and high_intent")
        return self

    @property
    def text(self) -> str:
        days = int(self.after_days) if float(self.after_days).is_integer() else self.after_days
        return self.label or f"only low-intent activity for {days}+ days"


# ---------------------------------------------------------------------------------------------------------
# Scale, grades, labels, matrix, stages, tiers


class Tier(_Strict):
    """A priority tier: a recent activity -> respond within a time (the SLA)."""

    tier: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    label: Label | None = None
    activity: ActivityTypes
    where: Condition | None = None
    within: Duration = Field(description="How recent the activity must be, e.g. 24h.")
    respond_within: Duration = Field(description="The SLA from the activity, e.g. 10m.")
    min_total: Threshold | None = None

    @property
    def text(self) -> str:
        return self.label or f"{' or '.join(t.replace('_', ' ') for t in self.activity)} within {self.within}"


# ---------------------------------------------------------------------------------------------------------
# The model


RuleSection = Literal["fit", "engagement", "properties", "negative"]
AnyRule = FitRule | EngagementRule | PropertyRule | NegativeRule

_NOT_HASHED = {"description", "examples"}


class Model(_Strict):
    """A validated model file.  Build one with ``load_model`` / ``parse_model``; it is immutable."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str = ""
    scale: Scale = Field(default_factory=Scale)
    decay: Decay | None = Field(default=None, description="Default decay of engagement rules.")
    fit: FitSection = Field(default_factory=FitSection)
    engagement: EngagementSection = Field(default_factory=EngagementSection)
    properties: PropertySection = Field(default_factory=PropertySection)
    negative: NegativeSection = Field(default_factory=NegativeSection)
    stagnation: Stagnation | None = None
    grades: Cuts = Field(default_factory=lambda: {"A": 75.0, "B": 50.0, "C": 25.0, "D": 0.0})
    labels: Labels | None = None
    matrix: Matrix = Field(default_factory=Matrix)
    stages: Stages = Field(default_factory=Stages)
    tiers: list[Tier] = Field(default_factory=list)
    segments: dict[str, str | Condition] = Field(
        default_factory=dict,
        description="Audiences by name: an expression such as 'label == hot and no call in 7d', or a condition.",
    )
    examples: list[Example] = Field(default_factory=list)
    policies: dict[str, Any] | None = Field(default=None, description="Passed through to the sync.")
    fields: dict[str, Any] | None = Field(default=None, description="Passed through to the sync.")
    calibration: dict[str, Any] | None = Field(default=None, description="Passed through to calibration.")

    _version: str = PrivateAttr(default="")

    def model_post_init(self, context: Any, /) -> None:
        canonical = json.dumps(
            # a model without segments keeps the version it had before segments existed
            self.model_dump(
                mode="json", by_alias=True, exclude=_NOT_HASHED | (set() if self.segments else {"segments"})
            ),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        self._version = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    @property
    def version(self) -> str:
        """Stable short hash of the normalized model (see the module docstring for what it covers)."""
        return self._version

    def iter_rules(self) -> Iterator[tuple[RuleSection, AnyRule]]:
        """Every rule with its section, in file order: fit, engagement, properties, negative."""
        for rule in self.fit.rules:
            yield "fit", rule
        for engagement_rule in self.engagement.rules:
            yield "engagement", engagement_rule
        for property_rule in self.properties.rules:
            yield "properties", property_rule
        for negative_rule in self.negative.rules:
            yield "negative", negative_rule

    @field_validator("segments", mode="before")
    @classmethod
    def _segments(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of segment names to expressions, e.g. nurture: score < 40")
        if len(value) > MAX_SEGMENTS:
            raise ValueError(f"at most {MAX_SEGMENTS} segments (each is an option of a CRM multi-select field)")
        return {str(name): _segment(str(name), spec, info.data) for name, spec in value.items()}

    @field_validator("examples")
    @classmethod
    def _expected_segments(cls, value: list[Example], info: ValidationInfo) -> list[Example]:
        defined = info.data.get("segments")
        if defined is None:
            return value
        for example in value:
            for name in example.expect.segments or ():
                if name not in defined:
                    raise ValueError(
                        f"example '{example.name}' expects segment '{name}', which segments: does not define"
                    )
        return value

    @field_validator("fields", "policies", "calibration", mode="before")
    @classmethod
    def _mapping_or_nothing(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError("expected a mapping of keys to values")
        return value


def _segment(name: str, spec: Any, known: dict[str, Any]) -> str | Condition:
    """One segment, parsed and checked against the model's grades, labels, matrix and tiers (when they are valid)."""
    if not SEGMENT_NAME_RE.match(name):
        raise ValueError(
            f"segment name '{name}': use 1-40 lower-case letters, digits and _, starting with a letter "
            "(it becomes an option of a CRM multi-select field)"
        )
    if isinstance(spec, dict):
        try:
            return Condition.model_validate(spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"segment '{name}': {where + ': ' if where else ''}{first['msg']}") from None
    if not isinstance(spec, str):
        raise ValueError(f"segment '{name}': expected an expression such as `score < 40` or a condition mapping")
    node = parse_segment(name, spec)
    grades, labels, matrix, tiers = (known.get(key) for key in ("grades", "labels", "matrix", "tiers"))
    if grades is not None and matrix is not None and tiers is not None and "labels" in known:
        words = Vocabulary(
            grades=list(grades),
            labels=list(labels.cuts) if labels is not None else None,
            cells=matrix_cells(list(grades), len(matrix.engagement_levels), matrix.cells),
            tiers=[tier.tier for tier in tiers],
        )
        check_segment(name, node, words)
    return spec


def model_json_schema() -> dict[str, Any]:
    """The JSON Schema of the model file (for editor completion, e.g. yaml-language-server)."""
    schema = Model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "leadsync scoring model",
        **{key: value for key, value in schema.items() if key != "title"},
    }
