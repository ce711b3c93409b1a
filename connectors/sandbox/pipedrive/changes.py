"""What a Pipedrive webhook v2 reports of a change: the object (``data``) and the fields that changed with their
old values (``previous``), noted on the store's change feed for the webhook sender.

``data`` is the webhooks v2 rendering of the object, not the API v2 one (the migration guide's examples,
docs/crm-api/pipedrive.md 1.9): unset properties are ``null``, ``visible_to`` a string, a person has ``label``
(not ``label_ids``), an activity ``active_flag``/``busy_flag``/``person_id``, and each set custom field is an
object naming its ``type`` (``{"type": "varchar", "value": ...}``, ``{"id": 17, "type": "enum"}``,
``{"values": [{"id": 13}], "type": "set"}``); unset custom fields are left out of ``data``.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.pipedrive.common import rfc3339
from connectors.sandbox.pipedrive.fields import custom_fields
from connectors.sandbox.store import Change, listening, note_change


def _when(unix: int | float | None) -> datetime:
    return datetime.fromtimestamp(float(unix or 0), UTC)


def _custom_value(kind: str, value: Any) -> dict[str, Any]:
    """One set custom field as webhooks v2 carry it: the value inside an object that names the field type."""
    if kind == "enum":
        return {"id": value, "type": kind}
    if kind == "set":
        ids = value if isinstance(value, list) else [value]
        return {"values": [{"id": i} for i in ids], "type": kind}
    if kind in ("org", "people", "user"):
        return {"id": value, "type": kind}
    return {"type": kind, "value": value}


def person_webhook(row: sqlite3.Row, fields: dict[str, sqlite3.Row]) -> dict[str, Any]:
    """A person as a webhooks v2 ``data`` / ``previous`` object."""
    stored = json.loads(row["custom"] or "{}")
    labels = json.loads(row["label_ids"] or "[]")
    custom = {
        key: _custom_value(field["field_type"], stored[key])
        for key, field in fields.items()
        if stored.get(key) not in (None, "", [])
    }
    visible = row["visible_to"]
    return {
        "add_time": rfc3339(row["add_time"]),
        "custom_fields": custom,
        "emails": json.loads(row["emails"] or "[]"),
        "first_name": row["first_name"],
        "id": row["id"],
        "label": labels[0] if labels else None,
        "last_name": row["last_name"],
        "name": row["name"],
        "org_id": row["org_id"],
        "owner_id": row["owner_id"],
        "phones": json.loads(row["phones"] or "[]"),
        "update_time": rfc3339(row["update_time"]),
        "visible_to": None if visible is None else str(visible),
    }


def activity_webhook(row: sqlite3.Row) -> dict[str, Any]:
    """An activity as a webhooks v2 ``data`` object (due time and duration as ``{timezone_id, value}``)."""
    return {
        "active_flag": not row["is_deleted"],
        "add_time": rfc3339(row["add_time"]),
        "busy_flag": None,
        "custom_fields": {},
        "deal_id": row["deal_id"],
        "done": bool(row["done"]),
        "due_date": row["due_date"],
        "due_time": _timed(row["due_time"]),
        "duration": _timed(row["duration"]),
        "id": row["id"],
        "lead_id": None,
        "location": None,
        "org_id": row["org_id"],
        "owner_id": row["owner_id"],
        "person_id": row["person_id"],
        "public_description": "",
        "subject": row["subject"],
        "type": row["type"],
        "update_time": rfc3339(row["update_time"]),
        "update_user_id": None,
    }


def _timed(value: str | None) -> dict[str, Any] | None:
    """``HH:MM[:SS]`` as webhooks v2 send a time (``{timezone_id, value}``, seconds included); None when unset."""
    if not value:
        return None
    return {"timezone_id": None, "value": value if value.count(":") == 2 else f"{value}:00"}


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in old.items():
        if key == "custom_fields" and isinstance(value, dict):
            now = new.get(key) or {}
            # a field set by this change was unset before: null in previous, as the vendor's examples show
            custom = {k: value.get(k) for k in {*value, *now} if now.get(k) != value.get(k)}
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
    fields = custom_fields(db)
    new = person_webhook(row, fields)
    old = person_webhook(before, fields) if before is not None else None
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
        data = activity_webhook(row)
        note_change(db, Change("pipedrive", action, "activity", str(activity_id), _when(row["update_time"]), data))
