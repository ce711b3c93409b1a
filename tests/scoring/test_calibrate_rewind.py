"""``rewind``: a contact's fields as they stood at its outcome date, from CRM field history (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.records import Contact, FieldChangeRecord
from scoring.calibrate import CalibrationRow, point_in_time, rewind

CLOSED = datetime(2025, 5, 1, 12, tzinfo=UTC)


def change(name: str, days: float, old: object, new: object) -> FieldChangeRecord:
    return FieldChangeRecord(name, CLOSED + timedelta(days=days), old, new)  # type: ignore[arg-type]


def test_only_changes_after_the_outcome_move_a_field_back() -> None:
    contact = Contact("1", CLOSED, {"industry": "Retail", "title": "CFO", "city": "Lyon", "employees": 40})
    history = [
        change("industry", -30, None, "Software"),
        change("industry", 2, "Software", "Banking"),
        change("industry", 9, "Banking", "Retail"),  # later changes do not matter: the first after wins
        change("title", -1, "Analyst", "CFO"),  # before the outcome: what the seller saw
        change("city", 1, "Lyon", "Paris"),
        change("city", 3, "Paris", "Lyon"),  # changed and changed back: nothing to rewind
        change("employees", 0, 10, 40),  # at the very close: already known when the outcome was decided
        change("region", 4, "EU", "US"),  # not a field the contact holds: ignored
    ]
    rewound, moved = rewind(contact, history, CLOSED)
    assert moved == ("industry",)
    assert dict(rewound.fields) == {"industry": "Software", "title": "CFO", "city": "Lyon", "employees": 40}
    assert contact.fields["industry"] == "Retail"  # the input is not changed
    same, none = rewind(contact, [], CLOSED)
    assert same is contact and none == ()


def test_the_counts_cover_only_rows_whose_history_was_read() -> None:
    c = Contact("1", CLOSED, {})
    rows = [
        CalibrationRow(c, rewound=("industry", "title")),
        CalibrationRow(c, rewound=("industry",)),
        CalibrationRow(c, rewound=()),
        CalibrationRow(c),  # a CSV row or a CRM without history
    ]
    pit = point_in_time(rows)
    assert pit is not None
    assert (pit.contacts_checked, pit.contacts_rewound, pit.values_rewound) == (3, 2, 3)
    assert pit.by_field == (("industry", 2), ("title", 1))
    assert "3 field values of 2 contacts (of 3 with field history read)" in pit.sentence
    assert point_in_time([CalibrationRow(c)]) is None
    assert "none was rewound" in point_in_time([CalibrationRow(c, rewound=())]).sentence  # type: ignore[union-attr]
