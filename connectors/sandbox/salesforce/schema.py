"""Schema: the org's objects and fields, ``GET .../sobjects/{type}/describe``, the custom fields an admin
creates in Setup (kept in ``sf_custom_field``, so a ``--db`` file served again keeps them), and the typing
of a written value as Salesforce's JSON deserializer does it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.salesforce import soql
from connectors.sandbox.salesforce.errors import SfError
from connectors.sandbox.salesforce.ids import KEY_PREFIXES, id18, looks_like_id
from connectors.sandbox.salesforce.objects import LEAD_STATUSES, FieldDef, ObjectSchema, build_schemas, field_label

_CUSTOM_FIELD_SQL = """
CREATE TABLE IF NOT EXISTS sf_custom_field (
    sobject TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (sobject, name)
);
"""


class Schemas:
    """The standard objects plus the custom fields stored with the org; ``objects`` maps name -> schema."""

    def __init__(self, store: Any):
        self.store = store
        self.objects: dict[str, ObjectSchema] = build_schemas()
        with self.store.read() as conn:
            conn.executescript(_CUSTOM_FIELD_SQL)
            for sobject, raw in conn.execute("SELECT sobject, definition FROM sf_custom_field ORDER BY rowid"):
                spec = json.loads(raw)
                self.objects[sobject].add(FieldDef(**{**spec, "picklist": tuple(spec["picklist"])}))

    def find(self, name: str, status: int = 400) -> ObjectSchema:
        """The object named ``name`` in any case; unknown: 404 on an sObject URL, 400 in a query or body."""
        for key, schema in self.objects.items():
            if key.lower() == name.lower():
                return schema
        if status == 404:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        raise SfError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")

    def describe(self, request: Request) -> Response:
        schema = self.find(request.params["sobject"], status=404)
        version = request.params["version"]
        status_default = next(v for v, _, d in LEAD_STATUSES if d)
        base = f"/services/data/v{version}/sobjects/{schema.name}"
        return Response(
            200,
            {
                "name": schema.name,
                "label": schema.name,
                "labelPlural": schema.name + "s",
                "keyPrefix": KEY_PREFIXES[schema.name],
                "custom": False,
                "createable": True,
                "updateable": True,
                "deletable": True,
                "queryable": True,
                "fields": [
                    f.describe(status_default if f.name == "Status" and schema.name == "Lead" else None)
                    for f in schema.fields.values()
                ],
                "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
            },
        )

    def create_field(
        self,
        sobject: str,
        name: str,
        type: str,
        label: str = "",
        *,
        length: int = 0,
        precision: int = 0,
        scale: int = 0,
        picklist: Sequence[str] = (),
    ) -> None:
        """Add a custom field (what an admin does in Setup); ``name`` must end in ``__c``."""
        if not name.endswith("__c"):
            raise ValueError("custom field API names end in __c")
        if type in ("string", "textarea") and not length:
            length = 255
        if type in ("double", "currency") and not precision:
            precision = 18
        definition = FieldDef(
            name,
            type,
            label=label or field_label(name),
            custom=True,
            length=length,
            precision=precision,
            scale=scale,
            picklist=tuple(picklist),
        )
        self.objects[sobject].add(definition)
        spec = {k: getattr(definition, k) for k in ("name", "type", "label", "custom", "length", "precision", "scale")}
        with self.store.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sf_custom_field (sobject, name, definition) VALUES (?, ?, ?)",
                (sobject, name.lower(), json.dumps({**spec, "picklist": list(definition.picklist)})),
            )

    def drop_field(self, sobject: str, name: str) -> None:
        self.objects[sobject].fields.pop(name.lower(), None)
        with self.store.tx() as conn:
            conn.execute("DELETE FROM sf_custom_field WHERE sobject = ? AND name = ?", (sobject, name.lower()))


def coerce(definition: FieldDef | None, value: Any) -> Any:
    """A JSON value for a field of the given type, as Salesforce's deserializer accepts it."""
    if definition is None or value is None:
        return value
    kind = definition.type

    def bad() -> SfError:
        return SfError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {kind} from {type(value).__name__} value {value!r} "
            f"for field {definition.name}",
        )

    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad()
    if kind == "int":
        if isinstance(value, bool):
            raise bad()
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad() from None
        if number != int(number):
            raise bad()
        return int(number)
    if kind in ("double", "currency"):
        if isinstance(value, bool):
            raise bad()
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad() from None
    if kind == "datetime":
        try:
            return soql.normalize_datetime(str(value))
        except soql.SoqlError:
            raise bad() from None
    if kind == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value[:10]):
            raise bad()
        return value[:10]
    if kind == "reference":
        return id18(str(value)) if looks_like_id(str(value)) else str(value)
    if isinstance(value, bool | dict | list):
        raise bad()
    return str(value) if isinstance(value, int | float) else value
