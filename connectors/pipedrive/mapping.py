"""Pipedrive JSON <-> leadsync values: person fields by name, their values both ways, activities' person and time.

Pipedrive addresses custom fields by random 40-char codes that differ per company; users know them by name.
``FieldRegistry`` is built from ``GET /api/v2/personFields`` (or the cache of it) and finds a field by code,
exact name, case-insensitive name, or slug ("Lead score" ~ "lead_score").
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
# lists of {value, primary, label}; leadsync reads/writes the primary one.  Field code -> v2 person property.
CONTACT_KEYS = {"email": "emails", "phone": "phones", "emails": "emails", "phones": "phones"}


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
        """From a v2 field definition (``field_code``, ``field_name``, ``is_custom_field``)."""
        # option ids are integers; a system field whose values are words (marketing_status) is read as text
        options = {int(o["id"]): str(o.get("label", "")) for o in data.get("options") or () if _int_id(o.get("id"))}
        code = str(data["field_code"])
        name, kind = str(data.get("field_name") or code), str(data.get("field_type", ""))
        return cls(code, name, kind, bool(data.get("is_custom_field")), options)

    def to_json(self) -> dict[str, Any]:
        """The v2 shape ``from_json`` reads (what the fields cache keeps)."""
        options = [{"id": i, "label": label} for i, label in self.options.items()] or None
        return {"field_code": self.key, "field_name": self.name, "field_type": self.field_type,
                "is_custom_field": self.custom, "options": options}  # fmt: skip

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


def _int_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


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
        value = raw["id"] if isinstance(raw, dict) else raw
        if not _int_id(value):
            return _text(value)  # marketing_status: "subscribed", "no_consent"...
        return person_field.options.get(int(value), str(int(value)))
    if kind == "set" or person_field.key == "label_ids":
        items = raw if isinstance(raw, list) else str(raw).split(",")
        ids = [int(i["id"] if isinstance(i, dict) else i) for i in items if str(i).strip()]
        return ",".join(person_field.options.get(i, str(i)) for i in ids) or None
    if kind in ("user", "org", "people"):
        ref = raw.get("value", raw.get("id")) if isinstance(raw, dict) else raw
        return None if ref is None else str(ref)
    return _text(raw)


def encode(person_field: PersonField, value: FieldValue | datetime | date) -> Any:
    """A value for ``PATCH /api/v2/persons/{id}`` (v2 takes exact types); ValueError says what is wrong.

    ``None`` clears a field (a ``set`` too: v2 refuses ``[]`` there); emails and phones clear to ``[]``.
    """
    kind, key = person_field.field_type, person_field.key
    if key in CONTACT_KEYS:
        return [{"value": str(value), "primary": True, "label": "work"}] if value not in (None, "") else []
    if key == "label_ids":
        return [person_field.option_id(v) for v in str(value or "").split(",") if v.strip()]
    if value is None or value == "":
        return None
    if key in ("owner_id", "org_id", "visible_to") or kind in ("user", "org", "people"):
        try:
            return int(str(value))
        except ValueError:
            raise ValueError(f"The Pipedrive field '{person_field.name}' takes an ID, got {value!r}") from None
    if kind == "enum":
        return person_field.option_id(value)
    if kind == "set":
        return [person_field.option_id(v) for v in str(value).split(",") if v.strip()] or None
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
    """When the activity happened: its due date and time (UTC, v2 ``HH:MM:SS``), else when it was done or added."""
    if raw.get("due_date"):
        due_time = raw.get("due_time") or "00:00:00"
        try:
            if not re.fullmatch(r"\d\d:\d\d:\d\d", due_time):
                raise ValueError(due_time)
            return parse_time(f"{raw['due_date']}T{due_time}")
        except (TypeError, ValueError):  # an impossible due date or time (users type them): when done or added
            pass
    return parse_time(raw.get("marked_as_done_time") or raw["add_time"])


def patch_body(
    values: Mapping[str, FieldValue],
    registry: FieldRegistry,
    field_map: Mapping[str, str],
    spec_keys: Mapping[str, str],
) -> dict[str, Any]:
    """The v2 ``PATCH /persons/{id}`` body: standard properties at the top, custom fields inside ``custom_fields``
    (``spec_keys``: the hash keys of fields leadsync created, found by key rather than by name)."""
    body: dict[str, Any] = {}
    for name, value in values.items():
        crm_name = field_map.get(name, name)
        key = spec_keys.get(name)
        person_field = registry.by_key(key) if key else registry.find(crm_name)
        if crm_name == ORG_NAME:
            raise ValueError("the company is the Pipedrive organization's name, which leadsync does not rename")
        if person_field is None:
            raise ValueError(f"Pipedrive has no person field named '{crm_name}' (check field_map or create it)")
        encoded = encode(person_field, value)
        if person_field.custom:
            body.setdefault("custom_fields", {})[person_field.key] = encoded
        else:
            body[CONTACT_KEYS.get(person_field.key, person_field.key)] = encoded
    return body
