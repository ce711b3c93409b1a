"""Recorded vendor answers (``fixtures/<crm>/``, sources in each ``SOURCES.md``) and a recursive shape comparer.

``shape_diff(vendor, ours)`` lists where ``ours`` (a sandbox answer) differs in shape from ``vendor``: keys
missing or extra, JSON types, a ``null`` where the vendor has a value, and the format of date/time strings
(an ``HH:MM`` where the vendor sends ``HH:MM:SS``).  Values themselves never matter.  Paths read like
``$.data[].emails[].label``; every accepted difference is listed by kind and path with its reason, and
``free`` lists objects whose keys are data (custom fields, a record's columns), compared by value type only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# String formats worth pinning: a sandbox that serves another one breaks a parser written against the vendor.
_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("datetime+0000", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")),  # Salesforce
    ("datetime-rfc3339", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")),
    ("datetime-space", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")),  # Pipedrive v1
    ("date", re.compile(r"^\d{4}-\d\d-\d\d$")),
    ("time-hh:mm:ss", re.compile(r"^\d\d:\d\d:\d\d$")),
    ("time-hh:mm", re.compile(r"^\d\d:\d\d$")),
)


def load(crm: str, name: str) -> Any:
    """A recorded vendor answer, decoded."""
    return json.loads((FIXTURES / crm / f"{name}.json").read_text(encoding="utf-8"))


def raw(crm: str, name: str) -> str:
    """A recorded vendor answer as the bytes the vendor sent (as text)."""
    return (FIXTURES / crm / f"{name}.json").read_text(encoding="utf-8")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def string_format(value: str) -> str | None:
    return next((name for name, pattern in _FORMATS if pattern.match(value)), None)


def shape_diff(
    vendor: Any,
    ours: Any,
    *,
    allow: Mapping[str, str] | None = None,
    free: frozenset[str] = frozenset(),
    path: str = "$",
) -> list[str]:
    """Shape differences of ``ours`` against ``vendor``, one sentence each; ``[]`` when they agree.

    ``allow`` keys are ``"<kind>:<path>"`` with kind ``missing`` (ours may leave the key out), ``null`` (ours may
    send null), ``extra`` (ours may add the key) or ``format`` (ours may use another string format); each
    value is the reason.
    """
    allow = allow or {}
    vt, ot = json_type(vendor), json_type(ours)
    if vt == "null":  # the vendor's example shows no value: any type (or null) is consistent with it
        return []
    if ot == "null":
        return [] if f"null:{path}" in allow else [f"{path}: null where the vendor sends a {vt}"]
    if vt != ot:
        return [f"{path}: {ot} where the vendor sends a {vt}"]
    if vt == "string":
        want, got = string_format(vendor), string_format(ours)
        if want is not None and got != want and f"format:{path}" not in allow:
            return [f"{path}: {ours!r} is not in the vendor's {want} format (vendor: {vendor!r})"]
        return []
    if vt == "array":
        if not vendor:  # an empty example pins no item shape
            return []
        out: list[str] = []
        for item in ours:
            out += shape_diff(vendor[0], item, allow=allow, free=free, path=f"{path}[]")
        return sorted(set(out))
    if vt != "object":
        return []
    if path in free:  # keys are data: each value must have a type some vendor value has (any, if none shown)
        vendor_types = {json_type(v) for v in vendor.values()}
        if not vendor_types:
            return []
        return [
            f"{path}.{key}: {json_type(v)} where the vendor's values are {sorted(vendor_types)}"
            for key, v in ours.items()
            if json_type(v) not in vendor_types | {"null"}
        ]
    out = []
    for key in vendor:
        where = f"{path}.{key}"
        if key in ours:
            out += shape_diff(vendor[key], ours[key], allow=allow, free=free, path=where)
        elif f"missing:{where}" not in allow:
            out.append(f"{where}: missing (the vendor sends it)")
    out += [
        f"{path}.{key}: extra key the vendor's answer does not have"
        for key in ours
        if key not in vendor and f"extra:{path}.{key}" not in allow
    ]
    return out
