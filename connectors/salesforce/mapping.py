"""Salesforce records (as the REST query returns them) -> leadsync's normalized records, and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.records import Activity, ActivityType, Contact, FieldValue
from connectors.salesforce.cursor import parse_sf_datetime

ID_PREFIXES = {"00Q": "Lead", "003": "Contact"}
ACTIVITY_OBJECTS = ("Task", "Event", "CampaignMember")

# What leadsync reads on every activity object, besides the cursor's Id and SystemModstamp.
ACTIVITY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Task": ("WhoId", "Subject", "Type", "TaskSubtype", "Status", "ActivityDate", "CompletedDateTime", "CreatedDate"),
    "Event": ("WhoId", "Subject", "Type", "StartDateTime", "EndDateTime", "CreatedDate"),
    "CampaignMember": (
        "LeadId",
        "ContactId",
        "Status",
        "HasResponded",
        "FirstRespondedDate",
        "CreatedDate",
        "CampaignId",
        "Campaign.Name",
        "Campaign.Type",
    ),
}


def sobject_of(record_id: str) -> str | None:
    return ID_PREFIXES.get(record_id[:3])


def quote(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def path_value(record: Mapping[str, Any], path: str) -> Any:
    """``Account.Name`` -> record["Account"]["Name"], None when the relationship is empty."""
    if "." not in path:
        return record.get(path)
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def select_list(names: Sequence[str]) -> str:
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return ", ".join(out)


def contact_fields(sobject: str, field_map: Mapping[str, str], extra: Sequence[str]) -> list[str]:
    names = ["Id", "SystemModstamp", *field_map.values(), *extra]
    if sobject == "Lead":
        names += ["IsConverted", "ConvertedContactId"]
    return names


def to_datetime(value: Any) -> datetime | None:
    """Salesforce datetime or date text -> aware UTC datetime."""
    if not value or not isinstance(value, str):
        return None
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return parse_sf_datetime(value).astimezone(UTC)


def _field_value(value: Any) -> FieldValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def to_contact(record: Mapping[str, Any], sobject: str, field_map: Mapping[str, str], extra: Sequence[str]) -> Contact:
    fields: dict[str, FieldValue] = {}
    for canonical, name in field_map.items():
        value = path_value(record, name)
        if canonical == "created_at" and isinstance(value, str):
            try:
                created = to_datetime(value)
            except ValueError:  # unreadable: passed on as it is, for scoring to skip with a warning
                created = None
            value = created.isoformat() if created else value
        fields[canonical] = _field_value(value)
    for name in extra:
        fields[name] = _field_value(path_value(record, name))
    stamp = to_datetime(record["SystemModstamp"])
    assert stamp is not None
    return Contact(
        id=str(record["Id"]),
        updated_at=stamp,
        fields=fields,
        object_type=sobject.lower(),
        protected=bool(sobject == "Lead" and record.get("IsConverted")),
    )


_LOWERED: dict[int, tuple[Mapping[str, str], dict[str, str]]] = {}


def _lowered(type_map: Mapping[str, str]) -> dict[str, str]:
    cached = _LOWERED.get(id(type_map))
    if cached is None or cached[0] is not type_map:
        cached = (type_map, {k.lower(): v for k, v in type_map.items()})
        _LOWERED[id(type_map)] = cached
    return cached[1]


def activity_type(sobject: str, record: Mapping[str, Any], type_map: Mapping[str, str]) -> tuple[str, str]:
    """(canonical type, the CRM's own name for it) following the lookup order of DEFAULT_ACTIVITY_TYPE_MAP."""
    lowered = _lowered(type_map)
    candidates: list[str] = []
    if sobject == "Task":
        subject = str(record.get("Subject") or "")
        candidates.append(subject.split(":", 1)[0].strip())  # the label ("Email Opened: ...", "Page View")
        candidates += [str(record.get("TaskSubtype") or ""), str(record.get("Type") or "")]
    elif sobject == "Event":
        candidates += [str(record.get("Type") or ""), "Event"]
    else:
        campaign_type = str(path_value(record, "Campaign.Type") or "")
        candidates += [f"{campaign_type}/{record.get('Status') or ''}", campaign_type, "CampaignMember"]
    for candidate in candidates:
        if candidate and candidate.lower() in lowered:
            return lowered[candidate.lower()], candidate
    return ActivityType.OTHER.value, next((c for c in candidates if c), sobject)


def occurred_at(sobject: str, record: Mapping[str, Any]) -> datetime:
    names: tuple[str, ...]
    if sobject == "Task":
        names = ("CompletedDateTime", "ActivityDate", "CreatedDate")
    elif sobject == "Event":
        names = ("StartDateTime", "CreatedDate")
    else:
        names = ("CreatedDate", "FirstRespondedDate")
    for name in names:
        value = to_datetime(record.get(name))
        if value is not None:
            return value
    stamp = to_datetime(record.get("SystemModstamp"))
    return stamp or datetime.fromtimestamp(0, UTC)


def to_activity(sobject: str, record: Mapping[str, Any], contact_id: str, type_map: Mapping[str, str]) -> Activity:
    canonical, source = activity_type(sobject, record, type_map)
    if sobject == "CampaignMember":
        attributes: dict[str, FieldValue] = {
            "campaign_id": _field_value(record.get("CampaignId")),
            "campaign": _field_value(path_value(record, "Campaign.Name")),
            "campaign_type": _field_value(path_value(record, "Campaign.Type")),
            "status": _field_value(record.get("Status")),
            "has_responded": _field_value(record.get("HasResponded")),
        }
    else:
        attributes = {
            "subject": _field_value(record.get("Subject")),
            "type": _field_value(record.get("Type")),
            "sobject": sobject,
        }
        if sobject == "Task":
            attributes["task_subtype"] = _field_value(record.get("TaskSubtype"))
            attributes["status"] = _field_value(record.get("Status"))
    return Activity(
        id=str(record["Id"]),
        contact_id=contact_id,
        type=canonical,
        occurred_at=occurred_at(sobject, record),
        attributes=attributes,
        source_type=f"{sobject}:{source}",
    )
