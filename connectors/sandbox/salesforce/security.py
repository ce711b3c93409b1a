"""Field-level security: which fields a session's user may read and edit, and the checks Salesforce makes when
the setup objects that grant it are created over REST (``PermissionSet``, ``FieldPermissions``,
``PermissionSetAssignment``; ``POST .../sobjects/{type}``, see ``sobjects.py``).

A field created over the Tooling API (``tooling.py``) is visible to nobody until a ``FieldPermissions`` row
with ``PermissionsRead`` (and ``PermissionsEdit`` to write it) in a permission set assigned to the user grants
it: until then describe leaves it out, SOQL and writes answer ``INVALID_FIELD`` as for an unknown column.
Fields an admin adds in Setup (``Schemas.create_field``) and standard fields are visible to everyone, as the
Setup wizard grants field-level security to profiles.

Error codes (docs/crm-api/salesforce.md §3.4): ``Field`` and ``SobjectType`` are restricted picklists, so a field name
that does not exist is ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``; a second grant of one field in one
permission set, or a second assignment of one set to one user, is ``DUPLICATE_VALUE``; a permission set name
already used is ``DUPLICATE_DEVELOPER_NAME``; ``PermissionsEdit`` without ``PermissionsRead`` is
``FIELD_INTEGRITY_EXCEPTION``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.sandbox.salesforce.errors import record_error
from connectors.sandbox.salesforce.objects import FieldDef

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context

_API_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)")


@dataclass(frozen=True, slots=True)
class Access:
    """What one user may see and change; ``everything`` when no field of the org is under FLS."""

    readable: frozenset[str] = frozenset()  # "lead.leadsync_score__c"
    editable: frozenset[str] = frozenset()
    everything: bool = False

    def can_read(self, sobject: str, definition: FieldDef) -> bool:
        return self.everything or not definition.fls or f"{sobject}.{definition.name}".lower() in self.readable

    def can_edit(self, sobject: str, definition: FieldDef) -> bool:
        if not definition.updateable:
            return False
        return self.everything or not definition.fls or f"{sobject}.{definition.name}".lower() in self.editable


OPEN = Access(everything=True)


def field_access(ctx: Context, user_id: str | None) -> Access:
    """The grants of every permission set assigned to ``user_id`` (two reads, only when some field needs it)."""
    if not any(f.fls for schema in ctx.schemas.objects.values() for f in schema.fields.values()):
        return OPEN
    if not user_id:
        return Access()
    with ctx.store.read() as conn:
        sets = [
            row[0]
            for row in conn.execute(
                "SELECT json_extract(data, '$.PermissionSetId') FROM sf_record WHERE type = 'PermissionSetAssignment' "
                "AND deleted = 0 AND json_extract(data, '$.AssigneeId') = ?",
                (user_id,),
            )
        ]
        if not sets:
            return Access()
        marks = ",".join("?" * len(sets))
        rows = conn.execute(
            "SELECT data FROM sf_record WHERE type = 'FieldPermissions' AND deleted = 0 "
            f"AND json_extract(data, '$.ParentId') IN ({marks})",
            sets,
        ).fetchall()
    read: set[str] = set()
    edit: set[str] = set()
    for row in rows:
        grant = json.loads(row["data"])
        name = str(grant.get("Field", "")).lower()
        if grant.get("PermissionsRead"):
            read.add(name)
            if grant.get("PermissionsEdit"):
                edit.add(name)
    return Access(frozenset(read), frozenset(edit))


def check_setup_record(ctx: Context, sobject: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """The per-record error Salesforce answers for a setup object it refuses, or None."""
    if sobject == "PermissionSet":
        return _check_permission_set(ctx, values)
    if sobject == "FieldPermissions":
        return _check_field_permissions(ctx, values)
    if sobject == "PermissionSetAssignment":
        return _check_assignment(ctx, values)
    return None


def _existing(ctx: Context, sobject: str, ids: dict[str, Any], names: dict[str, str] | None = None) -> str | None:
    """The id of a live ``sobject`` row with these ids (exact) and names (case-insensitive), if any."""
    names = names or {}
    where = [f"json_extract(data, '$.{k}') = ?" for k in ids]
    where += [f"lower(json_extract(data, '$.{k}')) = ?" for k in names]
    params = [sobject, *(str(v) for v in ids.values()), *(v.lower() for v in names.values())]
    with ctx.store.read() as conn:
        row = conn.execute(
            f"SELECT id FROM sf_record WHERE type = ? AND deleted = 0 AND {' AND '.join(where)}", params
        ).fetchone()
    return str(row[0]) if row else None


def _check_permission_set(ctx: Context, values: dict[str, Any]) -> dict[str, Any] | None:
    name = str(values.get("Name") or "")
    if not _API_NAME.fullmatch(name) or len(name) > 80:
        return record_error(
            "INVALID_FIELD",
            "The API Name can only contain underscores and alphanumeric characters. It must be unique, begin "
            "with a letter, not include spaces, not end with an underscore, and not contain two consecutive "
            "underscores.",
            ["Name"],
        )
    if _existing(ctx, "PermissionSet", {}, {"Name": name}):
        return record_error("DUPLICATE_DEVELOPER_NAME", "The API Name you entered is already in use.", ["Name"])
    return None


def _check_field_permissions(ctx: Context, values: dict[str, Any]) -> dict[str, Any] | None:
    sobject = str(values.get("SobjectType") or "")
    field_name = str(values.get("Field") or "")
    schema = next((s for n, s in ctx.schemas.objects.items() if n.lower() == sobject.lower()), None)
    if schema is None:
        return record_error(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"SObject Type Name: bad value for restricted picklist field: {sobject}",
            ["SobjectType"],
        )
    prefix, _, short = field_name.partition(".")
    if prefix.lower() != schema.name.lower() or schema.get(short) is None:
        return record_error(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"Field Name: bad value for restricted picklist field: {field_name}",
            ["Field"],
        )
    if values.get("PermissionsEdit") and not values.get("PermissionsRead"):
        return record_error(
            "FIELD_INTEGRITY_EXCEPTION",
            f"Permission Edit {field_name} depends on permission(s): Read {field_name}",
            ["PermissionsRead"],
        )
    if _existing(ctx, "FieldPermissions", {"ParentId": values.get("ParentId")}, {"Field": field_name}):
        return record_error(
            "DUPLICATE_VALUE", "duplicate value found: <unknown> duplicates value on record with id: <unknown>"
        )
    return None


def _check_assignment(ctx: Context, values: dict[str, Any]) -> dict[str, Any] | None:
    ids = {"AssigneeId": values.get("AssigneeId"), "PermissionSetId": values.get("PermissionSetId")}
    found = _existing(ctx, "PermissionSetAssignment", ids)
    if found:
        return record_error(
            "DUPLICATE_VALUE", f"duplicate value found: <unknown> duplicates value on record with id: {found}"
        )
    return None
