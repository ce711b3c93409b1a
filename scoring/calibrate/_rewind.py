"""Point-in-time features: a contact's fields as they stood when its outcome was decided.

A field a CRM changes after the sale (a status, an industry corrected by the account team, a rollup) would
teach calibration what the sale did, not what predicted it.  Where the CRM keeps field history, ``rewind``
takes each field back to its value at the outcome date; ``point_in_time`` counts what was rewound for the
report.  Pure: the history is read by the adapter (``connectors.base.ReadsFieldHistory``) and passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from connectors.records import Contact, FieldChangeRecord

from ._rows import CalibrationRow


def rewind(contact: Contact, history: Iterable[FieldChangeRecord], at: datetime) -> tuple[Contact, tuple[str, ...]]:
    """``contact`` with every field it holds as it stood at ``at``, and the names of the fields that moved.

    A field changed after ``at`` takes the old value of its first change after ``at``; a field whose value
    at ``at`` equals today's (changed and changed back) is left alone and not counted.
    """
    first_after: dict[str, FieldChangeRecord] = {}
    for change in history:
        if change.changed_at <= at or change.field not in contact.fields:
            continue
        seen = first_after.get(change.field)
        if seen is None or change.changed_at < seen.changed_at:
            first_after[change.field] = change
    fields = dict(contact.fields)
    moved = tuple(sorted(n for n, change in first_after.items() if fields.get(n) != change.old_value))
    if not moved:
        return contact, ()
    for name in moved:
        fields[name] = first_after[name].old_value
    return replace(contact, fields=fields), moved


@dataclass(frozen=True, slots=True)
class PointInTime:
    """What CRM field history changed in the rows: how many contacts were checked and rewound, and which
    fields, with how many contacts each."""

    contacts_checked: int
    contacts_rewound: int
    values_rewound: int
    by_field: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @property
    def sentence(self) -> str:
        if not self.values_rewound:
            return (
                f"Point in time: the CRM's field history of {self.contacts_checked:,} contacts shows no field "
                "changed after its outcome, so none was rewound."
            )
        shown = ", ".join(f"{name} {count:,}" for name, count in self.by_field[:6])
        more = f" and {len(self.by_field) - 6} more fields" if len(self.by_field) > 6 else ""
        return (
            f"Point in time: {_count(self.values_rewound, 'field value')} of "
            f"{_count(self.contacts_rewound, 'contact')} (of {self.contacts_checked:,} with field history read) "
            f"changed after the outcome and {'was' if self.values_rewound == 1 else 'were'} rewound to the value "
            f"at the outcome date ({shown}{more})."
        )

    def json(self) -> dict[str, object]:
        return {
            "contacts_checked": self.contacts_checked,
            "contacts_rewound": self.contacts_rewound,
            "values_rewound": self.values_rewound,
            "by_field": dict(self.by_field),
        }


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def point_in_time(rows: Sequence[CalibrationRow]) -> PointInTime | None:
    """The rewind counts of ``rows``; None when no row's field history was read (a CSV, or a CRM without it)."""
    checked = [r for r in rows if r.rewound is not None]
    if not checked:
        return None
    per_field = Counter(name for r in checked for name in r.rewound or ())
    return PointInTime(
        contacts_checked=len(checked),
        contacts_rewound=sum(1 for r in checked if r.rewound),
        values_rewound=sum(per_field.values()),
        by_field=tuple(sorted(per_field.items(), key=lambda item: (-item[1], item[0]))),
    )
