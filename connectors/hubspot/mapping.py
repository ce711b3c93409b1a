"""HubSpot objects -> leadsync records (pure functions over the generated client's models)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.hubspot.config import BOOL_PROPERTIES, NUMBER_PROPERTIES
from connectors.records import Activity, ActivityType, Contact, FieldValue

# Engagement properties read per type (hs_timestamp is when the activity happened).
ENGAGEMENT_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "emails": (
        "hs_timestamp",
        "hs_email_direction",
        "hs_email_status",
        "hs_email_subject",
        "hs_email_open_count",
        "hs_email_click_count",
    ),
    "meetings": ("hs_timestamp", "hs_meeting_title", "hs_meeting_outcome", "hs_meeting_start_time"),
    "calls": ("hs_timestamp", "hs_call_title", "hs_call_direction", "hs_call_status", "hs_call_duration"),
    "notes": ("hs_timestamp", "hs_note_body"),
    "tasks": ("hs_timestamp", "hs_task_subject", "hs_task_status", "hs_task_type"),
}
_CANONICAL = {t.value for t in ActivityType}

# FieldSpec.type -> (HubSpot property type, fieldType)
PROPERTY_TYPES = {
    "number": ("number", "number"),
    "string": ("string", "text"),
    "datetime": ("datetime", "date"),
    "date": ("date", "date"),
    "enumeration": ("enumeration", "select"),
    "multiselect": ("enumeration", "checkbox"),  # multiple checkboxes: values joined by ";"
    "bool": ("bool", "booleancheckbox"),
}


def prop_value(value: FieldValue) -> str:
    if value is None:
        return ""  # HubSpot clears a property with "", not null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_time(value: Any) -> datetime | None:
    """HubSpot timestamps: ISO 8601 (``2024-01-02T03:04:05.678Z``) or epoch milliseconds; aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def coerce(name: str, value: Any) -> FieldValue:
    """HubSpot sends every property value as a string; numbers and booleans become numbers and booleans."""
    if value is None or value == "":
        return None
    if name in NUMBER_PROPERTIES:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return int(number) if number.is_integer() else number
    if name in BOOL_PROPERTIES:
        return str(value).lower() == "true"
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def contact_properties(field_map: Mapping[str, str], extra_fields: Sequence[str]) -> list[str]:
    """Every contact property the adapter asks for, in a stable order."""
    names = [*field_map.values(), *extra_fields, "lastmodifieddate", "createdate", "hs_merged_object_ids"]
    return list(dict.fromkeys(n for n in names if n))


def to_contact(obj: Any, field_map: Mapping[str, str], extra_fields: Sequence[str]) -> Contact:
    props: Mapping[str, Any] = obj.properties or {}
    fields: dict[str, FieldValue] = {canonical: coerce(name, props.get(name)) for canonical, name in field_map.items()}
    for name in extra_fields:
        fields.setdefault(name, coerce(name, props.get(name)))
    updated = parse_time(props.get("lastmodifieddate")) or parse_time(obj.updated_at) or datetime.fromtimestamp(0, UTC)
    merged = tuple(p for p in str(props.get("hs_merged_object_ids") or "").split(";") if p)
    return Contact(id=str(obj.id), updated_at=updated, fields=fields, merged_from=merged)


def contact_key(contact: Contact) -> tuple[int, int]:
    """The incremental cursor's order: (lastmodifieddate in ms, numeric id)."""
    return to_ms(contact.updated_at), int(contact.id)


# -- activities ----------------------------------------------------------------------------------------------
def _count(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError):
        return 0


def source_type(etype: str, props: Mapping[str, Any]) -> tuple[str, dict[str, FieldValue]]:
    """The engagement's source type (see ``DEFAULT_ACTIVITY_TYPE_MAP``) and its attributes."""
    attrs: dict[str, FieldValue] = {}
    if etype == "emails":
        status = str(props.get("hs_email_status") or "").upper()
        direction = str(props.get("hs_email_direction") or "EMAIL").upper()
        attrs["subject"] = props.get("hs_email_subject") or ""
        if status in ("BOUNCED", "FAILED"):
            kind = "BOUNCED"
        elif direction != "EMAIL":
            kind = direction
        elif _count(props.get("hs_email_click_count")):
            kind = "CLICKED"
        elif _count(props.get("hs_email_open_count")):
            kind = "OPENED"
        else:
            kind = "SENT"
        return f"EMAIL:{kind}", attrs
    if etype == "meetings":
        attrs["subject"] = props.get("hs_meeting_title") or ""
        return f"MEETING:{str(props.get('hs_meeting_outcome') or 'COMPLETED').upper()}", attrs
    if etype == "calls":
        attrs["subject"] = props.get("hs_call_title") or ""
        if props.get("hs_call_duration"):
            attrs["duration_ms"] = _count(props.get("hs_call_duration"))
        return f"CALL:{str(props.get('hs_call_status') or 'COMPLETED').upper()}", attrs
    if etype == "tasks":
        attrs["subject"] = props.get("hs_task_subject") or ""
        return f"TASK:{str(props.get('hs_task_type') or 'TODO').upper()}", attrs
    # a note is a note: HubSpot labels no note by the behaviour it records (that lives in its own APIs)
    body = str(props.get("hs_note_body") or "")
    attrs["subject"] = body.partition("\n")[0].strip()
    return "NOTE", attrs


def canonical_type(source: str, activity_map: Mapping[str, str]) -> str:
    upper = {k.upper(): v for k, v in activity_map.items()}
    for key in (source.upper(), source.split(":", 1)[0].upper()):
        if key in upper:
            value = upper[key]
            return value if value in _CANONICAL else ActivityType.OTHER.value
    return ActivityType.OTHER.value


def to_activities(etype: str, obj: Any, contact_ids: Sequence[str], activity_map: Mapping[str, str]) -> list[Activity]:
    props: Mapping[str, Any] = obj.properties or {}
    source, attrs = source_type(etype, props)
    kind = canonical_type(source, activity_map)
    occurred = parse_time(props.get("hs_timestamp")) or parse_time(obj.created_at) or datetime.fromtimestamp(0, UTC)
    return [
        Activity(id=str(obj.id), contact_id=cid, type=kind, occurred_at=occurred, attributes=attrs, source_type=source)
        for cid in contact_ids
    ]
