"""What scoring returns: a ``ScoreResult`` with its ``Reason`` values and their ``Evidence``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple

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
    reasons: tuple[Reason, ...]
    model_version: str
    scored_at: datetime
    next_change_at: datetime | None
    warnings: tuple[str, ...] = ()

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
