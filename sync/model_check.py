"""``leadsync check``'s look at the model's fields: each field the model and its policies read, looked up in
the CRM's schema under the CRM's name for it; the missing or misspelled ones, one sentence each."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence

from connectors.fields import FieldSchema
from connectors.registry import crm_info
from scoring import Model
from scoring.model_fields import FieldUse, field_uses
from sync.policies import FieldsConfig, Policies, policy_field_uses, read_names


def model_field_uses(model: Model, policies: Policies, crm: str) -> list[FieldUse]:
    """Every contact field the model's rules and the policies read, in file order."""
    return [*field_uses(model), *policy_field_uses(policies, crm)]


def model_read_fields(model: Model, fields: FieldsConfig, policies: Policies, crm: str) -> dict[str, str]:
    """Model field name -> the CRM's name for it: what the adapter must read for the model to score."""
    return read_names(fields, crm, [use.field for use in model_field_uses(model, policies, crm)])


def missing_field_lines(
    schemas: Sequence[FieldSchema],
    uses: Sequence[FieldUse],
    names: Mapping[str, str],
    source: str,
    line_of: Callable[[tuple[str | int, ...]], int | None],
    crm: str,
) -> list[str]:
    """One sentence per model field the CRM lacks, with where the model reads it and a did-you-mean."""
    label = crm_info(crm).label
    first_use: dict[str, FieldUse] = {}
    for use in uses:
        if use.field in names:  # a field mapped to false under fields.read is absent from this CRM on purpose
            first_use.setdefault(use.field, use)
    for name in names:
        first_use.setdefault(name, FieldUse(name, "fields.read", ("fields", "read", name)))
    lines: list[str] = []
    for name, use in first_use.items():
        renamed = names.get(name, name) != name
        lacking: list[str] = []
        hint: str | None = None
        crm_name = name
        for schema in schemas:
            crm_name = names[name] if renamed else schema.crm_name(name)
            if "." in crm_name or schema.find(crm_name) is not None:
                continue  # a related record's field (Account.Industry) is not in this object's schema
            lacking.append(schema.object_type)
            hint = hint or schema.suggest(crm_name)
        if not lacking:
            continue
        line = line_of(use.path)
        where = f"{source}:{line}" if line else source
        shown = f"'{name}'" if crm_name == name else f"'{name}' (read from '{crm_name}')"
        objects = " and ".join(lacking)
        advice = (
            f"did you mean '{hint}'?"
            if hint
            else f"create it in {label} or map the model's name to an existing field under fields.read."
        )
        lines.append(f"{where}: {use.rule} reads {shown}, which the {label} {objects} object does not have; {advice}")
    return lines


def lifecycle_value_lines(schemas: Sequence[FieldSchema], policies: Policies, crm: str) -> list[str]:
    """One sentence per configured lifecycle value that the CRM's picklist for the stage field lacks (a write
    of it would fail on a restricted picklist, or add a value nobody's reports know)."""
    life = policies.lifecycle
    stages = life.stages.get(crm, {})
    if not life.enabled or not stages:
        return []
    label = crm_info(crm).label
    lines: list[str] = []
    for schema in schemas:
        crm_name = schema.crm_name(life.field.get(crm, "lifecycle_stage"))
        found = schema.find(crm_name)
        if found is None or not found.options:
            continue  # a missing field is reported above; a text field takes any value
        for stage, value in stages.items():
            if value in found.options:
                continue
            close = difflib.get_close_matches(value, list(found.options), n=1, cutoff=0.6)
            advice = f"did you mean '{close[0]}'?" if close else f"its values are {', '.join(found.options)}."
            lines.append(
                f"policies.lifecycle.stages.{crm}.{stage}: '{value}' is not a value of the {label} "
                f"{schema.object_type} field '{found.name}'; add it to the picklist in {label} or set "
                f"another value; {advice}"
            )
    return lines
