"""Candidate rules for a proposed model, and the feature matrix they give on history.

Every candidate is a rule the model file can express: a field test (``equals``, ``not_in``, ``gte``,
``missing``) or points per activity of one canonical type, plus every rule of the current model.  Feature
values come from the engine itself: the candidates are scored as a probe model with one point each, and
each rule's reason says how much it fired.  So a proposed rule means exactly what it meant when fitted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from scoring import Model, dump_model, parse_model
from scoring.numbers import parse_number

from ._metrics import BoolArray, FloatArray
from ._replay import activities_until, decided_at, score_rows
from ._rows import CalibrationRow

# Fields never offered as candidates: identity, free text, and the fields a CRM sets once a lead is
# worked or won (lifecycle stage, lead status, owner), which would leak the outcome.
DEFAULT_EXCLUDED_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "phone",
        "website",
        "created_at",
        "lifecycle_stage",
        "lead_status",
        "owner_id",
        "company_owner_id",
    }
)
_MAX_LEVELS = 25  # per categorical field; rarer levels are grouped as "another value"
# Steps at every 5th percentile: a step function fine enough for a field like time on site.
_QUANTILES = tuple(round(0.05 * k, 2) for k in range(1, 20))

Section = Literal["fit", "properties", "engagement"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One rule a proposal may use.

    ``when`` is a condition in model-file form for field rules; ``activity`` names a canonical type for
    points per activity (counted up to ``max_times``, the feature being the count over ``max_times``).
    ``opposite_when``/``opposite_label`` express the rule's complement, used when history says the rule
    should lower the score: "Specialization is empty" then becomes "Specialization is answered" with
    positive points, so fit never goes below zero and the engine's clamp cannot flatten the ranking.
    ``source`` is the current model's rule (id) a candidate re-weights, if any.
    """

    key: str
    label: str
    section: Section
    when: Mapping[str, Any] | None = None
    opposite_when: Mapping[str, Any] | None = None
    opposite_label: str = ""
    activity: str | None = None
    max_times: int = 1
    source: str | None = None
    group: str = ""


@dataclass(frozen=True, slots=True)
class FeatureTable:
    """Candidate values per row (rows x candidates, each cell 0..1) and the outcomes.

    ``units`` says, for a current-model rule, how many of its own points one full unit of the feature
    stands for (its points for a field rule; its most points for an activity rule).
    """

    candidates: tuple[Candidate, ...]
    values: FloatArray
    won: BoolArray
    units: FloatArray


def _level_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _nice_threshold(value: float) -> float:
    """Two significant digits, so a rule reads ``>= 700`` rather than ``>= 693.4``."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, digits)
    return float(int(rounded)) if float(rounded).is_integer() else rounded


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def field_candidates(
    rows: Sequence[CalibrationRow],
    *,
    exclude: Collection[str] = (),
    engagement_fields: Collection[str] = (),
    min_count: int | None = None,
) -> list[Candidate]:
    """Field tests worth trying on these rows: frequent levels, "another value", quantile steps, empties.

    A level or step must hold at least ``min_count`` rows on each side (default: 1% of rows, at least 10),
    so no rule is fitted on a handful of contacts.
    """
    n = len(rows)
    floor = min_count if min_count is not None else max(10, n // 100)
    values: dict[str, list[Any]] = {}
    for row in rows:
        for name, value in row.contact.fields.items():
            if name in DEFAULT_EXCLUDED_FIELDS or name in exclude:
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            values.setdefault(name, []).append(value)
    candidates: list[Candidate] = []
    for name, answered in values.items():
        section: Section = "properties" if name in engagement_fields else "fit"
        missing = n - len(answered)
        if floor <= missing <= n - floor:
            candidates.append(
                Candidate(
                    key=f"{name}:missing",
                    label=f"{name} is empty",
                    section=section,
                    when={"field": name, "missing": True},
                    opposite_when={"field": name, "exists": True},
                    opposite_label=f"{name} is answered",
                    group=name,
                )
            )
        numbers = [parse_number(v) for v in answered if not isinstance(v, bool)]
        numeric = [x for x in numbers if x is not None]
        distinct = set(numeric)
        if len(numeric) >= 0.95 * len(answered) and len(distinct) > 6:
            candidates.extend(_numeric_candidates(name, section, np.asarray(numeric, dtype=np.float64), floor))
            continue
        candidates.extend(_level_candidates(name, section, answered, floor, n))
    return candidates


def _numeric_candidates(name: str, section: Section, numbers: FloatArray, floor: int) -> list[Candidate]:
    out: list[Candidate] = []
    seen: set[float] = set()
    for q in _QUANTILES:
        threshold = _nice_threshold(float(np.quantile(numbers, q)))
        if threshold in seen:
            continue
        above = int((numbers >= threshold).sum())
        if above < floor or len(numbers) - above < floor:
            continue
        seen.add(threshold)
        shown = _show(threshold)
        out.append(
            _field_candidate(
                name, section, f"gte:{shown}", f"is {shown} or more", {"gte": threshold}, f"under {shown} or empty"
            )
        )
    return out


def _field_candidate(
    name: str, section: Section, key: str, says: str, test: dict[str, Any], opposite_says: str
) -> Candidate:
    """A candidate over one field: ``when`` is ``{"field": name, **test}``, its opposite the ``not`` of it."""
    when = {"field": name, **test}
    return Candidate(
        key=f"{name}:{key}",
        label=f"{name} {says}",
        section=section,
        when=when,
        opposite_when={"not": when},
        opposite_label=f"{name} {opposite_says}",
        group=name,
    )


def _level_candidates(name: str, section: Section, answered: Sequence[Any], floor: int, total: int) -> list[Candidate]:
    counts = Counter(v.strip().lower() if isinstance(v, str) else v for v in answered)
    shown: dict[Any, Any] = {}
    for value in answered:
        shown.setdefault(value.strip().lower() if isinstance(value, str) else value, value)
    common = [level for level, count in counts.most_common(_MAX_LEVELS) if count >= floor]
    frequent = [level for level in common if total - counts[level] >= floor]
    rare = len(answered) - sum(counts[level] for level in common)
    if len(frequent) == 2 and rare == 0 and total - len(answered) < floor:
        # A yes/no field that is always answered: one level says it all (the other is its opposite).
        frequent = [level for level in frequent if level is True or level == "yes"] or frequent[1:]
    out: list[Candidate] = []
    for level in frequent:
        value = shown[level]
        text = _level_text(value)
        out.append(_field_candidate(name, section, f"equals:{text}", f"is {text}", {"equals": value}, f"is not {text}"))
    if common and floor <= rare <= total - floor:
        listed = [shown[level] for level in common]
        out.append(
            _field_candidate(
                name, section, "other", "is another value", {"not_in": listed}, "is empty or a common value"
            )
        )
    return out


def activity_candidates(
    rows: Sequence[CalibrationRow], now: datetime, *, min_count: int | None = None
) -> list[Candidate]:
    """Points per activity for each canonical type enough contacts have, counted up to a typical maximum."""
    floor = min_count if min_count is not None else max(10, len(rows) // 100)
    per_type: dict[str, list[int]] = {}
    for row in rows:
        counts = Counter(a.type for a in activities_until(row, decided_at(row, now)))
        for activity_type, count in counts.items():
            per_type.setdefault(activity_type, []).append(count)
    out = []
    for activity_type, seen in sorted(per_type.items()):
        if len(seen) < floor or len(rows) - len(seen) < floor:
            continue
        cap = max(1, int(np.quantile(np.asarray(seen), 0.9)))
        words = activity_type.replace("_", " ")
        out.append(
            Candidate(
                key=f"activity:{activity_type}",
                label=f"{words} (each, up to {cap})" if cap > 1 else words,
                section="engagement",
                activity=activity_type,
                max_times=cap,
                group=f"activity:{activity_type}",
            )
        )
    return out


def current_rule_candidates(model: Model, *, leave_out: Collection[str] = ()) -> list[Candidate]:
    """Every rule of the current model, to be re-weighted (or dropped) by the fit, except rules on ``leave_out``."""
    out = []
    for section, rule in model.iter_rules():
        when = getattr(rule, "when", None)
        if when is not None and set(when.fields_used()) & set(leave_out):
            continue
        condition = when.model_dump(mode="json", by_alias=True, exclude_defaults=True) if when is not None else None
        static = condition is not None and section != "engagement"
        target: Section = "properties" if section == "properties" else "engagement" if not static else "fit"
        if static and section == "negative" and getattr(rule, "applies_to", None) == "engagement":
            target = "properties"
        out.append(
            Candidate(
                key=f"rule:{rule.id}",
                label=rule.label,
                section=target,
                when=condition if static else None,
                opposite_when={"not": condition} if static and condition is not None else None,
                opposite_label=f"not {rule.label}",
                source=rule.id,
                group=f"rule:{rule.id}",
            )
        )
    if model.stagnation is not None:
        out.append(
            Candidate(
                key=f"rule:{model.stagnation.id}",
                label=model.stagnation.text,
                section="engagement",
                source=model.stagnation.id,
                group=f"rule:{model.stagnation.id}",
            )
        )
    return out


def _probe_model(candidates: Sequence[Candidate], decay: Mapping[str, Any] | str | None) -> Model:
    fit_rules = []
    engagement_rules = []
    for index, candidate in enumerate(candidates):
        rule_id = f"c{index}"
        if candidate.source is not None:
            continue  # the current model's own rules are read from its own reasons
        if candidate.when is not None:
            fit_rules.append({"id": rule_id, "label": rule_id, "when": dict(candidate.when), "points": 1})
        elif candidate.activity is not None:
            rule: dict[str, Any] = {
                "id": rule_id,
                "label": rule_id,
                "activity": candidate.activity,
                "points": 1,
                "max_times": candidate.max_times,
            }
            if decay is not None:
                rule["decay"] = decay
            engagement_rules.append(rule)
    data = {"name": "calibration-probe", "fit": {"rules": fit_rules}, "engagement": {"rules": engagement_rules}}
    return Model.model_validate(data)


def feature_table(
    model: Model, candidates: Sequence[Candidate], rows: Sequence[CalibrationRow], now: datetime
) -> FeatureTable:
    """How much each candidate fired for each row, as the engine sees it (0..1 per cell)."""
    decay = model.decay.model_dump(mode="json") if model.decay is not None else None
    probe = _probe_model(candidates, decay)
    # Round-trip through the file format: a candidate the model file cannot express fails here, not later.
    # Through YAML, as the proposal is written: a value with a control character (DEL) is escaped, not fatal.
    parse_model(dump_model(probe), "<calibration probe>")
    column = {f"c{i}": i for i in range(len(candidates))}
    values = np.zeros((len(rows), len(candidates)), dtype=np.float64)
    units = np.ones(len(candidates), dtype=np.float64)
    for r, result in enumerate(score_rows(probe, rows, now)):
        for reason in result.reasons:
            index = column.get(reason.rule)
            if index is not None:
                values[r, index] = min(reason.points / candidates[index].max_times, 1.0)
    by_source = {c.source: i for i, c in enumerate(candidates) if c.source is not None}
    if by_source:
        for r, result in enumerate(score_rows(model, rows, now)):
            for reason in result.reasons:
                index = by_source.get(reason.rule)
                if index is not None:
                    values[r, index] += abs(reason.points)
        for rule_id, index in by_source.items():
            units[index] = _rule_unit(model, rule_id, values[:, index])
            values[:, index] = np.minimum(values[:, index] / units[index], 1.0)
    won = np.asarray([row.won for row in rows], dtype=np.bool_)
    return FeatureTable(tuple(candidates), values, won, units)


def _rule_unit(model: Model, rule_id: str, contributed: FloatArray) -> float:
    """The most points a current rule can give (observed, when the rule sets no cap)."""
    if model.stagnation is not None and model.stagnation.id == rule_id:
        return abs(model.stagnation.points)
    for _, rule in model.iter_rules():
        if rule.id != rule_id:
            continue
        points = abs(rule.points)
        max_points = getattr(rule, "max_points", None)
        max_times = getattr(rule, "max_times", None)
        if getattr(rule, "activity", None) is None:
            return points
        caps = [c for c in (max_points, points * max_times if max_times else None) if c is not None]
        if caps:
            return float(min(caps))
        return float(max(contributed.max(), points))
    return 1.0


_INTERACTION_TOP = 30  # field candidates most correlated with the outcome whose pairs are tried


def with_interactions(table: FeatureTable, train: Sequence[int], top: int = _INTERACTION_TOP) -> FeatureTable:
    """The table plus pairs of its strongest field candidates joined with ``all:``.

    Each side is taken in the direction that goes with winning (a candidate that goes with losing is
    negated), so a pair reads "A and B", both good signs.  Its value is the product of the two 0/1 columns,
    exactly what the engine gives ``all:`` of the two conditions, so a rule on a pair means what it meant
    when fitted.  Pairs on the same field are skipped.
    """
    fields = [
        i
        for i, c in enumerate(table.candidates)
        if c.when is not None and c.opposite_when is not None and c.source is None
    ]
    if len(fields) < 2 or not len(train):
        return table
    values = table.values[list(train)]
    outcome = table.won[list(train)].astype(np.float64)
    correlation = {}
    for i in fields:
        column = values[:, i]
        correlation[i] = 0.0 if column.std() == 0 else float(np.corrcoef(column, outcome)[0, 1])
    strongest = sorted(fields, key=lambda i: -abs(correlation[i]))[:top]
    candidates = list(table.candidates)
    columns = [table.values]
    for k, a in enumerate(strongest):
        for b in strongest[k + 1 :]:
            first, second = table.candidates[a], table.candidates[b]
            if first.group == second.group or correlation[a] == 0 or correlation[b] == 0:
                continue
            sides = []
            for index, candidate in ((a, first), (b, second)):
                good = correlation[index] > 0
                when = candidate.when if good else candidate.opposite_when
                assert when is not None
                label = candidate.label if good else candidate.opposite_label
                column = table.values[:, index] if good else 1 - table.values[:, index]
                sides.append((dict(when), label, column))
            (when_a, label_a, column_a), (when_b, label_b, column_b) = sides
            when = {"all": [when_a, when_b]}
            candidates.append(
                Candidate(
                    key=f"{first.key}&{second.key}",
                    label=f"{label_a} and {label_b}",
                    section=first.section if first.section == second.section else "fit",
                    when=when,
                    opposite_when={"not": when},
                    opposite_label=f"not both: {label_a} and {label_b}",
                    group=f"{first.group}&{second.group}",
                )
            )
            columns.append((column_a * column_b)[:, None])
    units = np.concatenate([table.units, np.ones(len(candidates) - len(table.candidates))])
    return FeatureTable(tuple(candidates), np.hstack(columns), table.won, units)
