"""Creating leadsync's write-back fields on a Salesforce org and granting the integration user access to them
(``leadsync check --create-fields``), over REST only (docs/crm-api.md §3.4):

1. each missing field: ``POST .../tooling/sobjects/CustomField`` with ``FullName`` (``Lead.Leadsync_Score__c``)
   and ``Metadata`` (label, type and its length / precision + scale / picklist values);
2. field-level security, without which Salesforce hides a field created over the API: the permission set
   ``Leadsync_Integration`` (found by name, else created), one ``FieldPermissions`` row per field with read
   and edit (an existing read-only row is given edit), and its ``PermissionSetAssignment`` to the
   integration user, whose id comes from the token answer's identity URL or ``/services/oauth2/userinfo``.

Every step looks before it creates, so running it again, or after a half-finished run, creates only what is
missing.  A field that exists but is hidden (created by an earlier run whose grant failed) answers
``DUPLICATE_DEVELOPER_NAME`` and is granted like a new one.  Setup calls are one record per call (9 fields on
one object: about 25 calls, once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from simple_salesforce import Salesforce

from connectors.errors import FatalApiError
from connectors.records import FieldSpec
from connectors.salesforce.mapping import quote

if TYPE_CHECKING:
    from connectors.salesforce.client import SalesforceClient

PERMISSION_SET = "Leadsync_Integration"
PERMISSION_SET_LABEL = "Leadsync integration"
LABEL_MAX = 40  # Salesforce's limit on a field label


@dataclass(frozen=True, slots=True)
class NewField:
    sobject: str
    name: str  # API name, ending in __c
    spec: FieldSpec

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"


def field_metadata(spec: FieldSpec) -> dict[str, Any]:
    """The Tooling API ``Metadata`` of a write-back field (the Setup types ``check`` lists by hand)."""
    base: dict[str, Any] = {"label": spec.label[:LABEL_MAX], "description": spec.description[:1000]}
    if spec.type == "number":
        return {**base, "type": "Number", "precision": 18, "scale": 2}
    if spec.type == "datetime":
        return {**base, "type": "DateTime"}
    values = [{"fullName": v, "label": v, "default": False} for v in spec.options]
    value_set = {"valueSetDefinition": {"sorted": False, "value": values}}
    if spec.type == "enumeration" and spec.options:
        return {**base, "type": "Picklist", "valueSet": value_set}
    if spec.type == "multiselect" and spec.options:
        return {**base, "type": "MultiselectPicklist", "visibleLines": 4, "valueSet": value_set}
    return {**base, "type": "Text", "length": 255}


def create_fields(client: SalesforceClient, fields: Sequence[NewField]) -> list[NewField]:
    """Create ``fields`` (absent from describe); returns those that now exist, hidden ones included."""
    done: list[NewField] = []
    for field in fields:
        body = {"FullName": field.full_name, "Metadata": field_metadata(field.spec)}
        try:
            client.call("tooling.customfield.create", partial(_tooling_post, "sobjects/CustomField", body))
        except FatalApiError as exc:
            if "DUPLICATE_DEVELOPER_NAME" not in str(exc):
                raise
        done.append(field)
    return done


def grant_access(client: SalesforceClient, user_id: str, full_names: Sequence[str]) -> str:
    """Read and edit on ``full_names`` for ``user_id`` through the leadsync permission set; returns its id."""
    permset = _permission_set(client)
    existing = _records(
        client,
        "SELECT Id, Field, PermissionsEdit FROM FieldPermissions WHERE ParentId = "
        f"{quote(permset)} AND Field IN ({', '.join(quote(n) for n in full_names)})",
    )
    have = {str(r["Field"]).lower(): r for r in existing}
    for name in full_names:
        row = have.get(name.lower())
        if row is None:
            _create(
                client,
                "FieldPermissions",
                {
                    "ParentId": permset,
                    "SobjectType": name.split(".", 1)[0],
                    "Field": name,
                    "PermissionsRead": True,
                    "PermissionsEdit": True,
                },
            )
        elif not row.get("PermissionsEdit"):
            patch = partial(_rest, "PATCH", f"sobjects/FieldPermissions/{row['Id']}", {"PermissionsEdit": True})
            client.call("sobject.update", patch)
    assigned = _records(
        client,
        f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {quote(user_id)} "
        f"AND PermissionSetId = {quote(permset)}",
    )
    if not assigned:
        _create(client, "PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": permset})
    return permset


def _permission_set(client: SalesforceClient) -> str:
    found = _records(client, f"SELECT Id FROM PermissionSet WHERE Name = {quote(PERMISSION_SET)}")
    if found:
        return str(found[0]["Id"])
    return _create(
        client,
        "PermissionSet",
        {
            "Name": PERMISSION_SET,
            "Label": PERMISSION_SET_LABEL,
            "Description": "Read and edit on the fields leadsync writes (made by leadsync check --create-fields).",
        },
    )


def _records(client: SalesforceClient, soql: str) -> list[Mapping[str, Any]]:
    return list(client.query(soql, paged=False).get("records", []))


def _create(client: SalesforceClient, sobject: str, values: Mapping[str, Any]) -> str:
    answer = client.call("sobject.create", partial(_rest, "POST", f"sobjects/{sobject}", dict(values)))
    if not isinstance(answer, Mapping) or "id" not in answer:
        raise FatalApiError(f"Salesforce created a {sobject} but answered no id.", crm="salesforce")
    return str(answer["id"])


def _rest(method: str, path: str, body: Mapping[str, Any], sf: Salesforce) -> Any:
    return sf.restful(path, method=method, json=dict(body))


def _tooling_post(path: str, body: Mapping[str, Any], sf: Salesforce) -> Any:
    return sf.toolingexecute(path, method="POST", data=dict(body))


def api_name(name: str) -> str:
    """The API name of a write-back field: names without the ``__c`` suffix get it."""
    return name if name.endswith("__c") or "__" in name else f"{name}__c"


def writable(
    described: Mapping[str, Mapping[str, Any]], specs: Sequence[FieldSpec]
) -> tuple[list[str], list[tuple[FieldSpec, list[str]]], dict[str, str]]:
    """(specs writable on every object, (spec, objects where it is missing or read-only), name -> API name)."""
    present: list[str] = []
    absent: list[tuple[FieldSpec, list[str]]] = []
    keys: dict[str, str] = {}
    for spec in specs:
        name = api_name(spec.name)
        keys[spec.name] = name
        objects = []
        for sobject, body in described.items():
            fields = {f["name"].lower(): f for f in body.get("fields", [])}
            found = fields.get(name.lower())
            if found is None or not found.get("updateable"):
                objects.append(sobject)
            elif found["name"] != name:
                keys[spec.name] = found["name"]
        if objects:
            absent.append((spec, objects))
        else:
            present.append(spec.name)
    return present, absent, keys
