"""Pipedrive JSON <-> leadsync values: person fields by name, their values both ways, activities' person and time.

Pipedrive addresses custom fields by random hash keys that differ per company; users know them by name.
``FieldRegistry`` is built from one ``GET /api/v1/personFields`` and finds a field by key, exact name,
case-insensitive name, or slug ("Lead score" ~ "lead_score").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from connectors.pipedrive.cursor import parse_time
from connectors.records import FieldValue

ORG_NAME = "org_name"  # pseudo field: the name of the person's organization
CONTACT_KEYS = ("email", "phone")  # lists of {value, primary, label}; leadsync reads/writes the primary one


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True, slots=True)
class PersonField:
    key: str
    name: str
    field_type: str
    custom: bool
    options: Mapping[int, str] = field(default_factory=dict)  # option id -> label (enum, set, labels)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PersonField:
        options = {int(o["id"]): str(o.get("label", "")) for o in data.get("options") or () if "id" in o}
        # edit_flag marks custom fields; their keys are the 40-char hashes
        return cls(
            str(data["key"]),
            str(data.get("name") or data["key"]),
            str(data.get("field_type", "")),
            bool(data.get("edit_flag")),
            options,
        )

    def option_id(self, label: Any) -> int:
        """The option id for a label (or an id given as such); ValueError names the valid options."""
        text = str(label).strip()
        for option_id, option_label in self.options.items():
            if option_label == text or option_label.lower() == text.lower() or str(option_id) == text:
                return option_id
        valid = ", ".join(self.options.values()) or "none"
        raise ValueError(f"{label!r} is not an option of the Pipedrive field '{self.name}' (options: {valid})")


class FieldRegistry:
    def __init__(self, fields: Iterable[PersonField]):
        self.fields: list[PersonField] = []
        self._by_key: dict[str, PersonField] = {}
        for f in fields:
            self.add(f)

    def add(self, person_field: PersonField) -> None:
        self.fields.append(person_field)
        self._by_key[person_field.key] = person_field

    def by_key(self, key: str) -> PersonField | None:
        return self._by_key.get(key)

    def find(self, name: str) -> PersonField | None:
        """By key, then exact name, then case-insensitive name, then slug; custom fields win ties."""
        if hit := self._by_key.get(name):
            return hit
        ordered = sorted(self.fields, key=lambda f: not f.custom)
        for same in (
            lambda f: f.name == name,
            lambda f: f.name.lower() == name.lower(),
            lambda f: slug(f.name) == slug(name),
        ):
            if hit := next((f for f in ordered if same(f)), None):
                return hit
        return None


def _text(value: Any) -> FieldValue:
    if isinstance(value, dict):  # address, monetary, time ranges: {"value": ..., ...}
        value = value.get("value")
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def decode(person_field: PersonField, raw: Any) -> FieldValue:
    """A v2 value as leadsync sees it: option ids become labels, ids become strings."""
    if raw is None:
        return None
    kind = person_field.field_type
    if kind == "enum":
        ident = int(raw["id"] if isinstance(raw, dict) else raw)
        return person_field.options.get(ident, str(ident))
    if kind == "set" or person_field.key == "label_ids":
        items = raw if isinstance(raw, list) else str(raw).split(",")
        ids = [int(i["id"] if isinstance(i, dict) else i) for i in items if str(i).strip()]
        return ",".join(person_field.options.get(i, str(i)) for i in ids) or None
    if kind in ("user", "org", "people"):
        ref = raw.get("value", raw.get("id")) if isinstance(raw, dict) else raw
        return None if ref is None else str(ref)
    return _text(raw)


def encode(person_field: PersonField, value: FieldValue | datetime | date) -> Any:
    """A value for ``PUT /api/v1/persons/{id}`` (v1: top-level hash keys); ValueError says what is wrong."""
    if value is None or value == "":
        return None  # clears the field
    kind, key = person_field.field_type, person_field.key
    if key in CONTACT_KEYS:
        return [{"value": str(value), "primary": True, "label": "work"}]
    if key in ("owner_id", "org_id", "visible_to") or kind in ("user", "org", "people"):
        try:
            return int(str(value))
        except ValueError:
            raise ValueError(f"The Pipedrive field '{person_field.name}' takes an ID, got {value!r}") from None
    if key == "label_ids":
        return [person_field.option_id(v) for v in str(value).split(",") if v.strip()]
    if kind == "enum":
        return person_field.option_id(value)
    if kind == "set":
        return ",".join(str(person_field.option_id(v)) for v in str(value).split(",") if v.strip())
    if kind in ("double", "monetary"):
        try:
            if isinstance(value, bool):
                raise TypeError
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"The Pipedrive field '{person_field.name}' takes a number, got {value!r}") from None
    if kind == "date":
        return value.date().isoformat() if isinstance(value, datetime) else str(value)[:10]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- activities ------------------------------------------------------------------------------------------
def activity_person_id(raw: Mapping[str, Any]) -> int | None:
    """The person an activity is about: its ``person_id``, else its primary participant."""
    if raw.get("person_id"):
        return int(raw["person_id"])
    primary = [p for p in raw.get("participants") or () if p.get("person_id")]
    primary.sort(key=lambda p: not p.get("primary"))
    return int(primary[0]["person_id"]) if primary else None


def activity_time(raw: Mapping[str, Any]) -> datetime:
    """When the activity happened: its due date and time (UTC), else when it was done or added."""
    if raw.get("due_date"):
        try:
            return parse_time(f"{raw['due_date']}T{raw.get('due_time') or '00:00'}:00")
        except ValueError:  # an impossible due date or time (users type them): when it was done or added
            pass
    return parse_time(raw.get("marked_as_done_time") or raw["add_time"])
