"""Field history tracking: ``LeadHistory`` and ``ContactHistory``, queryable by SOQL like any object.

An admin turns tracking on per field (Setup > Object Manager > Fields & Relationships > Set History
Tracking), at most 20 fields per object; only tracked fields get history rows.  Every write of a Lead or
Contact through ``Records.write`` (API updates, test helpers) adds one row per tracked field whose value
changed: ``Field`` (the field's API name), ``OldValue``, ``NewValue``, ``CreatedDate`` (when the record
changed).  Records created with values get no rows: the history starts at the first change.

The sandbox tracks ``DEFAULT_TRACKED`` from the start; tests change that with ``track`` / ``untrack``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from connectors.sandbox.salesforce.objects import FieldDef, ObjectSchema
from connectors.sandbox.salesforce.records import Records

MAX_TRACKED = 20
# sObject -> (history object, its field naming the record)
HISTORY_OBJECTS = {"Lead": ("LeadHistory", "LeadId"), "Contact": ("ContactHistory", "ContactId")}
DEFAULT_TRACKED: dict[str, tuple[str, ...]] = {
    "Lead": ("Status", "LeadSource", "Industry", "Title", "Company", "NumberOfEmployees", "OwnerId"),
    "Contact": ("LeadSource", "Title", "AccountId", "Department", "OwnerId"),
}


def history_schema(name: str, parent: str, sobject: str) -> ObjectSchema:
    schema = ObjectSchema(name)
    for definition in (
        FieldDef("Id", "id", updateable=False, nillable=False, length=18),
        FieldDef(parent, "reference", reference_to=(sobject,), relationship_name=sobject, updateable=False, length=18),
        FieldDef("Field", "picklist", updateable=False, nillable=False, length=255),
        FieldDef("DataType", "picklist", updateable=False, length=40),
        FieldDef("OldValue", "anyType", updateable=False, length=255),
        FieldDef("NewValue", "anyType", updateable=False, length=255),
        FieldDef("IsDeleted", "boolean", updateable=False, nillable=False),
        FieldDef("CreatedDate", "datetime", updateable=False, nillable=False),
    ):
        schema.add(definition)
    return schema


class FieldHistory:
    """Adds the history objects to the org's schemas and watches ``records`` for changes of tracked fields."""

    def __init__(self, records: Records, schemas: dict[str, ObjectSchema]):
        self.records = records
        self.tracked: dict[str, set[str]] = {s: set(f) for s, f in DEFAULT_TRACKED.items()}
        for sobject, (name, parent) in HISTORY_OBJECTS.items():
            schemas[name] = history_schema(name, parent, sobject)
        records.observers.append(self._observe)

    def track(self, sobject: str, *fields: str) -> None:
        """Turn history tracking on for ``fields`` (API names), as an admin does in Setup."""
        wanted = self.tracked[sobject] | set(fields)
        if len(wanted) > MAX_TRACKED:
            raise ValueError(f"{sobject} can track at most {MAX_TRACKED} fields ({len(wanted)} asked)")
        self.tracked[sobject] = wanted

    def untrack(self, sobject: str, *fields: str) -> None:
        self.tracked[sobject] -= set(fields)

    def _observe(self, conn: Any, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        history: list[tuple[str, dict[str, Any]]] = []
        for sobject, data in rows:
            tracked = self.tracked.get(sobject)
            if not tracked:
                continue
            found = conn.execute("SELECT data FROM sf_record WHERE id = ?", (data["Id"],)).fetchone()
            if found is None:
                continue  # a new record: its history starts at its first change
            old = json.loads(found[0])
            when = str(data.get("LastModifiedDate") or self.records.now())
            name, parent = HISTORY_OBJECTS[sobject]
            for field_name in sorted(tracked):
                if old.get(field_name) == data.get(field_name):
                    continue
                history.append(
                    (
                        name,
                        {
                            "Id": self.records.new_id("LeadHistory"),  # one counter: both share the 017 prefix
                            parent: data["Id"],
                            "Field": field_name,
                            "DataType": "Text",
                            "OldValue": old.get(field_name),
                            "NewValue": data.get(field_name),
                            "IsDeleted": False,
                            "CreatedDate": when,
                        },
                    )
                )
        conn.executemany(
            "INSERT INTO sf_record (id, type, sysmod, deleted, data) VALUES (?, ?, ?, 0, ?)",
            [(d["Id"], t, d["CreatedDate"], json.dumps(d)) for t, d in history],
        )
