"""What a Pipedrive webhook v2 reports of a change: the object as v2 returns it (``data``) and the fields that
changed with their old values (``previous``), noted on the store's change feed for the webhook sender."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.pipedrive.activities import activity_v2
from connectors.sandbox.pipedrive.fields import custom_fields
from connectors.sandbox.pipedrive.persons import person_v2
from connectors.sandbox.store import Change, listening, note_change


def _when(unix: int | float | None) -> datetime:
    return datetime.fromtimestamp(float(unix or 0), UTC)


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in old.items():
        if key == "custom_fields" and isinstance(value, dict):
            custom = {k: v for k, v in value.items() if new.get(key, {}).get(k) != v}
            if custom:
                out[key] = custom
        elif new.get(key) != value and key != "update_time":
            out[key] = value
    return out


def note_person(db: sqlite3.Connection, before: sqlite3.Row | None, person_id: int, action: str, **meta: Any) -> None:
    """Note a person created (``before`` None), changed or deleted; ``meta`` goes to the webhook's meta block."""
    if not listening(db):
        return
    row = db.execute("SELECT * FROM pd_persons WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        return
    keys = list(custom_fields(db))
    new = person_v2(row, keys)
    old = person_v2(before, keys) if before is not None else None
    data: dict[str, Any] = {} if action == "delete" else new
    previous: dict[str, Any] | None = old or new if action == "delete" else None
    if action != "delete" and old is not None:
        previous = _changed(old, new)
    change = Change("pipedrive", action, "person", str(person_id), _when(row["update_time"]), data, previous, meta)
    note_change(db, change)


def note_activity(db: sqlite3.Connection, activity_id: int, action: str) -> None:
    if not listening(db):
        return
    row = db.execute("SELECT * FROM pd_activities WHERE id = ?", (activity_id,)).fetchone()
    if row is not None:
        data = activity_v2(row)
        note_change(db, Change("pipedrive", action, "activity", str(activity_id), _when(row["update_time"]), data))
