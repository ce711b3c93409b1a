"""Clean copies of bad records, so scoring never raises on data.

The engine's fast path assumes well-formed records.  When it meets anything else (a naive or missing
timestamp, ``fields`` that is not a mapping, an attribute value of an odd type, duplicate activity ids,
an object that is not an Activity at all), it scores sanitized copies made here instead, and each repair
becomes a warning on the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.records import Activity, Contact

from .conditions import to_text
from .numbers import parse_datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def text_id(value: Any) -> str:
    if isinstance(value, str):
        return value
    return to_text(value) or ""


def _clean_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if value != value else value
    return to_text(value)


def _clean_mapping(raw: Any, what: str, warnings: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        warnings.append(f"{what} is not a mapping ({type(raw).__name__}); ignored")
        return {}
    try:
        items = list(raw.items())
    except Exception:  # a broken mapping reads as empty
        warnings.append(f"{what} could not be read; ignored")
        return {}
    clean: dict[str, Any] = {}
    for key, value in items:
        name = key if isinstance(key, str) else (to_text(key) or "")
        cleaned = _clean_value(value)
        if cleaned is not value and value is not None:
            warnings.append(f"{what} {name[:40]!r}: {type(value).__name__} value read as text")
        clean[name] = cleaned
    return clean


def _occurred(activity: Any, label: str, warnings: list[str]) -> datetime | None:
    occurred = getattr(activity, "occurred_at", None)
    when: datetime | None
    if isinstance(occurred, datetime):
        when = occurred
        if occurred.tzinfo is None or occurred.utcoffset() is None:
            when = occurred.replace(tzinfo=UTC)
            warnings.append(f"activity {label}: naive occurred_at taken as UTC")
    else:
        when = parse_datetime(occurred)
        if when is None:
            warnings.append(f"activity {label}: occurred_at {str(occurred)[:40]!r} unreadable; ignored")
            return None
        warnings.append(f"activity {label}: occurred_at was not a datetime; read as {when.isoformat()}")
    try:
        when.timestamp()
    except (OverflowError, ValueError, OSError):
        warnings.append(f"activity {label}: occurred_at out of range; ignored")
        return None
    return when


def sanitize(contact: Any, activities: Any) -> tuple[Contact, list[Activity], list[str]]:
    """Well-formed copies of a contact and its activities, and a warning for each repair."""
    warnings: list[str] = []
    contact_id = text_id(getattr(contact, "id", ""))
    fields = _clean_mapping(getattr(contact, "fields", None), "field", warnings)
    updated = getattr(contact, "updated_at", None)
    clean_contact = Contact(
        id=contact_id,
        updated_at=updated if isinstance(updated, datetime) and updated.tzinfo is not None else _EPOCH,
        fields=fields,
    )
    clean: list[Activity] = []
    seen: set[str] = set()
    try:
        items = list(activities) if activities is not None else []
    except Exception:  # an unreadable activity list scores as no activities
        warnings.append("activities could not be read; scored without them")
        items = []
    for index, activity in enumerate(items):
        raw_id = getattr(activity, "id", None)
        activity_id = text_id(raw_id) if raw_id is not None else ""
        label = activity_id or f"#{index}"
        raw_type = getattr(activity, "type", None)
        if not isinstance(raw_type, str) or not raw_type:
            warnings.append(f"activity {label}: no type; ignored")
            continue
        when = _occurred(activity, label, warnings)
        if when is None:
            continue
        activity_id = activity_id or f"#{index}"
        if activity_id in seen:
            warnings.append(f"activity {activity_id}: duplicate id; counted once")
            continue
        seen.add(activity_id)
        attributes = _clean_mapping(getattr(activity, "attributes", None), f"activity {label} attribute", warnings)
        clean.append(
            Activity(
                id=activity_id,
                contact_id=contact_id,
                type=str(raw_type),
                occurred_at=when,
                attributes=attributes,
                source_type=text_id(getattr(activity, "source_type", "")),
            )
        )
    return clean_contact, clean, warnings
