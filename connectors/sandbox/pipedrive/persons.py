"""``/api/v2/persons``: cursor lists (``custom_fields`` / ``include_fields``), one person, and ``PATCH``.

Pipedrive's definitions no longer list ``/v1/persons`` (list, one, ``PUT``, a person's activities): the sandbox
does not serve them, and they answer 404 like any unknown route.  There is no bulk person update.

A v2 person's ``custom_fields`` holds every (requested) key, ``null`` when unset, enum values as option ids
and set values as lists of ids; other properties the definition does not mark nullable are left out when
unset.  ``PATCH`` takes custom fields inside ``custom_fields`` (``null`` clears one; ``[]`` for a set field is
a validation error), ``emails`` / ``phones`` as ``{value, primary, label}`` lists and integer ids; v2 does not
coerce types (a string where a number belongs is a 400).  It bumps ``update_time`` only when a value changes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import BadRequest, Request, Response
from connectors.sandbox.pipedrive.common import defined, loads, person_row, pick, unix_now
from connectors.sandbox.pipedrive.errors import not_found, ok, ok_one
from connectors.sandbox.pipedrive.fields import LABELS, custom_fields
from connectors.sandbox.pipedrive.paging import cursor_page, filters
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
CONTACT_LABELS = ("work", "home", "mobile", "other")


# -- rendering ------------------------------------------------------------------------------------------------
def person_v2(row: sqlite3.Row, keys: Iterable[str], counts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    stored = loads(row["custom"], {})
    data = pick(row, "id name first_name last_name owner_id org_id visible_to", "add_time update_time")
    data |= {"emails": loads(row["emails"], []), "phones": loads(row["phones"], [])}
    data |= {"label_ids": loads(row["label_ids"], []), "is_deleted": bool(row["is_deleted"])}
    data |= {"custom_fields": {k: stored.get(k) for k in keys}}
    extra = dict(counts or {})
    if "marketing_status" in extra:  # a Campaigns account's consent status, sent only when include_fields asks
        extra["marketing_status"] = row["marketing_status"]
    return defined(data) | extra


def _included(db: sqlite3.Connection, include: Iterable[str], row: sqlite3.Row) -> dict[str, Any]:
    """The include_fields values of one person: counts computed, marketing_status filled in by person_v2."""
    return {n: db.execute(COUNT_SQL[n], (row["id"],)).fetchone()[0] if n in COUNT_SQL else None for n in include}


# -- writing --------------------------------------------------------------------------------------------------
def update_person(db: sqlite3.Connection, row: sqlite3.Row, changes: dict[str, Any], update_time: int) -> None:
    changes = changes | {"update_time": update_time}
    assignments = ", ".join(f"{col} = :{col}" for col in changes)
    db.execute(f"UPDATE pd_persons SET {assignments} WHERE id = :row_id", changes | {"row_id": row["id"]})


def person_changes(db: sqlite3.Connection, row: sqlite3.Row, body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a v2 ``PATCH`` body; the changed columns (raises BadRequest on a bad value)."""
    changes: dict[str, Any] = {}
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
        elif key in ("emails", "phones"):
            changes[key] = json.dumps(_contact_list(key, value))
        elif key == "label_ids":
            if not isinstance(value, list):
                raise BadRequest("label_ids must be an array of label IDs")
            labels = [_as_int(v, key) for v in value]
            if any(lab not in {x["id"] for x in LABELS} for lab in labels):
                raise BadRequest("Invalid label ID")
            changes["label_ids"] = json.dumps(labels)
        elif key == "visible_to":
            changes["visible_to"] = _as_int(value, key)
        elif key == "custom_fields" and (custom := _custom_changes(db, row, value)):
            changes["custom"] = custom
        # any other key is ignored
    return {col: val for col, val in changes.items() if row[col] != val}


def _custom_changes(db: sqlite3.Connection, row: sqlite3.Row, value: Any) -> str | None:
    """The new ``custom`` column for a ``custom_fields`` object, None when nothing changes."""
    if not isinstance(value, dict):
        raise BadRequest("custom_fields must be an object keyed by field code")
    fields = custom_fields(db)
    stored = json.loads(row["custom"] or "{}")
    new_custom = dict(stored)
    for key, item in value.items():
        if key not in fields:
            raise BadRequest(f"Unknown custom field '{key}'")
        new_custom[key] = _coerce(fields[key], item)
    return json.dumps(new_custom) if new_custom != stored else None


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):  # v2 takes integers, not numeric strings
        raise BadRequest(f"{name} must be an integer ID, got {value!r}")
    return value


def _coerce(field: sqlite3.Row, value: Any) -> Any:
    """A ``custom_fields`` value as stored, or BadRequest worded like Pipedrive's validation (v2: no coercion)."""
    if value is None:
        return None
    kind, name = field["field_type"], field["name"]
    if kind == "set":
        if not isinstance(value, list) or not value:
            raise BadRequest(f"Field '{name}' expects a non-empty array of option IDs (null clears it)")
        ids = [_option(field, v) for v in value]
        return ids
    if kind == "enum":
        return _option(field, value)
    if kind in ("double", "monetary"):
        number = value.get("value") if kind == "monetary" and isinstance(value, dict) else value
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise BadRequest(f"Field '{name}' expects a number, got {value!r}")
        return float(number)
    if kind in ("user", "org", "people"):
        return _as_int(value, f"Field '{name}'")
    if not isinstance(value, str):
        raise BadRequest(f"Field '{name}' expects text, got {type(value).__name__}")
    if kind == "date":
        try:
            datetime.strptime(value, "%Y-%m-%d")  # noqa: DTZ007 - a calendar date, no zone involved
        except ValueError as exc:
            raise BadRequest(f"Field '{name}' expects a date YYYY-MM-DD, got {value!r}") from exc
    if kind == "varchar" and len(value) > 255:
        raise BadRequest(f"Field '{name}' is limited to 255 characters")
    return value


def _option(field: sqlite3.Row, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"Field '{field['name']}' expects option IDs, got {value!r}")
    if value not in {o["id"] for o in json.loads(field["options"] or "[]")}:
        raise BadRequest(f"Option ID {value} is not valid for field '{field['name']}'")
    return value


def _contact_list(kind: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{kind} must be an array of {{value, primary, label}} objects")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            raise BadRequest(f"{kind} must be an array of {{value, primary, label}} objects")
        primary, label = entry.get("primary", i == 0), entry.get("label", "work")
        if not isinstance(primary, bool) or label not in CONTACT_LABELS:
            raise BadRequest(f"{kind}: primary is true or false, label one of {', '.join(CONTACT_LABELS)}")
        out.append({"value": entry["value"], "primary": primary, "label": label})
    return out


def changes_module() -> Any:
    # imported late: ``changes`` renders persons with this module's ``person_v2``
    from connectors.sandbox.pipedrive import changes

    return changes


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
        if unknown := [n for n in include if n not in COUNT_SQL and n != "marketing_status"]:
            raise BadRequest(f"include_fields: unsupported field(s) {', '.join(unknown)}")
        return custom, include

    def v2_list(self, request: Request) -> Response:
        where, params = filters(request, ("owner_id", "org_id"))
        with self.store.read() as db:
            keys, include = self._options(request, db)
            rows, next_cursor = cursor_page(db, request, "pd_persons", where, params)
            counts = [_included(db, include, r) for r in rows]
        return ok([person_v2(r, keys, c) for r, c in zip(rows, counts, strict=True)], {"next_cursor": next_cursor})

    def v2_get(self, request: Request) -> Response:
        with self.store.read() as db:
            keys, include = self._options(request, db)
            row = person_row(db, int(request.params["id"]))
            if row is None:
                return not_found("Person")
            return ok_one(person_v2(row, keys, _included(db, include, row)))

    def v2_update(self, request: Request) -> Response:
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
                changes_module().note_person(db, row, person_id, "change")
            updated = person_row(db, person_id)
            assert updated is not None
            return ok_one(person_v2(updated, custom_fields(db)))
