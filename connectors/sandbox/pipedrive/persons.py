"""``/v2/persons`` (cursor lists, ``custom_fields`` / ``include_fields``) and ``/v1/persons`` (lists, one
person, a person's activities, ``PUT``: no bulk person update exists).

v1 times are ``YYYY-MM-DD HH:MM:SS`` UTC and custom fields sit at the top level under their hash keys; a v2
person's ``custom_fields`` holds every (requested) key, ``null`` when unset, enum values as option ids and set
values as lists of ids.  ``PUT`` bumps ``update_time`` only when a value changes; unknown body keys are ignored
(as v1 does), a bad value for a known field (unknown option id, wrong type) is a 400.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import BadRequest, Request, Response
from connectors.sandbox.pipedrive.activities import activity_v1
from connectors.sandbox.pipedrive.common import loads, person_row, pick, unix_now, v1_time
from connectors.sandbox.pipedrive.errors import not_found, ok
from connectors.sandbox.pipedrive.fields import LABELS, custom_fields
from connectors.sandbox.pipedrive.paging import cursor_page, filters, pagination, start_limit
from connectors.sandbox.store import Store

MAX_CUSTOM_FIELDS = 15
COUNT_SQL = {  # include_fields of v2 persons that the sandbox computes
    "activities_count": "SELECT COUNT(*) FROM pd_activities WHERE person_id = ? AND is_deleted = 0",
    "done_activities_count": "SELECT COUNT(*) FROM pd_activities WHERE person_id = ? AND is_deleted = 0 AND done = 1",
    "undone_activities_count": "SELECT COUNT(*) FROM pd_activities WHERE person_id = ? AND is_deleted = 0 AND done = 0",
    "won_deals_count": "SELECT COUNT(*) FROM pd_deals WHERE person_id = ? AND is_deleted = 0 AND status = 'won'",
    "lost_deals_count": "SELECT COUNT(*) FROM pd_deals WHERE person_id = ? AND is_deleted = 0 AND status = 'lost'",
    "open_deals_count": "SELECT COUNT(*) FROM pd_deals WHERE person_id = ? AND is_deleted = 0 AND status = 'open'",
}


# -- rendering ------------------------------------------------------------------------------------------------
def person_v2(row: sqlite3.Row, keys: Iterable[str], counts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    stored = loads(row["custom"], {})
    data = pick(row, "id name first_name last_name owner_id org_id visible_to", "add_time update_time")
    data |= {"emails": loads(row["emails"], []), "phones": loads(row["phones"], [])}
    data |= {"label_ids": loads(row["label_ids"], []), "is_deleted": bool(row["is_deleted"])}
    data |= {"picture_id": None, "custom_fields": {k: stored.get(k) for k in keys}}
    return data | dict(counts or {})


def person_v1(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    owner = db.execute("SELECT * FROM pd_users WHERE id = ?", (row["owner_id"],)).fetchone()
    org = db.execute("SELECT * FROM pd_orgs WHERE id = ?", (row["org_id"],)).fetchone()
    emails, phones = json.loads(row["emails"] or "[]"), json.loads(row["phones"] or "[]")
    label_ids = json.loads(row["label_ids"] or "[]")
    data = pick(row, "id name first_name last_name", "add_time update_time", v1_time)
    data |= {
        "company_id": 1,
        "owner_id": owner and pick(owner, "id name email") | {"active_flag": bool(owner["active_flag"])},
        "org_id": org and {"name": org["name"], "owner_id": org["owner_id"], "active_flag": True},
        "email": emails or [{"value": "", "primary": True}],
        "phone": phones or [{"value": "", "primary": True}],
        "primary_email": next((e["value"] for e in emails if e.get("primary")), None),
        "visible_to": str(row["visible_to"]),
        "label": label_ids[0] if label_ids else None,
        "label_ids": label_ids,
        "org_name": org and org["name"],
        "owner_name": owner and owner["name"],
        "active_flag": not row["is_deleted"],
    }
    if owner:
        data["owner_id"]["value"] = owner["id"]
    if org:
        data["org_id"]["value"] = org["id"]
    stored = json.loads(row["custom"] or "{}")
    for key, field in custom_fields(db).items():
        value = stored.get(key)
        if value is not None and field["field_type"] == "enum":
            value = str(value)  # v1 returns option ids as strings ...
        elif value is not None and field["field_type"] == "set":
            value = ",".join(str(v) for v in value)  # ... and sets as "1,2"
        data[key] = value
    return data


# -- writing --------------------------------------------------------------------------------------------------
def update_person(db: sqlite3.Connection, row: sqlite3.Row, changes: dict[str, Any], update_time: int) -> None:
    changes = changes | {"update_time": update_time}
    assignments = ", ".join(f"{col} = :{col}" for col in changes)
    db.execute(f"UPDATE pd_persons SET {assignments} WHERE id = :row_id", changes | {"row_id": row["id"]})


def person_changes(db: sqlite3.Connection, row: sqlite3.Row, body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a v1 PUT body; the changed columns (raises BadRequest on a bad value)."""
    changes: dict[str, Any] = {}
    custom = custom_fields(db)
    stored = json.loads(row["custom"] or "{}")
    new_custom = dict(stored)
    for key, value in body.items():
        if key in ("name", "first_name", "last_name"):
            if (key == "name" and not (isinstance(value, str) and value.strip())) or not isinstance(value, str | None):
                raise BadRequest(f"{key} must be a non-empty string" if key == "name" else f"{key} must be a string")
            changes[key] = value
        elif key in ("owner_id", "org_id"):
            table, what = ("pd_users", "User") if key == "owner_id" else ("pd_orgs", "Organization")
            ident = None if value is None and key == "org_id" else _as_int(value, key)
            if ident is not None and db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone() is None:
                raise BadRequest(f"{what} with ID {ident} not found")
            changes[key] = ident
        elif key in ("email", "phone"):
            changes[f"{key}s"] = json.dumps(_contact_list(key, value))
        elif key in ("label_ids", "label"):
            labels = [_as_int(v, key) for v in (value if isinstance(value, list) else [value]) if v is not None]
            if any(lab not in {x["id"] for x in LABELS} for lab in labels):
                raise BadRequest("Invalid label ID")
            changes["label_ids"] = json.dumps(labels)
        elif key == "visible_to":
            changes["visible_to"] = _as_int(value, key)
        elif key in custom:
            new_custom[key] = _coerce(custom[key], value)
        # any other key is ignored, as the v1 API does
    if new_custom != stored:
        changes["custom"] = json.dumps(new_custom)
    return {col: val for col, val in changes.items() if row[col] != val}


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be an ID, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{name} must be an ID, got {value!r}") from exc


def _coerce(field: sqlite3.Row, value: Any) -> Any:
    """A PUT value for a custom field as stored, or BadRequest worded like Pipedrive's validation."""
    if value is None or value == "":
        return None
    kind, name = field["field_type"], field["name"]
    if kind in ("enum", "set"):
        raw = value if isinstance(value, list) else str(value).split(",") if kind == "set" else [value]
        try:
            ids = [int(str(v).strip()) for v in raw if not isinstance(v, bool)]
        except ValueError as exc:
            raise BadRequest(f"Field '{name}' expects option IDs, got {value!r}") from exc
        if kind == "enum" and len(ids) != 1:
            raise BadRequest(f"Field '{name}' takes a single option ID")
        valid = {o["id"] for o in json.loads(field["options"] or "[]")}
        if bad := [i for i in ids if i not in valid]:
            raise BadRequest(f"Option ID {bad[0]} is not valid for field '{name}'")
        return ids[0] if kind == "enum" else ids
    if kind in ("double", "monetary"):
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"Field '{name}' expects a number, got {value!r}") from exc
    if kind in ("user", "org", "people"):
        return _as_int(value, f"Field '{name}'")
    if kind == "date":
        try:
            datetime.strptime(str(value), "%Y-%m-%d")  # noqa: DTZ007 - a calendar date, no zone involved
        except ValueError as exc:
            raise BadRequest(f"Field '{name}' expects a date YYYY-MM-DD, got {value!r}") from exc
        return str(value)
    if isinstance(value, dict | list):
        raise BadRequest(f"Field '{name}' expects text, got {type(value).__name__}")
    if kind == "varchar" and len(str(value)) > 255:
        raise BadRequest(f"Field '{name}' is limited to 255 characters")
    return str(value)


def _contact_list(kind: str, value: Any) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate([] if value in (None, "") else value if isinstance(value, list) else [value]):
        entry = {"value": item} if isinstance(item, str) else item
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            raise BadRequest(f"{kind} must be a string or a list of {{value, primary, label}} objects")
        out.append({"value": entry["value"], "primary": bool(entry.get("primary", i == 0)),
                    "label": entry.get("label", "work")})  # fmt: skip
    return out


# -- the endpoints --------------------------------------------------------------------------------------------
class Persons:
    def __init__(self, store: Store, clock: Clock, record_fails: Callable[[str], bool]):
        self.store = store
        self.clock = clock
        self.record_fails = record_fails  # the fault injector's per-record failures

    @staticmethod
    def _options(request: Request, db: sqlite3.Connection) -> tuple[list[str], list[str]]:
        """(custom field keys to return, include_fields) of a v2 persons request."""
        custom = list(custom_fields(db))
        raw = request.arg("custom_fields")
        if raw is not None:
            requested = [k.strip() for k in raw.split(",") if k.strip()]
            if len(requested) > MAX_CUSTOM_FIELDS:
                raise BadRequest(f"custom_fields accepts at most {MAX_CUSTOM_FIELDS} keys")
            custom = [k for k in requested if k in custom]
        include = [n.strip() for n in (request.arg("include_fields") or "").split(",") if n.strip()]
        if unknown := [n for n in include if n not in COUNT_SQL]:
            raise BadRequest(f"include_fields: unsupported field(s) {', '.join(unknown)}")
        return custom, include

    def v2_list(self, request: Request) -> Response:
        where, params = filters(request, ("owner_id", "org_id"))
        with self.store.read() as db:
            keys, include = self._options(request, db)
            rows, next_cursor = cursor_page(db, request, "pd_persons", where, params)
            counts = [{n: db.execute(COUNT_SQL[n], (r["id"],)).fetchone()[0] for n in include} for r in rows]
        return ok([person_v2(r, keys, c) for r, c in zip(rows, counts, strict=True)], {"next_cursor": next_cursor})

    def v2_get(self, request: Request) -> Response:
        with self.store.read() as db:
            keys, include = self._options(request, db)
            row = person_row(db, int(request.params["id"]))
            if row is None:
                return not_found("Person")
            counts = {n: db.execute(COUNT_SQL[n], (row["id"],)).fetchone()[0] for n in include}
            return ok(person_v2(row, keys, counts))

    def v1_list(self, request: Request) -> Response:
        start, limit = start_limit(request)
        with self.store.read() as db:
            sql = "SELECT * FROM pd_persons WHERE is_deleted = 0 ORDER BY id LIMIT ? OFFSET ?"
            rows = list(db.execute(sql, (limit + 1, start)))
            data = [person_v1(db, r) for r in rows[:limit]]
        return ok(data or None, pagination(start, limit, len(rows) > limit))

    def v1_get(self, request: Request) -> Response:
        with self.store.read() as db:
            row = person_row(db, int(request.params["id"]))
            return not_found("Person") if row is None else ok(person_v1(db, row))

    def v1_activities(self, request: Request) -> Response:
        start, limit = start_limit(request)
        person_id = int(request.params["id"])
        with self.store.read() as db:
            if person_row(db, person_id) is None:
                return not_found("Person")
            sql = "SELECT * FROM pd_activities WHERE person_id = ? AND is_deleted = 0 ORDER BY id LIMIT ? OFFSET ?"
            rows = list(db.execute(sql, (person_id, limit + 1, start)))
        return ok([activity_v1(r) for r in rows[:limit]] or None, pagination(start, limit, len(rows) > limit))

    def v1_update(self, request: Request) -> Response:
        person_id = int(request.params["id"])
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        if self.record_fails(str(person_id)):
            raise BadRequest("Validation failed for this person")  # an injected per-record failure
        with self.store.tx() as db:
            row = person_row(db, person_id)
            if row is None:
                return not_found("Person")
            if changes := person_changes(db, row, body):
                update_person(db, row, changes, max(unix_now(self.clock), row["update_time"] or 0))
            updated = person_row(db, person_id)
            assert updated is not None
            return ok(person_v1(db, updated))
