"""Tooling API: ``POST .../tooling/sobjects/CustomField`` with ``{"FullName": "Lead.X__c", "Metadata": {...}}``
creates a custom field as an integration with "Customize Application" can (docs/crm-api/salesforce.md §3.4).

The new field is under field-level security (``security.py``): nobody sees it until a permission set grants it.
``Metadata.type`` is a Metadata API field type; the ones served here, and the describe type each becomes:

- ``Text`` (``length`` 1-255) -> string; ``TextArea`` -> textarea (255); ``LongTextArea`` (``length``
  256-131072) -> textarea; ``Email``, ``Phone``, ``Url`` -> email, phone, url;
- ``Number`` / ``Currency`` (``precision`` 1-18, ``scale`` 0-precision) -> double / currency;
- ``Date``, ``DateTime``, ``Checkbox`` -> date, datetime, boolean;
- ``Picklist`` with ``valueSet.valueSetDefinition.value[].fullName`` -> picklist; ``MultiselectPicklist`` the
  same (and ``visibleLines``) -> multipicklist, whose value is the selected values joined by ``;``.

Answers: 201 ``{"id": "00N...", "success": true, "errors": [], "warnings": [], "infos": []}``; a name already
on the object: 400 ``DUPLICATE_DEVELOPER_NAME`` "There is already a field named X on Lead."; a missing or
out-of-range attribute: 400 ``FIELD_INTEGRITY_EXCEPTION`` naming it (the vendor's exact wording there is not
published: an assumption).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.salesforce.errors import SfError

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context

# Metadata API type -> the type describe reports
_TYPES: dict[str, str] = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Number": "double",
    "Currency": "currency",
    "Date": "date",
    "DateTime": "datetime",
    "Checkbox": "boolean",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
}
# a multi-select picklist's describe length is 4099: its selected values joined by ";"
_FIXED_LENGTH = {"TextArea": 255, "Email": 80, "Phone": 40, "Url": 255, "Picklist": 255, "MultiselectPicklist": 4099}
_DEV_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)__c")


class Tooling:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def create_custom_field(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        full_name, metadata = body.get("FullName"), body.get("Metadata")
        if not isinstance(full_name, str) or not isinstance(metadata, dict):
            raise SfError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName, Metadata]")
        sobject, _, name = full_name.partition(".")
        schema = next((s for n, s in self.ctx.schemas.objects.items() if n.lower() == sobject.lower()), None)
        if schema is None:
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", f"Cannot find the object {sobject!r} of {full_name}")
        if not _DEV_NAME.fullmatch(name) or len(name) > 43:
            raise SfError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"Field Name: {name!r} must end in __c, begin with a letter and use only letters, digits and "
                "single underscores (at most 40 characters before __c)",
            )
        if schema.get(name) is not None:
            raise SfError(
                400, "DUPLICATE_DEVELOPER_NAME", f"There is already a field named {name[:-3]} on {schema.name}."
            )
        kind, label = metadata.get("type"), metadata.get("label")
        if not isinstance(label, str) or not label.strip():
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Field Label: You must enter a value")
        if kind not in _TYPES:
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", f"Data Type: {kind!r} is not a field type")
        length, precision, scale, values = _shape(str(kind), metadata)
        self.ctx.schemas.create_field(
            schema.name,
            name,
            _TYPES[str(kind)],
            label.strip(),
            length=length,
            precision=precision,
            scale=scale,
            picklist=values,
            fls=True,
        )
        field_id = self.ctx.records.new_id("CustomField")
        return Response(201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []})


def _int(metadata: dict[str, Any], key: str) -> int | None:
    value = metadata.get(key)
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _shape(kind: str, metadata: dict[str, Any]) -> tuple[int, int, int, tuple[str, ...]]:
    """(length, precision, scale, picklist values) of a field of Metadata type ``kind``, checked."""
    if kind == "Text":
        length = _int(metadata, "length")
        if length is None or not 1 <= length <= 255:
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Length: a Text field's length must be 1 to 255")
        return length, 0, 0, ()
    if kind == "LongTextArea":
        length = _int(metadata, "length")
        if length is None or not 256 <= length <= 131072:
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Length: a Long Text Area's length must be 256 to 131,072")
        return length, 0, 0, ()
    if kind in ("Number", "Currency"):
        precision, scale = _int(metadata, "precision"), _int(metadata, "scale")
        if precision is None or not 1 <= precision <= 18:
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Length: the precision must be 1 to 18 digits")
        if scale is None or not 0 <= scale <= precision:
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Decimal Places: the scale must be 0 to the precision")
        return 0, precision, scale, ()
    if kind in ("Picklist", "MultiselectPicklist"):
        definition = (metadata.get("valueSet") or {}).get("valueSetDefinition") or {}
        entries = definition.get("value") if isinstance(definition, dict) else None
        names = tuple(str(e.get("fullName")) for e in entries or [] if isinstance(e, dict) and e.get("fullName"))
        if not names:
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Values: a picklist needs at least one value")
        return _FIXED_LENGTH[kind], 0, 0, names
    return _FIXED_LENGTH.get(kind, 0), 0, 0, ()
