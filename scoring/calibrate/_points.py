"""From fitted weights to rules with integer points, written in the model file's own terms.

A field rule whose weight is negative is written as its opposite with positive points ("Specialization is
answered" rather than "Specialization is empty"), so fit never reaches the engine's floor of 0 and the clamp
cannot flatten the ranking.  Points are scaled so the highest training total lands on the model's maximum;
rules that round to 0 are dropped.  Current rules that take points away and that no contact in history
matched (a competitor rule, say) are kept as they are: history says nothing about them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring import Model
from scoring.model import slugify

from ._features import Candidate, FeatureTable
from ._metrics import FloatArray


@dataclass(frozen=True, slots=True)
class PlacedRule:
    column: int
    candidate: Candidate
    weight: float  # after flipping to the opposite when needed; per unit of the feature
    flipped: bool


def _is_activity(candidate: Candidate) -> bool:
    return candidate.when is None


def place(candidates: Sequence[Candidate], coefficients: FloatArray) -> list[PlacedRule]:
    placed = []
    for column, (candidate, weight) in enumerate(zip(candidates, coefficients, strict=True)):
        if weight == 0:
            continue
        if not _is_activity(candidate) and weight < 0:
            placed.append(PlacedRule(column, candidate, -float(weight), True))
        else:
            placed.append(PlacedRule(column, candidate, float(weight), False))
    return placed


def points_scale(placed: Sequence[PlacedRule], train_x: FloatArray, score_max: int) -> float:
    """Points per unit of weight, so the highest training total just reaches the model's maximum."""
    fit = np.zeros(train_x.shape[0])
    engagement = np.zeros(train_x.shape[0])
    for rule in placed:
        column = train_x[:, rule.column]
        value = 1 - column if rule.flipped else column
        if _is_activity(rule.candidate):
            engagement += rule.weight * value
        else:
            fit += rule.weight * value
    top = float((fit + np.maximum(engagement, 0)).max()) if len(fit) else 0.0
    return score_max / top if top > 0 else 1.0


def _label(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


def proposed_data(
    model: Model,
    placed: Sequence[PlacedRule],
    scale: float,
    guards: Sequence[str],
    table: FeatureTable,
    description: str,
) -> dict[str, Any]:
    """The current model's settings with its rules replaced by the proposed ones (guards kept as they are)."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.pop("examples", None)  # examples describe the current rules' points; they would all fail
    data["description"] = description
    scale_data = {"max": model.scale.max}
    data["scale"] = scale_data
    sections: dict[str, list[dict[str, Any]]] = {"fit": [], "engagement": [], "properties": [], "negative": []}
    current = {rule.id: (section, rule) for section, rule in model.iter_rules()}
    used_ids: set[str] = set()

    def unique(rule_id: str) -> str:
        base = rule_id[:60] or "rule"
        candidate_id, n = base, 2
        while candidate_id in used_ids:
            candidate_id, n = f"{base}_{n}", n + 1
        used_ids.add(candidate_id)
        return candidate_id

    stagnation: dict[str, Any] | None = None
    for rule in placed:
        candidate = rule.candidate
        total = rule.weight * scale  # points for one full unit of the feature
        if candidate.source is not None and candidate.source in current:
            section, old = current[candidate.source]
            old_data = old.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            if candidate.when is not None:
                points = round(total)
                if points < 1:
                    continue
                target = "properties" if candidate.section == "properties" else "fit"
                rule_id = unique(slugify(f"not_{old.id}") if rule.flipped else old.id)
                label = _label(candidate.opposite_label if rule.flipped else old.label)
                when = candidate.opposite_when if rule.flipped else candidate.when
                sections[target].append({"id": rule_id, "label": label, "when": when, "points": points})
                continue
            moved = _reweigh_activity_rule(old_data, section, old, total / float(table.units[rule.column]), model)
            if moved is not None:
                target, new_rule = moved
                new_rule["id"] = unique(old.id)
                sections[target].append(new_rule)
            continue
        if candidate.source is not None and model.stagnation is not None:
            points = round(total)
            if points <= -1:  # stagnation only ever takes points away
                stagnation = {
                    **model.stagnation.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                    "points": points,
                }
            continue
        if candidate.activity is not None:
            made = _activity_rule(candidate, total)
            if made is not None:
                target, body = made
                body["id"] = unique(slugify(candidate.label))
                sections[target].append(body)
            continue
        points = round(total)
        if points < 1:
            continue
        label = _label(candidate.opposite_label if rule.flipped else candidate.label)
        when = candidate.opposite_when if rule.flipped else candidate.when
        sections[candidate.section].append(
            {"id": unique(slugify(label)), "label": label, "when": dict(when or {}), "points": points}
        )
    for guard in guards:
        if model.stagnation is not None and guard == model.stagnation.id:
            stagnation = model.stagnation.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            continue
        section, old = current[guard]
        old_data = old.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        old_data["id"] = unique(old.id)
        sections[section].append(old_data)
    for section_name, rules in sections.items():
        data[section_name] = {"rules": rules}
    if stagnation is not None:
        data["stagnation"] = stagnation
    else:
        data.pop("stagnation", None)
    return data


def _activity_rule(candidate: Candidate, total: float) -> tuple[str, dict[str, Any]] | None:
    """Points per activity up to ``max_times``, as close to ``total`` points at the cap as integers allow."""
    whole = round(total)
    if whole == 0:
        return None
    per = round(total / candidate.max_times)
    body: dict[str, Any] = {"label": _label(candidate.label), "activity": candidate.activity}
    if per == 0:
        per = 1 if total > 0 else -1
    body["points"] = per
    if per * candidate.max_times == whole:
        body["max_times"] = candidate.max_times
    else:
        body["max_points"] = abs(whole)
        body["max_times"] = candidate.max_times
    return ("engagement" if per > 0 else "negative"), body


def _reweigh_activity_rule(
    old_data: Mapping[str, Any], section: str, old: Any, factor: float, model: Model
) -> tuple[str, dict[str, Any]] | None:
    """A current activity or inactivity rule with its points' size multiplied by ``factor``.

    The sign of ``factor`` is the sign the rule should have now: history may turn an engagement rule into
    a negative one (or back), which moves it between sections.
    """
    sign = 1 if old.points >= 0 else -1
    points = round(abs(old.points) * factor)
    if points == 0:
        return None
    body = dict(old_data)
    if getattr(old, "inactive_days", None) is not None:
        if points > 0:
            return None  # inactivity can only take points away
        body["points"] = points
        return "negative", body
    body["points"] = points
    if old.max_points is not None:
        body["max_points"] = max(1, round(old.max_points * abs(factor)))
    new_sign = 1 if points > 0 else -1
    if new_sign != sign:
        # Keep the decay the rule had, written out, since the two sections default differently.
        decay = old.decay if old.decay is not None else (model.decay if section == "engagement" else None)
        body["decay"] = decay.model_dump(mode="json") if decay is not None else "none"
    return ("engagement" if points > 0 else "negative"), body


def unmatched_rules(model: Model, table: FeatureTable, train: Sequence[int]) -> list[tuple[str, bool]]:
    """Current rules that matched nobody in the training history, each with whether it takes points away.

    History says nothing about them.  Those that take points away (a competitor rule, an unsubscribe
    penalty) are kept as they are; the others are kept only on request (a CSV export without activities
    cannot weigh engagement rules, yet the CRM will have activities).
    """
    values = table.values[train]
    stagnation = model.stagnation.id if model.stagnation else None
    lowers = {rule.id: section == "negative" or rule.points < 0 for section, rule in model.iter_rules()}
    found = []
    for index, candidate in enumerate(table.candidates):
        if candidate.source is None or values[:, index].any():
            continue
        found.append((candidate.source, candidate.source == stagnation or lowers.get(candidate.source, False)))
    return found
