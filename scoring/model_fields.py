"""The contact fields a model reads, and where in the file each one is read.  Pure: no I/O.

The sync asks the CRM for exactly these fields (besides its own), and ``leadsync check`` looks each one up
in the CRM's schema.  Only contact fields count: ``where:`` tests (engagement rules, tiers) test an
activity's attributes, which come with the activity, and the matrix is built from fit and engagement.
Not compiled with mypyc (see ``_native.py``): it runs once per model, not once per contact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .model import Condition, Model
from .segment_lang import SCORE_NAMES, Test, parse_segment, walk

# The path of a key in the model file, as ``LineMap.line`` takes it: ("fit", "rules", 0, "when", "field").
FilePath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class FieldUse:
    """One place the model reads a contact field: the field, the rule, and the key's path in the file."""

    field: str
    rule: str
    path: FilePath


def _condition_uses(condition: Condition, rule: str, path: FilePath) -> Iterator[FieldUse]:
    op = condition.operator
    if op in ("all", "any"):
        for i, child in enumerate(condition._value(op)):
            yield from _condition_uses(child, rule, (*path, op, i))
    elif op == "not":
        assert condition.not_ is not None
        yield from _condition_uses(condition.not_, rule, (*path, "not"))
    elif op == "free_mail":
        yield FieldUse("email", rule, (*path, "free_mail"))
    elif condition.field is not None:
        # email_domain is computed from email (see conditions.py)
        name = "email" if condition.field == "email_domain" else condition.field
        yield FieldUse(name, rule, (*path, "field"))


def field_uses(model: Model) -> list[FieldUse]:
    """Every read of a contact field, in file order: fit, property and negative ``when:`` tests, the
    ``created_at`` that inactivity rules give new contacts their grace period from, and segment tests."""
    uses: list[FieldUse] = []
    sections = (("fit", model.fit.rules), ("properties", model.properties.rules), ("negative", model.negative.rules))
    for section, rules in sections:
        for i, rule in enumerate(rules):
            path: FilePath = (section, "rules", i)
            when = getattr(rule, "when", None)
            if when is not None:
                uses.extend(_condition_uses(when, rule.id, (*path, "when")))
            elif getattr(rule, "inactive_days", None) is not None:
                uses.append(FieldUse("created_at", rule.id, (*path, "inactive_days")))
    for name, spec in model.segments.items():
        segment = f"segment {name}"
        if isinstance(spec, Condition):
            found = _condition_uses(spec, segment, ("segments", name))
        else:
            found = (
                FieldUse("email" if test.name == "email_domain" else test.name, segment, ("segments", name))
                for test in walk(parse_segment(name, spec))
                if isinstance(test, Test)
            )
        uses.extend(use for use in found if use.field not in SCORE_NAMES)  # score names are the engine's own
    return uses


def contact_fields(model: Model) -> tuple[str, ...]:
    """The contact fields the model reads, each once, in file order."""
    return tuple(dict.fromkeys(use.field for use in field_uses(model)))
