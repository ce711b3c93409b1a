"""Reading, checking and writing model files: ``load_model``, ``parse_model``, ``dump_model``.

Problems are reported all at once, each with file, line and path: first everything pydantic finds in the
structure, then (when the structure is sound) the checks that span sections, such as duplicate rule ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .model import Condition, Model
from .yamlfile import (
    LineMap,
    ModelError,
    PathKey,
    Problem,
    format_path,
    format_validation_errors,
    load_yaml_with_lines,
    read_model_text,
)

STARTER_MODEL_PATH: Path = Path(__file__).resolve().parent / "models" / "starter.yaml"


def load_model(path: str | Path) -> Model:
    """Read and validate a model file; raise ``ModelError`` listing every problem with its line."""
    source = str(path)
    text = read_model_text(path)
    return parse_model(text, source)


def parse_model(text: str, source: str = "<string>") -> Model:
    """Validate model YAML given as text; ``source`` names it in error messages."""
    data, lines = load_yaml_with_lines(text, source)
    try:
        model = Model.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ModelError(format_validation_errors(exc, source, lines, prefix=(), schema=Model)) from None
    problems = cross_checks(model, lines, source)
    if problems:
        raise ModelError(problems)
    return model


def dump_model(model: Model, header: str | None = None) -> str:
    """The model as YAML that ``parse_model`` reads back to an equal model with the same version.

    Defaults are left out, so the output stays short; ``header`` becomes a comment at the top.
    """
    data = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"name": model.name, **data}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    if header:
        comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
        return comment + text
    return text


def _conditions(condition: Condition | None, path: PathKey) -> Iterator[tuple[Condition, PathKey]]:
    if condition is None:
        return
    yield condition, path
    for key in ("all", "any"):
        children = condition._value(key)
        for index, child in enumerate(children or ()):
            yield from _conditions(child, (*path, key, index))
    if condition.not_ is not None:
        yield from _conditions(condition.not_, (*path, "not"))


def cross_checks(model: Model, lines: LineMap, source: str) -> list[Problem]:
    """Checks that span sections of a structurally valid model."""
    problems: list[Problem] = []

    def problem(path: PathKey, message: str) -> None:
        problems.append(Problem(source, lines.line(path), format_path(path), message))

    seen: dict[str, PathKey] = {}
    rule_paths: list[tuple[str, PathKey]] = []
    for section in ("fit", "engagement", "properties", "negative"):
        for index, rule in enumerate(getattr(model, section).rules):
            rule_paths.append((rule.id, (section, "rules", index)))
    if model.stagnation is not None:
        rule_paths.append((model.stagnation.id, ("stagnation",)))
    for rule_id, path in rule_paths:
        id_path = (*path, "id") if (*path, "id") in lines else path
        if rule_id in seen:
            first = lines.line(seen[rule_id])
            problem(id_path, f"duplicate rule id '{rule_id}' (also used on line {first}); give each rule its own id")
        else:
            seen[rule_id] = id_path

    wheres: list[tuple[Condition | None, PathKey]] = []
    for index, erule in enumerate(model.engagement.rules):
        wheres.append((erule.where, ("engagement", "rules", index, "where")))
    for index, nrule in enumerate(model.negative.rules):
        wheres.append((nrule.where, ("negative", "rules", index, "where")))
    for index, tier in enumerate(model.tiers):
        wheres.append((tier.where, ("tiers", index, "where")))
    for where, path in wheres:
        for condition, sub in _conditions(where, path):
            if condition.within_days is not None or condition.older_than_days is not None:
                problem(sub, "date tests do not apply to activity attributes; use within_days on the rule")

    grades = list(model.grades)
    levels = len(model.matrix.engagement_levels)
    cells = [f"{grade}{level}" for grade in grades for level in range(1, levels + 1)]
    for cell in model.matrix.cells:
        if cell not in cells:
            problem(("matrix", "cells", cell), f"'{cell}' is not a cell; cells are {', '.join(cells)}")

    tier_names: dict[str, int] = {}
    for index, tier in enumerate(model.tiers):
        if tier.tier in tier_names:
            problem(("tiers", index, "tier"), f"tier '{tier.tier}' is defined twice")
        tier_names[tier.tier] = index

    cell_names = {model.matrix.cells.get(cell, cell) for cell in cells}
    label_names = set(model.labels.cuts) if model.labels else set()
    for index, example in enumerate(model.examples):
        expect = example.expect
        base: PathKey = ("examples", index, "expect")
        checks: list[tuple[str, Any, set[str]]] = [
            ("grade", expect.grade, set(grades)),
            ("matrix", expect.matrix, cell_names),
            ("label", expect.label, label_names | {"none"}),
            ("tier", expect.tier, set(tier_names) | {"none"}),
        ]
        for key, value, allowed in checks:
            if value is not None and value not in allowed:
                choices = ", ".join(sorted(allowed)) or "none"
                problem((*base, key), f"'{value}' cannot happen with this model (expected one of: {choices})")
    return problems
