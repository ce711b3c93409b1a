"""What scoring returns: a ``ScoreResult`` with its ``Reason`` values and their ``Evidence``."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple, overload

from connectors.records import FieldValue


class Evidence(NamedTuple):
    """Why a rule fired: the activity (id, time, decay factor, points it gave) or the field and its value.

    A NamedTuple rather than a dataclass because a result carries one per counted activity.
    """

    activity_id: str | None = None
    occurred_at: datetime | None = None
    decay: float = 1.0
    points: float = 0.0
    field: str | None = None
    value: FieldValue = None


Counted = tuple[Any, float, float]  # an activity a rule counted: (activity, decay factor, points)
# every activity of a half-life rule counted in full: ([(epoch seconds, activity)], -rate, t, points)
Decayed = tuple[list[tuple[float, Any]], float, float, float]
# an activity rule's reason not built yet: (rule, label, component, points, counted, applies_to, show_age)
PendingActivity = tuple[str, str, str, float, list[Counted] | Decayed, str, bool]
# a field rule's reason not built yet: (the compiled rule, the values it shows); rule.reason_from(values)
PendingField = tuple[Any, tuple[Any, ...]]
PendingReason = PendingActivity | PendingField


class Reasons(Sequence["Reason"]):
    """The reasons of a result: an immutable sequence of ``Reason``, those of activity rules built when read.

    For each activity rule that fired the engine records the activities it counted (activity, decay factor,
    points) and builds the ``Reason`` and its ``Evidence`` only if someone reads them (``explain()`` does; a
    rescore that compares scores does not), which saves much of the per-activity cost of a score.  It reads,
    compares, hashes, prints and pickles exactly as the tuple of the same ``Reason`` values.
    """

    __slots__ = ("_built", "_pending")

    def __init__(self, pending: list[Reason | PendingReason]) -> None:
        self._pending = pending
        self._built: tuple[Reason, ...] | None = None

    def _values(self) -> tuple[Reason, ...]:
        built = self._built
        if built is None:
            built = tuple([_build(entry) for entry in self._pending])
            self._built, self._pending = built, []
        return built

    @overload
    def __getitem__(self, index: int) -> Reason: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Reason, ...]: ...
    def __getitem__(self, index: int | slice) -> Reason | tuple[Reason, ...]:
        return self._values()[index]

    def __len__(self) -> int:
        return len(self._pending) if self._built is None else len(self._built)

    def __iter__(self) -> Iterator[Reason]:
        return iter(self._values())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Reasons):
            return self._values() == other._values()
        if isinstance(other, tuple):
            return self._values() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return repr(self._values())

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self._values(),))  # unpickles as the plain tuple


def _build(entry: Reason | PendingReason) -> Reason:
    if isinstance(entry, Reason):
        return entry
    if len(entry) == 2:
        rule, shown = entry
        reason: Reason = rule.reason_from(shown)
        return reason
    return _build_reason(entry)


def _build_reason(pending: PendingActivity) -> Reason:
    rule, label, component, points, counted, applies_to, show_age = pending
    if isinstance(counted, tuple):  # Decayed: the factors the engine summed, computed again the same way
        items, neg_rate, t, weight = counted
        evidence = tuple(
            Evidence(activity.id, activity.occurred_at, factor, weight * factor, None, None)
            for activity, factor in ((activity, math.exp(neg_rate * (t - ts))) for ts, activity in items)
        )
    else:
        evidence = tuple(
            Evidence(activity.id, activity.occurred_at, factor, part, None, None) for activity, factor, part in counted
        )
    return make_reason(rule, label, component, points, evidence, applies_to, show_age)


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that fired and the points it contributed (after decay and caps).

    ``component`` is the model section (fit, engagement, property, negative, stagnation); ``applies_to``
    says which score the points count toward (fit or engagement).  The reasons of a result add up to its
    scores before clamping: ``sum(r.points for r in reasons if r.applies_to == "fit")`` is the raw fit.
    """

    rule: str
    label: str
    component: str
    points: float
    evidence: tuple[Evidence, ...] = ()
    applies_to: str = "engagement"
    show_age: bool = False  # whether explain() says how long ago the latest evidence happened


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The score of one contact at one moment, with everything needed to explain and schedule it.

    ``next_change_at`` is the first moment (to the second) at which the same contact and activities would
    score differently through the passage of time alone; ``None`` when nothing will ever change.
    """

    contact_id: str
    total: int
    fit: int
    engagement: int
    grade: str
    label: str | None
    matrix: str
    stage: str
    tier: str | None
    sla_due_at: datetime | None
    reasons: Sequence[Reason]  # a tuple, or a Reasons that reads the same
    model_version: str
    scored_at: datetime
    next_change_at: datetime | None
    warnings: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()  # the model's segments the contact is in, in model order

    def observable(self) -> tuple[Any, ...]:
        """The values a CRM record shows; two results with equal observables write the same fields."""
        return (
            self.total,
            self.fit,
            self.engagement,
            self.grade,
            self.label,
            self.matrix,
            self.stage,
            self.tier,
            self.sla_due_at,
            self.segments,
        )


def _fast_constructor(cls: type) -> Any:
    """A constructor for a frozen slots dataclass that skips the frozen ``__setattr__`` checks.

    Frozen dataclass ``__init__`` sets each field through ``object.__setattr__`` (about 0.7 us for a
    Reason); the engine builds several per contact, so it fills a plain slots twin and re-labels it.
    """
    names = [f.name for f in fields(cls)]
    twin = type(f"_{cls.__name__}Builder", (), {"__slots__": tuple(names)})
    args = ", ".join(names)
    body = "".join(f"    o.{name} = {name}\n" for name in names)
    source = f"def build({args}):\n    o = Twin()\n{body}    o.__class__ = Cls\n    return o\n"
    namespace: dict[str, Any] = {"Twin": twin, "Cls": cls}
    exec(source, namespace)  # noqa: S102 - generated from the dataclass's own field names
    return namespace["build"]


make_reason = _fast_constructor(Reason)
make_result = _fast_constructor(ScoreResult)
