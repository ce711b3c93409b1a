"""Propose a model from history: a sparse logistic regression turned into integer points in a model file.

The steps, each checked by the engine rather than by scikit-learn:

1. Split history: the newest quarter held out when rows carry dates, otherwise a seeded stratified quarter.
2. Candidates (``_features``): the current rules plus field tests and activity counts; their values come
   from the engine scoring a probe model.
3. Forward selection of a logistic regression under the rule budget, with a light L2 penalty (``_fit``).
4. Weights become integer points in model-file rules (``_points``).
5. MQL/SQL thresholds from the training totals (``_thresholds``); the model is written through
   ``dump_model``, read back with ``parse_model`` and scored by the engine on the held-out rows.  It is
   accepted only if its held-out ROC AUC is at least the current model's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import yaml
from sklearn.model_selection import train_test_split

from scoring import Model, parse_model

from ._evaluate import Evaluation, evaluation_from_results
from ._features import (
    DEFAULT_EXCLUDED_FIELDS,
    activity_candidates,
    current_rule_candidates,
    feature_table,
    field_candidates,
    with_interactions,
)
from ._fit import distinct_columns, fit_forward
from ._guard import LeakReport, guard
from ._metrics import roc_auc
from ._points import place, points_scale, proposed_data, unmatched_rules
from ._replay import score_rows
from ._rows import CalibrationError, CalibrationRow, check_names
from ._thresholds import Thresholds, choose_thresholds

DEFAULT_MAX_RULES = 30
_HOLDOUT_SHARE = 0.25
_MIN_OUTCOMES = 10  # won and lost contacts each, in the training part
UNMATCHED_DROPPED = "dropped: no contact in this history matched it"
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class RuleChange:
    """One rule in the current or proposed model; ``None`` points mean the rule is absent from that model."""

    rule_id: str
    label: str
    section: str
    current_points: float | None
    proposed_points: float | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed model, how it compares with the current one on held-out history, and the verdict.

    ``accepted`` is False when the proposal is worse on held-out rows (or could not be made); ``reason``
    says why in a sentence.  ``model_text`` is the model file to review and commit (present whenever a
    model could be fitted, accepted or not).
    """

    accepted: bool
    reason: str
    model_text: str | None
    model: Model | None
    rules: tuple[RuleChange, ...]
    rule_count: int
    holdout_auc_current: float | None
    holdout_auc_proposed: float | None
    holdout_auc_unrounded: float | None
    split: str
    train_rows: int
    holdout_rows: int
    thresholds: Thresholds | None
    holdout_current: Evaluation | None
    holdout_proposed: Evaluation | None
    regularization: float | None
    max_rules: int
    leak: LeakReport | None = None
    kept_engagement_by_default: bool = False


@dataclass(frozen=True, slots=True)
class Split:
    """Row indices fitted on and held out, and the split in words."""

    train: list[int]
    holdout: list[int]
    description: str
    weeks: float | None  # span of the dated rows, in weeks, for capacity-based thresholds


def split_rows(rows: Sequence[CalibrationRow], seed: int, holdout_share: float = _HOLDOUT_SHARE) -> Split:
    """Newest rows held out when at least 90% carry a date; otherwise a seeded, stratified random split."""
    dated = [(row.date, i) for i, row in enumerate(rows) if row.date is not None]
    weeks = None
    if dated:
        first, last = min(d for d, _ in dated), max(d for d, _ in dated)
        weeks = max((last - first).total_seconds() / (7 * _DAY), 1.0)
    if rows and len(dated) >= 0.9 * len(rows):
        dated.sort(key=lambda item: (item[0], item[1]))
        cut = round(len(dated) * (1 - holdout_share))
        holdout = [i for _, i in dated[cut:]]
        held = set(holdout)
        train = [i for i in range(len(rows)) if i not in held]
        since = dated[cut][0] if cut < len(dated) else dated[-1][0]
        return Split(
            train,
            holdout,
            f"time-based split: fitted on {len(train):,} contacts, held out the {len(holdout):,} newest "
            f"(from {since:%Y-%m-%d})",
            weeks,
        )
    indices = list(range(len(rows)))
    outcomes = [row.won for row in rows]
    stratify = outcomes if min(sum(outcomes), len(outcomes) - sum(outcomes)) >= 2 else None
    train, holdout = train_test_split(indices, test_size=holdout_share, random_state=seed, stratify=stratify)
    return Split(
        sorted(train),
        sorted(holdout),
        f"seeded split (no dates; seed {seed}): fitted on {len(train):,} contacts, held out {len(holdout):,}",
        weeks,
    )


def _setting(model: Model, key: str, given: Any, default: Any) -> Any:
    if given is not None:
        return given
    if model.calibration and model.calibration.get(key) is not None:
        return model.calibration[key]
    return default


def propose(
    model: Model,
    rows: Sequence[CalibrationRow],
    *,
    now: datetime,
    max_rules: int | None = None,
    seed: int = 7,
    target_precision: float | None = None,
    target_recall: float | None = None,
    capacity_per_week: float | None = None,
    leads_per_week: float | None = None,
    exclude_fields: Collection[str] = (),
    allow_leaky: Collection[str] = (),
    keep_unmatched: bool | None = None,
    source: str = "",
) -> Proposal:
    """Fit a sparse integer-point model on part of ``rows`` and compare it with ``model`` on the rest.

    Settings not given fall back to the model file's ``calibration:`` block, then to defaults
    (``max_rules`` 30).  ``target_recall`` sets MQL (the share of future customers it must catch),
    ``target_precision`` or ``capacity_per_week`` set SQL; without them each stage keeps the share of
    contacts it holds under the current model.  ``leads_per_week`` overrides the weekly volume measured
    from the rows' dates.  ``source`` names the history in the file header (e.g. the CSV file name).

    Current rules that no contact in history matched are kept as they are when they take points away,
    and dropped otherwise unless ``keep_unmatched``; kept rules count toward ``max_rules``.  When no row
    has any activity and ``keep_unmatched`` is not given, they are kept: such history cannot weigh them.

    The leak guard (``_guard``) runs on the fitting rows first: fields set by the sale, identifiers,
    latest-state and too-good fields are left out (``allow_leaky`` keeps the last two on request), and
    ``Proposal.leak`` says which and why.  A name in ``exclude_fields`` or ``allow_leaky`` that no row
    holds is an error with a did-you-mean.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    max_rules = int(_setting(model, "max_rules", max_rules, DEFAULT_MAX_RULES))
    if max_rules < 1:
        raise CalibrationError("max_rules must be 1 or more")
    target_precision = _setting(model, "target_precision", target_precision, None)
    target_recall = _setting(model, "target_recall", target_recall, None)
    capacity_per_week = _setting(model, "capacity_per_week", capacity_per_week, None)
    known = {name for row in rows for name in row.contact.fields}
    check_names(exclude_fields, known, "--exclude")
    check_names(allow_leaky, known, "--allow-leaky")
    excluded = set(exclude_fields) | set(_setting(model, "exclude_fields", None, []))
    # History without a single activity cannot weigh engagement rules, yet the CRM will have activities.
    kept_by_default = keep_unmatched is None and not any(row.activities for row in rows)

    split = split_rows(rows, seed)
    train_rows = [rows[i] for i in split.train]
    holdout_rows = [rows[i] for i in split.holdout]
    leak = guard(train_rows, excluded=excluded, allow_leaky=allow_leaky, never=DEFAULT_EXCLUDED_FIELDS)

    def refused(reason: str) -> Proposal:
        return Proposal(
            accepted=False,
            reason=reason,
            model_text=None,
            model=None,
            rules=(),
            rule_count=0,
            holdout_auc_current=None,
            holdout_auc_proposed=None,
            holdout_auc_unrounded=None,
            split=split.description,
            train_rows=len(train_rows),
            holdout_rows=len(holdout_rows),
            thresholds=None,
            holdout_current=None,
            holdout_proposed=None,
            regularization=None,
            max_rules=max_rules,
            leak=leak,
            kept_engagement_by_default=kept_by_default,
        )

    train_won = sum(row.won for row in train_rows)
    hold_won = sum(row.won for row in holdout_rows)
    if min(train_won, len(train_rows) - train_won) < _MIN_OUTCOMES:
        return refused(
            f"Not enough history to fit a model: {train_won} won and {len(train_rows) - train_won} lost contacts "
            f"in the fitting part; at least {_MIN_OUTCOMES} of each are needed. The current model is kept."
        )
    if hold_won == 0 or hold_won == len(holdout_rows):
        return refused(
            "The held-out part has only one outcome, so the models cannot be compared; the current model is kept."
        )

    engagement_fields = {name for rule in model.properties.rules for name in rule.when.fields_used()}
    # The current rules come first, so where a candidate says the same thing the current rule is kept.
    candidates = (
        current_rule_candidates(model, leave_out=leak.fields)
        + field_candidates(train_rows, exclude=excluded | leak.fields, engagement_fields=engagement_fields)
        + activity_candidates(train_rows, now)
    )
    table = with_interactions(feature_table(model, candidates, rows, now), split.train)
    candidates = list(table.candidates)
    train_x, train_y = table.values[split.train], table.won[split.train]
    varies = distinct_columns(train_x)
    unmatched = unmatched_rules(model, table, split.train)
    activity_rules = {rule.id for section, rule in model.iter_rules() if getattr(rule, "when", None) is None}
    guards = [
        rule_id
        for rule_id, lowers in unmatched
        if lowers or keep_unmatched or (kept_by_default and rule_id in activity_rules)
    ]
    budget = max(max_rules - len(guards), 1)

    weights = fit_forward(train_x[:, varies], train_y, budget)
    strength = None
    coefficients = np.zeros(len(candidates))
    coefficients[varies] = weights
    hold_x = table.values[split.holdout]
    unrounded = roc_auc(hold_x @ coefficients, table.won[split.holdout])

    placed = place(candidates, coefficients)
    scale = points_scale(placed, train_x, model.scale.max)
    description = (
        f"Calibrated by leadsync on {now:%Y-%m-%d} from {len(rows):,} contacts with known outcomes"
        f"{f' ({source})' if source else ''}: a sparse logistic regression over the rules of '{model.name}' "
        f"(version {model.version}) and candidate field and activity rules, turned into integer points."
    )
    data = proposed_data(model, placed, scale, guards, table, description)
    if not any(data[s]["rules"] for s in ("fit", "engagement", "properties", "negative")):
        return refused("No rule carries enough weight to propose a model; the current model is kept.")
    draft = Model.model_validate(data)
    train_totals = [result.total for result in score_rows(draft, train_rows, now)]
    current_train_totals = [result.total for result in score_rows(model, train_rows, now)]
    thresholds = choose_thresholds(
        model,
        draft,
        train_totals,
        current_train_totals,
        [row.won for row in train_rows],
        target_precision=target_precision,
        target_recall=target_recall,
        capacity_per_week=capacity_per_week,
        leads_per_week=leads_per_week,
        weeks=split.weeks,
        train_share=len(train_rows) / max(len(rows), 1),
    )
    data["stages"] = {"mql": thresholds.mql, "sql": thresholds.sql}
    draft = Model.model_validate(data)

    hold_current = evaluation_from_results(model, holdout_rows, score_rows(model, holdout_rows, now), now, replay=False)
    hold_proposed = evaluation_from_results(
        draft, holdout_rows, score_rows(draft, holdout_rows, now), now, replay=False
    )
    auc_current, auc_proposed = hold_current.auc, hold_proposed.auc
    rule_count = sum(1 for _ in draft.iter_rules()) + (1 if draft.stagnation is not None else 0)
    header = _header(now, len(rows), source, split.description, auc_current, auc_proposed, rule_count)
    text = dump_integers(draft, header)
    proposed = parse_model(text, "<proposed model>")
    if proposed.version != draft.version:
        raise AssertionError("the proposed model does not read back as written")  # a dump_model bug

    accepted = auc_proposed is not None and (auc_current is None or auc_proposed >= auc_current)
    shown_current = "undefined" if auc_current is None else f"{auc_current:.3f}"
    shown_proposed = "undefined" if auc_proposed is None else f"{auc_proposed:.3f}"
    if accepted:
        reason = (
            f"The proposed model ranks held-out contacts at least as well as the current one "
            f"(ROC AUC {shown_proposed} vs {shown_current}) with {rule_count} rules."
        )
    else:
        reason = (
            f"The proposed model ranks held-out contacts worse than the current one (ROC AUC {shown_proposed} vs "
            f"{shown_current}); the current model is kept."
        )
    return Proposal(
        accepted=accepted,
        reason=reason,
        model_text=text,
        model=proposed,
        rules=tuple(_rule_changes(model, proposed, guards, [rule_id for rule_id, _ in unmatched])),
        rule_count=rule_count,
        holdout_auc_current=auc_current,
        holdout_auc_proposed=auc_proposed,
        holdout_auc_unrounded=unrounded,
        split=split.description,
        train_rows=len(train_rows),
        holdout_rows=len(holdout_rows),
        thresholds=thresholds,
        holdout_current=hold_current,
        holdout_proposed=hold_proposed,
        regularization=strength,
        max_rules=max_rules,
        leak=leak,
        kept_engagement_by_default=kept_by_default,
    )


# ---------------------------------------------------------------------------------------------------------
# Reporting helpers


def _whole(value: Any) -> Any:
    """Whole floats as ints, all the way down: a rule says ``points: 3`` and ``gte: 610000``, not 3.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return value


def dump_integers(model: Model, header: str) -> str:
    """``dump_model`` with whole numbers written as integers (YAML escapes any control character)."""
    data = _whole(model.model_dump(mode="json", by_alias=True, exclude_defaults=True))
    text = yaml.safe_dump(
        {"name": model.name, **data}, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False
    )
    return "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + text


def _header(
    now: datetime,
    contacts: int,
    source: str,
    split: str,
    auc_current: float | None,
    auc_proposed: float | None,
    rules: int,
) -> str:
    shown = "undefined" if auc_proposed is None else f"{auc_proposed:.3f}"
    current = "undefined" if auc_current is None else f"{auc_current:.3f}"
    origin = f" ({source})" if source else ""
    return (
        f"Proposed by leadsync calibrate on {now:%Y-%m-%d} from {contacts:,} contacts with known outcomes{origin}.\n"
        f"{split[0].upper()}{split[1:]}.\n"
        f"Held-out ROC AUC {shown} (current model {current}), {rules} rules.\n"
        "Points are integers: review the diff against your current model before you commit it."
    )


def _rule_points(model: Model) -> dict[str, tuple[str, str, float]]:
    """Rule id -> (label, section, points), stagnation included."""
    out: dict[str, tuple[str, str, float]] = {
        rule.id: (rule.label, section, rule.points) for section, rule in model.iter_rules()
    }
    if model.stagnation is not None:
        out[model.stagnation.id] = (model.stagnation.text, "stagnation", model.stagnation.points)
    return out


def _rule_changes(current: Model, proposed: Model, guards: Sequence[str], unmatched: Sequence[str]) -> list[RuleChange]:
    old, new = _rule_points(current), _rule_points(proposed)
    changes: list[RuleChange] = []
    for rule_id, (label, section, points) in old.items():
        if rule_id in new:
            note = "kept as is: no contact in this history matched it" if rule_id in guards else "re-weighted"
            changes.append(RuleChange(rule_id, label, section, points, new[rule_id][2], note))
        elif f"not_{rule_id}" in new:
            changes.append(RuleChange(rule_id, label, section, points, None, f"written as its opposite, not_{rule_id}"))
        elif rule_id in unmatched:
            changes.append(RuleChange(rule_id, label, section, points, None, UNMATCHED_DROPPED))
        else:
            changes.append(RuleChange(rule_id, label, section, points, None, "dropped"))
    for rule_id, (label, section, points) in new.items():
        if rule_id not in old:
            opposite = rule_id.removeprefix("not_")
            note = f"the opposite of {opposite}" if opposite != rule_id and opposite in old else "new"
            changes.append(RuleChange(rule_id, label, section, None, points, note))
    return changes
