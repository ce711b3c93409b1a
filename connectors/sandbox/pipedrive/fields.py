"""Person fields: ``/api/v2/personFields`` (cursor paging, ``field_code`` / ``field_name`` / ``is_custom_field``)
and ``/api/v1/personFields`` (``start`` paging, ``key`` / ``name`` / ``edit_flag``), both still in Pipedrive's
definitions.  Custom fields get random-looking 40-char hash keys.

A key derives from the field's row id (and the sandbox seed), not from a generator: a sandbox served from a
database another process seeded must not draw a key that database already holds.  Pipedrive accepts two
fields of the same name: idempotence is the client's job.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import BadRequest, Request, Response
from connectors.sandbox.pipedrive.common import insert_one, pick, unix_now, v1_time
from connectors.sandbox.pipedrive.errors import ok
from connectors.sandbox.pipedrive.paging import limit_arg, pagination, start_limit
from connectors.sandbox.store import Store

FIELD_TYPES = {
    "address", "date", "daterange", "double", "enum", "monetary", "org", "people", "phone", "set", "text", "time",
    "timerange", "user", "varchar", "varchar_auto", "visible_to",
}  # fmt: skip

# Person labels (options of the ``label_ids`` field) as a new Pipedrive account has them.
LABELS = tuple({"id": i, "label": lab} for i, lab in enumerate(("Customer", "Hot lead", "Warm lead", "Cold lead"), 1))

# Standard person fields as GET /v1/personFields lists them: (key, name, field_type).
STANDARD_FIELDS = (
    ("name", "Name", "varchar"), ("first_name", "First name", "varchar"), ("last_name", "Last name", "varchar"),
    ("label_ids", "Labels", "set"), ("org_id", "Organization", "org"), ("owner_id", "Owner", "user"),
    ("phone", "Phone", "phone"), ("email", "Email", "varchar"), ("add_time", "Person created", "date"),
    ("update_time", "Update time", "date"), ("visible_to", "Visible to", "visible_to"),
    ("marketing_status", "Marketing status", "enum"),  # listed when the account uses Campaigns (this one does)
)  # fmt: skip
FIELD_FLAGS = dict.fromkeys(
    ("active_flag", "index_visible_flag", "details_visible_flag", "add_visible_flag", "filtering_allowed",
     "sortable_flag"), True
) | {"important_flag": False, "searchable_flag": False, "last_updated_by_user_id": None}  # fmt: skip


def all_fields(db: sqlite3.Connection) -> list[sqlite3.Row]:
    return list(db.execute("SELECT * FROM pd_person_fields ORDER BY order_nr, id"))


def custom_fields(db: sqlite3.Connection) -> dict[str, sqlite3.Row]:
    return {r["key"]: r for r in all_fields(db) if r["edit_flag"]}


def field_by_name(db: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    """A field by exact name or key, else by name in any case."""
    fields = all_fields(db)
    exact = [r for r in fields if name in (r["name"], r["key"])]
    loose = [r for r in fields if r["name"].lower() == name.lower()]
    return (exact or loose)[0] if exact or loose else None


def option_id(field: sqlite3.Row, label: str) -> int | None:
    return next((int(o["id"]) for o in json.loads(field["options"] or "[]") if o["label"] == label), None)


def field_v2(row: sqlite3.Row) -> dict[str, Any]:
    """A field as ``/api/v2/personFields`` shows it (``options`` and ``subfields`` are the nullable ones)."""
    options = json.loads(row["options"]) if row["options"] is not None else None
    data = {"field_name": row["name"], "field_code": row["key"], "field_type": row["field_type"]}
    return data | {"options": options, "subfields": None, "is_custom_field": bool(row["edit_flag"]),
                   "is_optional_response_field": False}  # fmt: skip


def field_json(row: sqlite3.Row) -> dict[str, Any]:
    data = pick(row, "id key name order_nr field_type", "add_time update_time", v1_time) | FIELD_FLAGS
    editable = bool(row["edit_flag"])
    data |= {"edit_flag": editable, "bulk_edit_allowed": editable, "mandatory_flag": row["key"] == "name"}
    # v1 sends the key on every field: null on those without options (docs/crm-api/pipedrive.md 1.6)
    data["options"] = json.loads(row["options"]) if row["options"] is not None else None
    return data


def _options_labels(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("Options must be given for enum and set fields")
    labels = []
    for item in raw:
        label = item.get("label") if isinstance(item, dict) else item
        if not isinstance(label, str) or not label:
            raise BadRequest("Each option needs a label")
        labels.append(label)
    return labels


class PersonFields:
    """Creates fields (each key a hash of the seed and the field's id) and serves both versions of the API."""

    def __init__(self, store: Store, clock: Clock, seed: int):
        self.store = store
        self.clock = clock
        self.seed = seed

    def _key(self, field_id: int) -> str:
        digest = hashlib.sha1(f"pipedrive:{self.seed}:{field_id}".encode(), usedforsecurity=False)
        return digest.hexdigest()  # 40 hex chars, like Pipedrive's keys

    @staticmethod
    def create_standard(db: sqlite3.Connection) -> None:
        """The standard fields of a new account, once."""
        if db.execute("SELECT COUNT(*) FROM pd_person_fields").fetchone()[0] == 0:
            for order, (key, name, kind) in enumerate(STANDARD_FIELDS):
                options = json.dumps(list(LABELS)) if key == "label_ids" else None
                row = {"key": key, "name": name, "field_type": kind, "options": options, "edit_flag": 0}
                insert_one(db, "pd_person_fields", row | {"order_nr": order, "add_time": 0, "update_time": 0})

    def insert(self, db: sqlite3.Connection, name: str, kind: str, labels: Sequence[str] = ()) -> sqlite3.Row:
        now = unix_now(self.clock)
        options = None
        if kind in ("enum", "set"):
            base = (db.execute("SELECT COALESCE(MAX(id), 0) FROM pd_person_fields").fetchone()[0] + 1) * 1000
            options = json.dumps([{"id": base + i, "label": label} for i, label in enumerate(labels)])
        order = db.execute("SELECT COALESCE(MAX(order_nr), 0) + 1 FROM pd_person_fields").fetchone()[0]
        row = {"name": name, "field_type": kind, "options": options, "edit_flag": 1, "order_nr": order}
        field_id = insert_one(db, "pd_person_fields", row | {"add_time": now, "update_time": now})
        db.execute("UPDATE pd_person_fields SET key = ? WHERE id = ?", (self._key(field_id), field_id))
        found: sqlite3.Row = db.execute("SELECT * FROM pd_person_fields WHERE id = ?", (field_id,)).fetchone()
        return found

    # -- GET / POST /api/v2/personFields ---------------------------------------------------------------------
    def v2_list(self, request: Request) -> Response:
        limit = limit_arg(request)
        raw = request.arg("cursor")
        try:
            after = int(raw) if raw else -1  # the cursor: the position of the page's last field
        except ValueError as exc:
            raise BadRequest("Invalid cursor") from exc
        with self.store.read() as db:
            rows = all_fields(db)
        page = rows[after + 1 : after + 1 + limit]
        more = after + 1 + limit < len(rows)
        return ok([field_v2(r) for r in page], {"next_cursor": str(after + limit) if more else None})

    def v2_create(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        name, kind = body.get("field_name"), body.get("field_type")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("field_name is required (1 to 255 characters)")
        if kind not in FIELD_TYPES - {"visible_to"}:
            raise BadRequest(f"field_type must be one of: {', '.join(sorted(FIELD_TYPES - {'visible_to'}))}")
        labels = _options_labels(body.get("options")) if kind in ("enum", "set") else []
        with self.store.tx() as db:
            return ok(field_v2(self.insert(db, name.strip(), str(kind), labels)))

    # -- GET / POST /api/v1/personFields ---------------------------------------------------------------------
    def list_fields(self, request: Request) -> Response:
        start, limit = start_limit(request)
        with self.store.read() as db:
            rows = all_fields(db)
        page = [field_json(r) for r in rows[start : start + limit]]
        return ok(page, pagination(start, limit, start + limit < len(rows)))

    def create_field(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        name, kind = body.get("name"), body.get("field_type")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("Field name must be given")
        if kind not in FIELD_TYPES:
            raise BadRequest(f"Field type must be one of: {', '.join(sorted(FIELD_TYPES))}")
        labels: list[str] = []
        if kind in ("enum", "set"):
            raw = body.get("options")
            if isinstance(raw, str):  # v1 also takes a JSON-encoded string
                try:
                    raw = json.loads(raw)
                except ValueError as exc:
                    raise BadRequest("options must be a JSON array") from exc
            labels = _options_labels(raw)
        with self.store.tx() as db:
            return ok(field_json(self.insert(db, name.strip(), str(kind), labels)))
