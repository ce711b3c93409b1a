"""What the engine knows about one contact (``_State``) and one moment of it (``_Eval``), and the small
helpers that fill them in.  Plain classes with ``__slots__``: compiled (mypyc), attribute access is a C
field read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from connectors.records import Activity

from .conditions import TestAt
from .model import KNOWN_ACTIVITY_TYPES
from .numbers import parse_datetime
from .result import PendingReason, Reason
from .timing import Term

Item = tuple[float, Activity]  # (occurred_at as epoch seconds, activity)
_KNOWN_TYPES: Final = frozenset(KNOWN_ACTIVITY_TYPES)
_UNREAD: Final[Any] = object()  # created_at not parsed yet (only inactivity rules without activities read it)


class _Dirty(Exception):
    """The fast path met data it does not handle; rescore from sanitized copies."""


class _State:
    """What one contact's records say, whatever the moment: matched activities and static rules."""

    bound: list[TestAt]
    contact_id: Any
    created_ts: Any  # float | None once read, _UNREAD before
    eng_static: float
    eng_static_reasons: list[Reason | PendingReason]
    fields: Mapping[str, Any]
    fit_static: float
    fit_static_reasons: list[Reason | PendingReason]
    flips: list[float]
    latest_ts: float
    slots: list[list[Item] | None]
    total_static: float
    total_static_reasons: list[Reason | PendingReason]
    warnings: list[str]

    __slots__ = (
        "bound",
        "contact_id",
        "created_ts",
        "eng_static",
        "eng_static_reasons",
        "fields",
        "fit_static",
        "fit_static_reasons",
        "flips",
        "latest_ts",
        "slots",
        "total_static",
        "total_static_reasons",
        "warnings",
    )


class _Eval:
    """The contact at one moment: scores, tier, reasons and what its next change depends on."""

    adjust: float
    base: float
    due: datetime | None
    eng_i: int
    eng_raw: float
    fit_i: int
    fit_raw: float
    next_event: float
    reasons: list[Reason | PendingReason]
    terms: list[Term]
    tier: str | None
    total: int

    __slots__ = (
        "adjust",
        "base",
        "due",
        "eng_i",
        "eng_raw",
        "fit_i",
        "fit_raw",
        "next_event",
        "reasons",
        "terms",
        "tier",
        "total",
    )

    def observable(self) -> tuple[Any, ...]:
        """What ``ScoreResult.observable()`` shows: grade, label, cell and stage follow from these."""
        return (self.total, self.fit_i, self.eng_i, self.tier, self.due)


def _created_ts(fields: Mapping[str, Any]) -> float | None:
    created = parse_datetime(fields.get("created_at"))
    if created is None:
        return None
    try:
        return created.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def _activity_warnings(warnings: list[str], activities: Sequence[Activity], limit: float) -> None:
    for activity in activities:
        if activity.occurred_at.timestamp() > limit:
            warnings.append(
                f"activity {activity.id}: occurred_at {activity.occurred_at.isoformat()} is in the future; "
                "ignored until then"
            )
        if activity.type not in _KNOWN_TYPES:
            warnings.append(f"activity {activity.id}: unknown type {str(activity.type)[:40]!r}; no rule counts it")
