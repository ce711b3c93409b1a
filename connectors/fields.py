"""The contact object's fields as a CRM describes them (``CRMAdapter.contact_field_names``), and how the model's
fields join an adapter's field map.

A model reads fields under its own names; ``model_fields`` maps each to the CRM's name for it (the same name
unless the model file's ``fields.read`` block says otherwise).  Adapters read them besides their defaults.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SchemaField:
    """One field of the contact object: the name a read asks for, the label people see, the CRM's type."""

    name: str
    label: str = ""
    type: str = ""
    aliases: tuple[str, ...] = ()  # other names the adapter reads it by (Pipedrive: hash key, name slug)
    options: tuple[str, ...] = ()  # a picklist's values (active ones), for `check`'s lifecycle values


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """The fields of one contact object (HubSpot contact, Salesforce Lead or Contact, Pipedrive person), and
    the adapter's field map (canonical or model name -> CRM name) that says where it reads each name from."""

    object_type: str
    fields: tuple[SchemaField, ...]
    field_map: Mapping[str, str] = field(default_factory=dict)
    case_sensitive: bool = True  # Salesforce API names are not

    def crm_name(self, name: str) -> str:
        """Where the adapter reads ``name`` (a canonical or model field name) from."""
        return self.field_map.get(name, name)

    def _key(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def find(self, crm_name: str) -> SchemaField | None:
        """The field the adapter reads for ``crm_name``: by name, then by alias."""
        wanted = self._key(crm_name)
        for schema_field in self.fields:
            if self._key(schema_field.name) == wanted or wanted in {self._key(a) for a in schema_field.aliases}:
                return schema_field
        return None

    def suggest(self, crm_name: str) -> str | None:
        """The closest field name (or label, for a name close to one) to a name this object lacks."""
        by_text: dict[str, str] = {}
        for schema_field in self.fields:
            by_text.setdefault(schema_field.name.lower(), schema_field.name)
            if schema_field.label:
                by_text.setdefault(schema_field.label.lower(), schema_field.name)
        close = difflib.get_close_matches(crm_name.lower(), list(by_text), n=1, cutoff=0.6)
        return by_text[close[0]] if close else None


def split_model_fields(
    field_map: Mapping[str, str], model_fields: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The adapter's field map with the model's renamed fields added, and the model fields read under their
    own names (the extra fields); canonical fields the map already reads are left as they are."""
    merged = dict(field_map)
    extra: list[str] = []
    for name, crm_name in model_fields.items():
        if crm_name != name:
            merged[name] = crm_name
        elif name not in merged:
            extra.append(name)
    return merged, extra
