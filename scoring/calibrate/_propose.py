"""Propose a model from history: a sparse logistic regression turned into integer points in a model file.

The steps, each checked by the engine rather than by scikit-learn:

1. Split history: the newest quarter held out when rows carry dates, otherwise a seeded stratified quarter.
2. Candidates (``_features``): the current rules plus field tests and activity counts; their values come
   from the engine scoring a probe model.
3. L1-regularized logistic regression; the regularization is chosen by 3-fold cross-validation among the
   strengths that keep at most ``max_rules`` rules, then the chosen rules are refitted with a light L2
   penalty so their weights are not shrunk toward zero.
4. Weights become integer points: a rule that should lower the score is rewritten as its opposite with
   positive points (so fit never hits the engine's floor of 0), and all points are scaled so the highest
   training total lands on the model's maximum; rules that round to 0 are dropped.
5. MQL/SQL thresholds from the training totals; the model is written through ``dump_model``, read back with
   ``parse_model`` and scored by the engine on the held-out rows.  It is accepted only if its held-out ROC
   AUC is at least the current model's.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

from scoring import Model, dump_model, parse_model
from scoring.model import slugify

from ._evaluate import Evaluation, evaluation_from_results
from ._features import (
    Candidate,
    FeatureTable,
    activity_candidates,
    current_rule_candidates,
    feature_table,
    field_candidates,
)
from ._metrics import (
    BoolArray,
    FloatArray,
    roc_auc,
    threshold_for_precision,
    threshold_for_recall,
    threshold_for_volume,
)
from ._replay import score_rows
from ._rows import CalibrationError, CalibrationRow

DEFAULT_MAX_RULES = 30
_HOLDOUT_SHARE = 0.25
_MIN_OUTCOMES = 10  # won and lost contacts each, in the training part
_REFIT_C = 1.0
_C_GRID = tuple(float(c) for c in np.geomspace(0.002, 5.0, 16))
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
class Thresholds:
    mql: float
    sql: float
    how: str


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


@dataclass(frozen=True, slots=True)
class _Split:
    train: list[int]
    holdout: list[int]
    description: str
    weeks: float | None  # span of the dated rows, in weeks, for capacity-based thresholds


@dataclass(frozen=True, slots=True)
class _PlacedRule:
    column: int
    candidate: Candidate
    weight: float  # after flipping to the opposite when needed; per unit of the feature
    flipped: bool


def split_rows(rows: Sequence[CalibrationRow], seed: int, holdout_share: float = _HOLDOUT_SHARE) -> _Split:
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
        return _Split(
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
    return _Split(
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
    source: str = "",
) -> Proposal:
    """Fit a sparse integer-point model on part of ``rows`` and compare it with ``model`` on the rest.

    Settings not given fall back to the model file's ``calibration:`` block, then to defaults
    (``max_rules`` 30).  ``target_recall`` sets MQL (the share of future customers it must catch),
    ``target_precision`` or ``capacity_per_week`` set SQL; without them each stage keeps the share of
    contacts it holds under the current model.  ``leads_per_week`` overrides the weekly volume measured
    from the rows' dates.  ``source`` names the history in the file header (e.g. the CSV file name).
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    max_rules = int(_setting(model, "max_rules", max_rules, DEFAULT_MAX_RULES))
    if max_rules < 1:
        raise CalibrationError("max_rules must be 1 or more")
    target_precision = _setting(model, "target_precision", target_precision, None)
    target_recall = _setting(model, "target_recall", target_recall, None)
    capacity_per_week = _setting(model, "capacity_per_week", capacity_per_week, None)
    excluded = set(exclude_fields) | set(_setting(model, "exclude_fields", None, []))

    split = split_rows(rows, seed)
    train_rows = [rows[i] for i in split.train]
    holdout_rows = [rows[i] for i in split.holdout]

    def refused(reason: str) -> Proposal:
        return Proposal(
            False,
            reason,
            None,
            None,
            (),
            0,
            None,
            None,
            None,
            split.description,
            len(train_rows),
            len(holdout_rows),
            None,
            None,
            None,
            None,
            max_rules,
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
    candidates = (
        field_candidates(train_rows, exclude=excluded, engagement_fields=engagement_fields)
        + activity_candidates(train_rows, now)
        + current_rule_candidates(model)
    )
    table = feature_table(model, candidates, rows, now)
    train_x, train_y = table.values[split.train], table.won[split.train]
    varies = np.flatnonzero(train_x.std(axis=0) > 0)
    guards = _unmatched_guards(model, table, split.train)
    budget = max(max_rules - len(guards), 1)

    weights, strength = _fit_sparse(train_x[:, varies], train_y, budget, seed)
    coefficients = np.zeros(len(candidates))
    coefficients[varies] = weights
    hold_x = table.values[split.holdout]
    unrounded = roc_auc(hold_x @ coefficients, table.won[split.holdout])

    placed = _place(candidates, coefficients)
    scale = _points_scale(placed, train_x, model.scale.max)
    description = (
        f"Calibrated by leadsync on {now:%Y-%m-%d} from {len(rows):,} contacts with known outcomes"
        f"{f' ({source})' if source else ''}: a sparse logistic regression over the rules of '{model.name}' "
        f"(version {model.version}) and candidate field and activity rules, turned into integer points."
    )
    data = _proposed_data(model, placed, scale, guards, table, description)
    if not any(data[s]["rules"] for s in ("fit", "engagement", "properties", "negative")):
        return refused("No rule carries enough weight to propose a model; the current model is kept.")
    draft = Model.model_validate(data)
    train_totals = [result.total for result in score_rows(draft, train_rows, now)]
    current_train_totals = [result.total for result in score_rows(model, train_rows, now)]
    thresholds = _thresholds(
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
    text = dump_model(draft, header=header)
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
        rules=tuple(_rule_changes(model, proposed, guards)),
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
    )


# ---------------------------------------------------------------------------------------------------------
# Fitting


def _logistic(c: float, l1: bool, seed: int) -> LogisticRegression:
    if l1:
        return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", max_iter=2000, random_state=seed)
    return LogisticRegression(C=c, l1_ratio=0.0, solver="lbfgs", max_iter=2000)


def _support(
    x: FloatArray, y: BoolArray, c: float, limit: int, seed: int
) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Columns an L1 fit at strength ``c`` keeps, at most ``limit`` of them (largest weights first)."""
    fitted = _logistic(c, l1=True, seed=seed).fit(x, y)
    weights = np.abs(fitted.coef_[0])
    kept = np.flatnonzero(weights > 1e-8)
    if len(kept) > limit:
        kept = np.sort(kept[np.argsort(-weights[kept], kind="stable")[:limit]])
    return kept


def _refit(x: FloatArray, y: BoolArray, support: np.ndarray[Any, np.dtype[np.intp]]) -> FloatArray:
    weights = np.zeros(x.shape[1])
    if len(support):
        fitted = _logistic(_REFIT_C, l1=False, seed=0).fit(x[:, support], y)
        weights[support] = fitted.coef_[0]
    return weights


def _fit_sparse(x: FloatArray, y: BoolArray, max_rules: int, seed: int) -> tuple[FloatArray, float | None]:
    """Weights over the columns of ``x`` with at most ``max_rules`` non-zero, and the chosen L1 strength."""
    if x.shape[1] == 0:
        return np.zeros(0), None
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=seed).split(x, y))
    best: tuple[float, float] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        too_many = 0
        for c in _C_GRID:
            scores = []
            for fit_index, check_index in folds:
                support = _support(x[fit_index], y[fit_index], c, max_rules, seed)
                weights = _refit(x[fit_index], y[fit_index], support)
                auc = roc_auc(x[check_index] @ weights, y[check_index])
                scores.append(auc if auc is not None else 0.5)
            score = float(np.mean(scores))
            if best is None or score > best[1] + 1e-4:
                best = (c, score)
            # Past the rule budget, more strength only truncates: stop once it no longer helps.
            too_many = too_many + 1 if len(_support(x, y, c, x.shape[1], seed)) > max_rules else 0
            if too_many >= 2:
                break
        assert best is not None
        support = _support(x, y, best[0], max_rules, seed)
        return _refit(x, y, support), best[0]


# ---------------------------------------------------------------------------------------------------------
# From weights to rules with integer points


def _is_activity(candidate: Candidate) -> bool:
    return candidate.when is None


def _place(candidates: Sequence[Candidate], coefficients: FloatArray) -> list[_PlacedRule]:
    placed = []
    for column, (candidate, weight) in enumerate(zip(candidates, coefficients, strict=True)):
        if weight == 0:
            continue
        if not _is_activity(candidate) and weight < 0:
            placed.append(_PlacedRule(column, candidate, -float(weight), True))
        else:
            placed.append(_PlacedRule(column, candidate, float(weight), False))
    return placed


def _points_scale(placed: Sequence[_PlacedRule], train_x: FloatArray, score_max: int) -> float:
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


def _proposed_data(
    model: Model,
    placed: Sequence[_PlacedRule],
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


def _unmatched_guards(model: Model, table: FeatureTable, train: Sequence[int]) -> list[str]:
    """Current rules that take points away and matched nobody in the training history.

    History says nothing about them (a competitor rule, an unsubscribe penalty), so they are kept as they
    are rather than silently dropped.
    """
    values = table.values[train]
    guards = []
    for index, candidate in enumerate(table.candidates):
        if candidate.source is None or values[:, index].any():
            continue
        if candidate.source == (model.stagnation.id if model.stagnation else None):
            guards.append(candidate.source)
            continue
        for section, rule in model.iter_rules():
            if rule.id == candidate.source and (section == "negative" or rule.points < 0):
                guards.append(rule.id)
    return guards


# ---------------------------------------------------------------------------------------------------------
# Thresholds


def _share_at(totals: Sequence[int], threshold: float) -> float:
    return sum(1 for t in totals if t >= threshold) / len(totals) if totals else 0.0


def _thresholds(
    current: Model,
    draft: Model,
    totals: Sequence[int],
    current_totals: Sequence[int],
    won: Sequence[bool],
    *,
    target_precision: float | None,
    target_recall: float | None,
    capacity_per_week: float | None,
    leads_per_week: float | None,
    weeks: float | None,
    train_share: float,
) -> Thresholds:
    """MQL and SQL on the proposed scale, chosen on the training totals; ``how`` says how in words."""
    base = sum(won) / len(won) if won else 0.0
    notes = []
    mql_share = _share_at(current_totals, current.stages.mql)
    sql_share = _share_at(current_totals, current.stages.sql)
    top = float(draft.scale.max)

    mql: float | None
    if target_recall is not None:
        mql = threshold_for_recall(totals, won, target_recall)
        notes.append(f"MQL catches at least {target_recall:.0%} of customers")
    elif 0 < mql_share < 1:
        mql = threshold_for_volume(totals, mql_share)
        notes.append(f"MQL keeps the current share of contacts ({mql_share:.0%})")
    else:
        mql = threshold_for_recall(totals, won, 0.9)
        notes.append("MQL catches 90% of customers (the current model gives no usable MQL volume)")

    sql: float | None
    if target_precision is not None:
        sql = threshold_for_precision(totals, won, target_precision)
        notes.append(f"SQL converts at {target_precision:.0%} or better")
    elif capacity_per_week is not None:
        volume = leads_per_week or (len(totals) / train_share / weeks if weeks else None)
        if volume:
            sql = threshold_for_volume(totals, min(capacity_per_week / volume, 1.0))
            notes.append(f"SQL sends sales about {capacity_per_week:g} of {volume:.0f} new leads a week")
        else:
            sql = None
            notes.append("SQL capacity needs dated history or leads_per_week; the current SQL share is kept")
    elif 0 < sql_share < 1:
        sql = threshold_for_volume(totals, sql_share)
        notes.append(f"SQL keeps the current share of contacts ({sql_share:.0%})")
    else:
        target = min(0.9, 2 * base)
        sql = threshold_for_precision(totals, won, target)
        notes.append(f"SQL converts at {target:.0%} or better (twice the average lead)")
    if sql is None:
        sql = top if not 0 < sql_share < 1 else (threshold_for_volume(totals, sql_share) or top)
        notes.append("no threshold met the SQL target; SQL is set at the top of the scale")
    if mql is None or mql > sql:
        mql = sql
        notes.append("MQL is set at SQL, since its target asked for a higher threshold")
    return Thresholds(float(mql), float(sql), "; ".join(notes) + ".")


# ---------------------------------------------------------------------------------------------------------
# Reporting helpers


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


def _rule_changes(current: Model, proposed: Model, guards: Sequence[str]) -> list[RuleChange]:
    old, new = _rule_points(current), _rule_points(proposed)
    changes: list[RuleChange] = []
    for rule_id, (label, section, points) in old.items():
        if rule_id in new:
            note = "kept as is: no contact in this history matched it" if rule_id in guards else "re-weighted"
            changes.append(RuleChange(rule_id, label, section, points, new[rule_id][2], note))
        else:
            changes.append(RuleChange(rule_id, label, section, points, None, "dropped"))
    for rule_id, (label, section, points) in new.items():
        if rule_id not in old:
            changes.append(RuleChange(rule_id, label, section, None, points, "new"))
    return changes
