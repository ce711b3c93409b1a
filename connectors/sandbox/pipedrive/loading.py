"""Sample data in and out: a ``Dataset`` loaded as users, organizations, persons, activities and deals, and the
helpers tests, the demo and benchmarks use to change a person or read it back.

Pipedrive has no title / industry / lifecycle fields on persons: sample data goes to custom fields, and the
organization holds the company name.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.pipedrive.activities import activity_row
from connectors.sandbox.pipedrive.changes import note_activity, note_person
from connectors.sandbox.pipedrive.common import epoch, insert, insert_one, person_row, rfc3339, unix_now
from connectors.sandbox.pipedrive.deals import deal_row
from connectors.sandbox.pipedrive.fields import PersonFields, custom_fields, field_by_name, option_id
from connectors.sandbox.pipedrive.organizations import org_id
from connectors.sandbox.pipedrive.persons import person_changes, person_v2, update_person
from connectors.sandbox.samples import Dataset
from connectors.sandbox.store import Store

# Sample-data lifecycle value -> (option of the "Lifecycle stage" field, person label id).  The options are
# the stage names leadsync's Pipedrive defaults use (sync/policies.py).
LIFECYCLE = {"lead": ("Lead", 4), "marketingqualifiedlead": ("MQL", 3), "salesqualifiedlead": ("SQL", 2),
             "opportunity": ("Opportunity", 2), "customer": ("Customer", 1)}  # fmt: skip
LIFECYCLE_STAGES = tuple(label for label, _ in LIFECYCLE.values())


def stage_label(value: str) -> str:
    """The Pipedrive option for a sample-data lifecycle value ("marketingqualifiedlead" -> "MQL")."""
    return LIFECYCLE[value][0] if value in LIFECYCLE else value.replace("_", " ").title()


# The custom fields holding sample data: (name, field_type, SamplePerson attribute).
DATASET_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("Job title", "varchar", "title"),
    ("Industry", "varchar", "industry"),
    ("Employees", "varchar", "employees"),
    ("Country", "varchar", "country"),
    ("City", "varchar", "city"),
    ("Lead source", "varchar", "lead_source"),
    ("Lifecycle stage", "enum", "lifecycle_stage"),
)
FIELD_ALIASES = {attr: name for name, _, attr in DATASET_FIELDS}


def _require_person(db: sqlite3.Connection, contact_id: str) -> sqlite3.Row:
    row = person_row(db, int(contact_id))
    if row is None:
        raise KeyError(f"no person {contact_id}")
    return row


class SampleData:
    def __init__(self, store: Store, clock: Clock, fields: PersonFields):
        self.store = store
        self.clock = clock
        self.fields = fields

    def _dataset_fields(self, db: sqlite3.Connection, stages: Iterable[str]) -> dict[str, sqlite3.Row]:
        """The custom fields holding sample data, created on first use; lifecycle options grow as needed."""
        out: dict[str, sqlite3.Row] = {}
        for name, kind, attr in DATASET_FIELDS:
            out[attr] = field_by_name(db, name) or self.fields.insert(
                db, name, kind, LIFECYCLE_STAGES if kind == "enum" else ()
            )
        stage = out["lifecycle_stage"]
        options = json.loads(stage["options"] or "[]")
        known = {o["label"] for o in options}
        if missing := [s for s in dict.fromkeys(stages) if s and s not in known]:
            next_id = max((o["id"] for o in options), default=stage["id"] * 1000) + 1
            options += [{"id": next_id + i, "label": s} for i, s in enumerate(missing)]
            db.execute("UPDATE pd_person_fields SET options = ? WHERE id = ?", (json.dumps(options), stage["id"]))
            out["lifecycle_stage"] = db.execute(
                "SELECT * FROM pd_person_fields WHERE id = ?", (stage["id"],)
            ).fetchone()
        return out

    def load(self, dataset: Dataset) -> dict[str, str]:
        """Users, organizations, persons, activities and won/lost deals from a dataset; person key -> id."""
        with self.store.tx() as db:
            now = unix_now(self.clock)
            owners = {
                o.key: insert_one(
                    db,
                    "pd_users",
                    {
                        "name": f"{o.first_name} {o.last_name}".strip(),
                        "email": o.email,
                        "active_flag": int(o.active),
                        "is_admin": 0,
                        "created": now,
                        "owner_key": o.key,
                    },
                )
                for o in dataset.owners
            }
            default_owner = db.execute("SELECT MIN(id) FROM pd_users").fetchone()[0]
            if default_owner is None and dataset.people:
                admin = {"name": "Sandbox Admin", "email": "admin@sandbox.invalid", "active_flag": 1, "is_admin": 1}
                default_owner = insert_one(db, "pd_users", admin | {"created": now})
            fields = self._dataset_fields(
                db, (stage_label(p.lifecycle_stage) for p in dataset.people if p.lifecycle_stage)
            )
            rows = []
            for p in dataset.people:
                owner_id = owners.get(p.owner_key or "", default_owner)
                created = epoch(p.created_at)
                custom = {}
                for attr, field in fields.items():
                    value = stage_label(p.lifecycle_stage) if attr == "lifecycle_stage" else getattr(p, attr)
                    custom[field["key"]] = (option_id(field, value) if field["field_type"] == "enum" else value) or None
                label = LIFECYCLE.get(p.lifecycle_stage, ("", None))[1]
                org = org_id(db, p.company, owner_id, created)
                rows.append(
                    {"name": f"{p.first_name} {p.last_name}".strip() or p.email, "first_name": p.first_name,
                     "last_name": p.last_name, "owner_id": owner_id, "org_id": org,
                     "emails": json.dumps([{"value": p.email, "primary": True, "label": "work"}] if p.email else []),
                     "phones": json.dumps([{"value": p.phone, "primary": True, "label": "work"}] if p.phone else []),
                     "label_ids": json.dumps([label] if label else []), "visible_to": 3, "add_time": created,
                     "update_time": max(epoch(p.updated_at), created), "custom": json.dumps(custom),
                     "person_key": p.key, "marketing_status": "unsubscribed" if p.do_not_email else "subscribed"}
                )  # fmt: skip
            first_new = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM pd_persons").fetchone()[0]
            insert(db, "pd_persons", rows)
            persons = {
                r["person_key"]: r
                for r in db.execute(
                    "SELECT id, person_key, owner_id, org_id, name FROM pd_persons WHERE id >= ?", (first_new,)
                )
            }
            activities = [
                activity_row(
                    persons[a.person_key], a.type, a.occurred_at, a.subject, a.attributes, epoch(a.occurred_at)
                )
                for a in dataset.activities
                if a.person_key in persons
            ]
            insert(db, "pd_activities", activities)
            deals = [
                deal_row(persons[o.person_key], o.won, o.amount, epoch(o.closed_at), o.name)
                for o in dataset.outcomes
                if o.person_key in persons
            ]
            insert(db, "pd_deals", deals)
        return {key: str(r["id"]) for key, r in persons.items()}

    # -- change a person, read it back --------------------------------------------------------------------------
    def touch(self, contact_id: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Change fields (by key, Pipedrive name or sample-data name) and bump ``update_time`` (to ``at``)."""
        with self.store.tx() as db:
            row = _require_person(db, contact_id)
            body: dict[str, Any] = {}
            custom: dict[str, Any] = {}
            org: dict[str, Any] = {}
            for name, value in fields.items():
                if name == "company":
                    org["org_id"] = org_id(db, str(value), row["owner_id"], unix_now(self.clock))
                    continue
                if name in ("email", "phone"):  # the primary address, as the sample data knows it
                    body[f"{name}s"] = [{"value": str(value), "primary": True, "label": "work"}] if value else []
                    continue
                if name == "label_ids":
                    body[name] = [int(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
                    continue
                if name == "owner_id":
                    body[name] = int(value)
                    continue
                if name in ("name", "first_name", "last_name"):
                    body[name] = value
                    continue
                field = field_by_name(db, FIELD_ALIASES.get(name, name))
                if field is None:
                    raise KeyError(f"no person field named {name!r}")
                if field["field_type"] in ("enum", "set") and value is not None:
                    labels = value if isinstance(value, list) else [value]
                    option_ids = [option_id(field, str(v)) or option_id(field, stage_label(str(v))) for v in labels]
                    if None in option_ids:
                        raise KeyError(f"field {field['name']!r} has no option {value!r}")
                    value = option_ids if field["field_type"] == "set" else option_ids[0]
                elif field["field_type"] in ("double", "monetary"):
                    if isinstance(value, str):
                        value = float(value) if value else None  # sample data may hold numbers as text
                elif (
                    value is not None
                    and not isinstance(value, str)
                    and field["field_type"] not in ("user", "org", "people")
                ):
                    value = str(value)
                custom[field["key"]] = value
            if custom:
                body["custom_fields"] = custom
            changes = person_changes(db, row, body) | org
            update_person(db, row, changes, epoch(at) if at else max(unix_now(self.clock), row["update_time"] or 0))
            if changes:
                note_person(db, row, row["id"], "change")

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Log a done activity (canonical type or Pipedrive type key).  The person's update_time is NOT bumped."""
        subject = str(attrs.pop("subject", ""))
        with self.store.tx() as db:
            person = _require_person(db, contact_id)
            when = occurred_at or self.clock.now()
            row = activity_row(person, type, when, subject, attrs, unix_now(self.clock))
            activity_id = insert_one(db, "pd_activities", row)
            note_activity(db, activity_id, "create")
            return str(activity_id)

    def set_deal(self, contact_id: str, *, won: bool, amount: float = 0.0, closed_at: datetime | None = None) -> str:
        """Close a deal (won or lost) for a person."""
        with self.store.tx() as db:
            person = _require_person(db, contact_id)
            row = deal_row(person, won, amount, epoch(closed_at) if closed_at else unix_now(self.clock))
            return str(insert_one(db, "pd_deals", row | {"update_time": unix_now(self.clock)}))

    def record(self, contact_id: str) -> dict[str, Any]:
        """The person as ``GET /api/v2/persons/{id}`` returns it, with every custom field."""
        with self.store.read() as db:
            return person_v2(_require_person(db, contact_id), custom_fields(db))

    def field_value(self, contact_id: str, name: str) -> Any:
        """A person's value by field NAME or key: option ids become labels, emails/phones their primary value."""
        with self.store.read() as db:
            row = _require_person(db, contact_id)
            field = field_by_name(db, FIELD_ALIASES.get(name, name))
            if name in ("org_name", "company", "Organization"):
                org = db.execute("SELECT name FROM pd_orgs WHERE id = ?", (row["org_id"],)).fetchone()
                return org and org[0]
            if field is None:
                raise KeyError(f"no person field named {name!r}")
            key, kind = field["key"], field["field_type"]
            if key in ("email", "phone"):
                items = json.loads(row[f"{key}s"] or "[]")
                return next((i["value"] for i in items if i.get("primary")), None)
            if key in ("add_time", "update_time"):
                return rfc3339(row[key])
            if key == "label_ids":
                value = json.loads(row["label_ids"] or "[]")
            else:
                value = json.loads(row["custom"] or "{}").get(key) if field["edit_flag"] else row[key]
            if value is None or kind not in ("enum", "set"):
                return value
            labels = {o["id"]: o["label"] for o in json.loads(field["options"] or "[]")}
            return labels.get(value) if kind == "enum" else ",".join(labels[v] for v in value if v in labels) or None

    def merge(self, keep_id: str, merge_id: str) -> None:
        """Merge ``merge_id`` into ``keep_id`` (as ``PUT /v1/persons/{id}/merge``): activities and deals move."""
        with self.store.tx() as db:
            now, keep, gone = unix_now(self.clock), int(keep_id), int(merge_id)
            kept, merged = person_row(db, keep), person_row(db, gone)
            if kept is None or merged is None or keep == gone:
                raise KeyError(f"cannot merge person {merge_id} into {keep_id}")
            for table in ("pd_activities", "pd_deals"):
                db.execute(f"UPDATE {table} SET person_id = ?, update_time = ? WHERE person_id = ?", (keep, now, gone))
            db.execute("UPDATE pd_persons SET is_deleted = 1, update_time = ? WHERE id = ?", (now, gone))
            db.execute("UPDATE pd_persons SET update_time = MAX(update_time, ?) WHERE id = ?", (now, keep))
            # Pipedrive v2 reports a merge as a delete (merged_to_id) plus a change (merged_from_id)
            note_person(db, merged, gone, "delete", merged_to_id=str(keep))
            note_person(db, kept, keep, "change", merged_from_id=str(gone))

    def delete(self, person_id: str) -> None:
        """Delete a person (as ``DELETE /api/v2/persons/{id}``): marked deleted, gone from reads and lists."""
        with self.store.tx() as db:
            pid = int(person_id)
            row = person_row(db, pid)
            if row is None:
                raise KeyError(f"no person {person_id}")
            note_person(db, row, pid, "delete")
            now = unix_now(self.clock)
            db.execute("UPDATE pd_persons SET is_deleted = 1, update_time = ? WHERE id = ?", (now, pid))
