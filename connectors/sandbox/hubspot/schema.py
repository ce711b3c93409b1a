"""Properties and property groups: the seeded contact properties, ``/crm/v3/properties/{type}`` (and its
``groups``), and the validation of written values against the definitions, as HubSpot does it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sandbox.core import BadRequest, Request, Response
from connectors.sandbox.hubspot.context import Context, json_body
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import LIFECYCLE_STAGES, READ_ONLY, iso, parse_ms

_LEAD_STATUSES = (
    "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING",
)  # fmt: skip


def _seed_contact_properties() -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    """(name, label, type, fieldType, options) of the HubSpot-defined contact properties the sandbox serves."""
    stages = [(s, s.replace("qualifiedlead", " qualified lead").title()) for s in LIFECYCLE_STAGES]
    lead_statuses = [(v, v.replace("_", " ").title()) for v in _LEAD_STATUSES]
    booleans = [("true", "True"), ("false", "False")]
    return [
        ("email", "Email", "string", "text", []),
        ("firstname", "First Name", "string", "text", []),
        ("lastname", "Last Name", "string", "text", []),
        ("jobtitle", "Job Title", "string", "text", []),
        ("company", "Company Name", "string", "text", []),
        ("industry", "Industry", "string", "text", []),
        ("numemployees", "Number of Employees", "string", "text", []),  # messy strings as given
        ("annualrevenue", "Annual Revenue", "string", "text", []),
        ("country", "Country/Region", "string", "text", []),
        ("state", "State/Region", "string", "text", []),
        ("city", "City", "string", "text", []),
        ("phone", "Phone Number", "string", "text", []),
        ("website", "Website URL", "string", "text", []),
        ("hs_analytics_source", "Original Source", "string", "text", []),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", stages),
        ("hs_lead_status", "Lead Status", "enumeration", "radio", lead_statuses),
        ("hubspot_owner_id", "Contact owner", "enumeration", "select", []),
        ("createdate", "Create Date", "datetime", "date", []),
        ("lastmodifieddate", "Last Modified Date", "datetime", "date", []),
        ("hs_object_id", "Record ID", "number", "number", []),
        ("hs_merged_object_ids", "Merged Contact IDs", "string", "text", []),
        ("hs_lifecyclestage_customer_date", "Became a Customer Date", "datetime", "date", []),
        ("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox", booleans),
        ("hs_analytics_num_page_views", "Number of Pageviews", "number", "number", []),
        ("hs_analytics_num_visits", "Number of Sessions", "number", "number", []),
        ("hs_analytics_last_visit_timestamp", "Time of Last Session", "datetime", "date", []),
        ("hs_email_open", "Marketing emails opened", "number", "number", []),
        ("hs_email_click", "Marketing emails clicked", "number", "number", []),
        ("num_conversion_events", "Number of Form Submissions", "number", "number", []),
        ("recent_conversion_event_name", "Recent Conversion", "string", "text", []),
        ("recent_conversion_date", "Recent Conversion Date", "datetime", "date", []),
        ("hs_email_last_open_date", "Last marketing email open date", "datetime", "date", []),
        ("hs_email_last_click_date", "Last marketing email click date", "datetime", "date", []),
        ("hs_email_bounce", "Marketing emails bounced", "number", "number", []),
        ("notes_last_updated", "Last Activity Date", "datetime", "date", []),
        ("hs_last_sales_activity_timestamp", "Last Engagement Date", "datetime", "date", []),
    ]


def property_json(
    otype: str,
    name: str,
    label: str,
    ptype: str,
    field_type: str,
    group: str,
    options: Sequence[tuple[str, str]],
    order: int,
    now_ms: int,
    *,
    description: str = "",
    hubspot_defined: bool = False,
    read_only: bool = False,
) -> dict[str, Any]:
    """A property definition as ``GET /crm/v3/properties/{type}`` returns it (options are (value, label))."""
    return {
        "name": name,
        "label": label,
        "type": ptype,
        "fieldType": field_type,
        "groupName": group,
        "description": description,
        "options": [
            {"label": lab, "value": val, "displayOrder": i, "hidden": False} for i, (val, lab) in enumerate(options)
        ],
        "displayOrder": order,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": not read_only,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "createdAt": iso(now_ms),
        "updatedAt": iso(now_ms),
        "archived": False,
    }


def _bad_value(definition: Mapping[str, Any], value: str) -> tuple[str, str] | None:
    """(error code, message) when ``value`` does not fit the property's type or options."""
    ptype = definition.get("type")
    name = definition.get("name")
    if ptype == "number":
        try:
            float(value)
        except ValueError:
            return "INVALID_FLOAT", f"{value!r} is not a valid number for {name}"
    elif ptype in ("datetime", "date"):
        try:
            parse_ms(value)
        except BadRequest:
            return "INVALID_DATE", f"{value!r} is not a valid date for {name}"
    elif ptype == "enumeration" and definition.get("options"):
        allowed = [o["value"] for o in definition["options"]]
        values = value.split(";") if definition.get("fieldType") == "checkbox" else [value]
        if any(v not in allowed for v in values):
            return "INVALID_OPTION", f"{value} was not one of the allowed options: {allowed}"
    elif ptype == "bool" and value.lower() not in ("true", "false"):
        return "INVALID_BOOLEAN", f"{value!r} is not a valid boolean for {name}"
    return None


class Schema:
    """The property definitions and groups of each object type, stored in ``hs_properties`` / ``_groups``."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def seed(self, conn: Any) -> None:
        """The HubSpot-defined contact properties and groups, into an empty property table."""
        if conn.execute("SELECT COUNT(*) FROM hs_properties").fetchone()[0] != 0:
            return
        now = self.ctx.now_ms()
        rows = []
        for order, (name, label, ptype, field_type, options) in enumerate(_seed_contact_properties()):
            definition = property_json(
                "contacts",
                name,
                label,
                ptype,
                field_type,
                "contactinformation",
                options,
                order,
                now,
                hubspot_defined=True,
                read_only=name in READ_ONLY,
            )
            rows.append(("contacts", name, json.dumps(definition)))
        conn.executemany("INSERT INTO hs_properties VALUES (?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO hs_property_groups VALUES (?, ?, ?, ?)",
            [
                ("contacts", "contactinformation", "Contact information", 0),
                ("contacts", "analyticsinformation", "Web analytics history", 1),
            ],
        )

    def definitions(self, otype: str) -> dict[str, dict[str, Any]]:
        with self.ctx.store.read() as conn:
            rows = conn.execute("SELECT name, definition FROM hs_properties WHERE type = ?", (otype,)).fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def stage_order(self) -> dict[str, int]:
        """Each lifecyclestage option's position: a contact's stage may only move to a later one."""
        definition = self.definitions("contacts").get("lifecyclestage") or {}
        return {o["value"]: int(o.get("displayOrder", i)) for i, o in enumerate(definition.get("options") or [])}

    def validate(self, otype: str, inputs: Sequence[Mapping[str, str | None]]) -> None:
        """Whole-request validation, as HubSpot does it: unknown, read-only or badly typed values -> 400."""
        if otype != "contacts":
            return  # engagement and deal properties are free-form in the sandbox
        defs = self.definitions(otype)
        errors: list[dict[str, Any]] = []
        for props in inputs:
            for name, value in props.items():
                definition = defs.get(name)
                if definition is None:
                    errors.append(
                        {
                            "message": f'Property "{name}" does not exist',
                            "code": "PROPERTY_DOESNT_EXIST",
                            "context": {"propertyName": [name]},
                        }
                    )
                elif name in READ_ONLY:
                    errors.append(
                        {
                            "message": f'"{name}" is a read only property; its value cannot be set.',
                            "code": "READ_ONLY_VALUE",
                            "context": {"propertyName": [name]},
                        }
                    )
                elif value not in (None, ""):
                    problem = _bad_value(definition, str(value))
                    if problem:
                        errors.append({"message": problem[1], "code": problem[0], "context": {"propertyName": [name]}})
        if errors:
            raise HubSpotError(
                400, "Property values were not valid: " + "; ".join(e["message"] for e in errors), errors=errors
            )

    # -- endpoints ----------------------------------------------------------------------------------------------
    def properties_list(self, request: Request) -> Response:
        otype = request.params["type"]
        return Response(200, {"results": list(self.definitions(otype).values())})

    def properties_get(self, request: Request) -> Response:
        definition = self.definitions(request.params["type"]).get(request.params["name"])
        if definition is None:
            raise HubSpotError(404, f"Unable to find property {request.params['name']}.", "OBJECT_NOT_FOUND")
        return Response(200, definition)

    def properties_create(self, request: Request) -> Response:
        otype = request.params["type"]
        body = json_body(request)
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise HubSpotError(
                400, f"Property definition is missing {', '.join(missing)}.", context={"missing": missing}
            )
        name = str(body["name"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise HubSpotError(400, f"Invalid property name {name!r}: use lowercase letters, digits and _.")
        if body["type"] not in ("string", "number", "date", "datetime", "enumeration", "bool"):
            raise HubSpotError(400, f"Invalid property type {body['type']!r}.")
        with self.ctx.store.tx() as conn:
            if conn.execute("SELECT 1 FROM hs_properties WHERE type = ? AND name = ?", (otype, name)).fetchone():
                raise HubSpotError(
                    409, f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS", context={"name": [name]}
                )
            group = conn.execute(
                "SELECT 1 FROM hs_property_groups WHERE type = ? AND name = ?", (otype, body["groupName"])
            ).fetchone()
            if group is None:
                raise HubSpotError(
                    400,
                    f"Property group {body['groupName']!r} does not exist.",
                    context={"groupName": [str(body["groupName"])]},
                )
            order = conn.execute("SELECT COUNT(*) FROM hs_properties WHERE type = ?", (otype,)).fetchone()[0]
            options = [(str(o.get("value")), str(o.get("label") or o.get("value"))) for o in body.get("options") or []]
            definition = property_json(
                otype,
                name,
                str(body["label"]),
                str(body["type"]),
                str(body["fieldType"]),
                str(body["groupName"]),
                options,
                order,
                self.ctx.now_ms(),
                description=str(body.get("description") or ""),
            )
            conn.execute("INSERT INTO hs_properties VALUES (?, ?, ?)", (otype, name, json.dumps(definition)))
        return Response(201, definition)

    def groups_list(self, request: Request) -> Response:
        with self.ctx.store.read() as conn:
            rows = conn.execute(
                "SELECT name, label, display_order FROM hs_property_groups WHERE type = ?", (request.params["type"],)
            ).fetchall()
        return Response(
            200, {"results": [{"name": r[0], "label": r[1], "displayOrder": r[2], "archived": False} for r in rows]}
        )

    def groups_create(self, request: Request) -> Response:
        otype = request.params["type"]
        body = json_body(request)
        name, label = str(body.get("name") or ""), str(body.get("label") or "")
        if not name or not label:
            raise HubSpotError(400, "A property group needs a name and a label.")
        with self.ctx.store.tx() as conn:
            if conn.execute("SELECT 1 FROM hs_property_groups WHERE type = ? AND name = ?", (otype, name)).fetchone():
                raise HubSpotError(409, f"Property group named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
            order = int(body.get("displayOrder") or -1)
            conn.execute("INSERT INTO hs_property_groups VALUES (?, ?, ?, ?)", (otype, name, label, order))
        return Response(201, {"name": name, "label": label, "displayOrder": order, "archived": False})

    # -- test helpers -------------------------------------------------------------------------------------------
    def create_property(
        self,
        name: str,
        ptype: str = "string",
        *,
        label: str = "",
        group: str = "contactinformation",
        options: Sequence[str] = (),
    ) -> None:
        field_type = {
            "number": "number",
            "datetime": "date",
            "date": "date",
            "enumeration": "select",
            "bool": "booleancheckbox",
        }.get(ptype, "text")
        definition = property_json(
            "contacts", name, label or name, ptype, field_type, group, [(o, o) for o in options], 999, self.ctx.now_ms()
        )
        with self.ctx.store.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO hs_properties VALUES ('contacts', ?, ?)", (name, json.dumps(definition))
            )

    def set_lifecycle_stages(self, stages: Sequence[str]) -> None:
        """Replace the lifecyclestage options (custom stages), in order."""
        with self.ctx.store.tx() as conn:
            row = conn.execute(
                "SELECT definition FROM hs_properties WHERE type = 'contacts' AND name = 'lifecyclestage'"
            ).fetchone()
            definition = json.loads(row[0])
            definition["options"] = [
                {"label": s, "value": s, "displayOrder": i, "hidden": False} for i, s in enumerate(stages)
            ]
            conn.execute(
                "UPDATE hs_properties SET definition = ? WHERE type = 'contacts' AND name = 'lifecyclestage'",
                (json.dumps(definition),),
            )
