"""Calibration: metrics, CSV rows, the proposal (points, guard, thresholds), drift, MQL timing, report, CLI."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from connectors.records import Activity, Contact
from scoring import Model, parse_model, score
from scoring.calibrate import (
    CalibrationError,
    CalibrationRow,
    ColumnRoles,
    calibrate_rows,
    decile_bands,
    drift,
    evaluate,
    lift_at,
    propose,
    render_html,
    roc_auc,
    rows_from_csv,
    threshold_stats,
    to_json,
)
from scoring.calibrate._features import Candidate, FeatureTable
from scoring.calibrate._metrics import threshold_for_precision, threshold_for_recall, threshold_for_volume
from scoring.calibrate._points import place, points_scale, proposed_data
from scoring.calibrate.cli_support import EXIT_INVALID, EXIT_OK, parse_since, run_calibrate

NOW = datetime(2024, 6, 1, tzinfo=UTC)

MODEL_YAML = """
name: synthetic
fit:
  rules:
    - {id: software, label: software industry, when: {field: industry, equals: software}, points: 20}
    - {id: big, label: 200+ employees, when: {field: employees, gte: 200}, points: 15}
    - {id: leader, label: leader title, when: {field: title, contains_word: [vp, director, head]}, points: 20}
engagement:
  rules:
    - {id: demo, label: demo request, activity: demo_request, points: 30, max_times: 1}
    - {id: visits, label: page view, activity: page_view, points: 2, max_points: 10}
negative:
  rules:
    - {id: student, label: student, when: {field: title, contains_word: student}, points: -20}
    - {id: competitor, label: competitor, when: {field: company, equals: Rival Inc}, points: -100, applies_to: total}
stages: {mql: 40, sql: 70}
grades: {A: 40, B: 20, C: 0}
"""


def synthetic_history(
    n: int = 1200,
    seed: int = 3,
    now: datetime = NOW,
    days: int = 180,
    broken_since: datetime | None = None,
) -> list[CalibrationRow]:
    """Contacts whose chance of winning follows industry, size, title, demos and visits.

    From ``broken_since`` on, outcomes no longer depend on anything (the model has degraded).
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        created = now - timedelta(days=rng.uniform(0, days))
        industry = rng.choice(["software", "software", "retail", "finance", "health"])
        employees = int(math.exp(rng.uniform(1, 8)))
        title = rng.choice(["VP Sales", "Director of Ops", "Analyst", "Engineer", "Student", "Head of Growth"])
        country = rng.choice(["DE", "FR", "US", "US", "Select"])
        visits = rng.randint(0, 8)
        demo = rng.random() < 0.25
        latent = (
            -2.2
            + 1.2 * (industry == "software")
            + 0.9 * (employees >= 200)
            + 1.0 * (title.split()[0] in ("VP", "Director", "Head"))
            - 1.5 * (title == "Student")
            + 1.6 * demo
            + 0.15 * visits
            + 1.0 * (country == "US")  # signals the current model does not know
            - 0.8 * (industry == "retail")
        )
        probability = 1 / (1 + math.exp(-latent))
        if broken_since is not None and created >= broken_since:
            probability = 0.3
        won = rng.random() < probability
        activities = []
        for v in range(visits):
            activities.append(
                Activity(f"a{i}-v{v}", f"c{i}", "page_view", created + timedelta(hours=rng.uniform(1, 400)))
            )
        if demo:
            activities.append(
                Activity(f"a{i}-d", f"c{i}", "demo_request", created + timedelta(days=rng.uniform(1, 10)))
            )
        last = max((a.occurred_at for a in activities), default=created)
        closed = last + timedelta(days=rng.uniform(1, 20)) if won else None
        if closed is not None and closed >= now:
            closed = now - timedelta(seconds=1)
        fields = {
            "industry": industry,
            "employees": employees,
            "title": title,
            "country": None if country == "Select" else country,
            "created_at": created.isoformat(),
        }
        contact = Contact(id=f"c{i}", updated_at=created, fields=fields)
        rows.append(CalibrationRow(contact, tuple(a for a in activities if a.occurred_at < now), won, closed))
    return rows


@pytest.fixture(scope="module")
def model():
    return parse_model(MODEL_YAML, "synthetic.yaml")


@pytest.fixture(scope="module")
def history():
    return synthetic_history()


@pytest.fixture(scope="module")
def proposal(model, history):
    return propose(model, history, now=NOW, max_rules=12, seed=7)


# ---------------------------------------------------------------------------------------------------------
# Metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 20, size=500).astype(float)  # many ties, as engine totals have
    won = rng.random(500) < 1 / (1 + np.exp(-(scores - 10) / 4))
    assert roc_auc(scores, won) == pytest.approx(roc_auc_score(won, scores), abs=1e-12)


def test_roc_auc_is_undefined_with_one_outcome():
    assert roc_auc([1, 2, 3], [True, True, True]) is None


def test_lift_counts_the_top_share_and_shares_ties():
    scores = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    won = [True, True, False, False, False, False, False, False, False, False]
    top = lift_at(scores, won, 0.2)
    assert top.conversion == pytest.approx(1.0)
    assert top.lift == pytest.approx(5.0)
    assert top.captured == pytest.approx(1.0)
    flat = lift_at([5] * 10, won, 0.1)
    assert flat.lift == pytest.approx(1.0)


def test_threshold_stats_precision_and_recall():
    stats = threshold_stats([90, 80, 50, 40, 10], [True, False, True, False, True], 50)
    assert (stats.selected, stats.won_selected) == (3, 2)
    assert stats.precision == pytest.approx(2 / 3)
    assert stats.recall == pytest.approx(2 / 3)
    assert threshold_stats([1, 2], [True, False], 99).precision is None


def test_deciles_share_out_tied_scores():
    bands = decile_bands([0] * 100, [True] * 40 + [False] * 60)
    assert [b.contacts for b in bands] == [10] * 10
    assert all(b.conversion == pytest.approx(0.4) for b in bands)
    ranked = decile_bands(list(range(100)), [i >= 90 for i in range(100)])
    assert ranked[0].conversion == 1.0 and ranked[1].conversion == 0.0
    assert ranked[0].low == 90 and ranked[0].high == 99


def test_thresholds_for_precision_recall_and_volume():
    scores = [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]
    won = [True, True, True, False, True, False, False, True, False, False]
    assert threshold_for_precision(scores, won, 0.75) == 50  # 4 of 5 at 50+; lower cuts fall below 75%
    assert threshold_for_recall(scores, won, 0.8) == 50  # the highest cut catching 4 of 5 customers
    assert threshold_for_volume(scores, 0.3) == 70
    assert threshold_for_precision(scores, won, 1.01) is None


# ---------------------------------------------------------------------------------------------------------
# CSV rows


def test_rows_from_csv_reads_fields_placeholders_and_reports_bad_lines(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        "Lead Id,Source,Visits,Opted Out,Signed Up,Converted\n"
        "L1,Google,3,No,2024-05-01,1\n"
        "L2,Select,,Yes,2024-05-02,0\n"
        "L3,Google,many,No,not a date,1\n"
        "L4,Referral,2,No,2024-05-04,maybe\n"
        "L5,Referral,2\n"
        "L6, Direct ,7,no,2024-05-06T10:00:00Z,yes\n",
        encoding="utf-8",
    )
    rows = rows_from_csv(
        path,
        "Converted",
        now=NOW,
        roles=ColumnRoles(id_column="Lead Id", created_column="Signed Up", rename={"Source": "lead_source"}),
    )
    assert [r.contact.id for r in rows] == ["L1", "L2", "L3", "L6"]
    assert [r.won for r in rows] == [True, False, True, True]
    first, second, third, last = rows
    assert first.contact.fields == {
        "lead_source": "Google",
        "Visits": 3,
        "Opted Out": False,
        "created_at": "2024-05-01T00:00:00+00:00",
    }
    assert "lead_source" not in second.contact.fields  # "Select" is an unanswered form field
    assert "Visits" not in second.contact.fields
    assert second.contact.fields["Opted Out"] is True
    assert "Visits" not in third.contact.fields and third.created_at is None
    assert last.contact.fields["lead_source"] == "Direct"
    assert last.created_at == datetime(2024, 5, 6, 10, tzinfo=UTC)
    assert rows.fields == ["lead_source", "Visits", "Opted Out"]
    problems = [str(p) for p in rows.problems]
    assert problems == [
        "line 4, column 'Visits': 'many' is not a number; left empty",
        "line 4, column 'Signed Up': 'not a date' is not a date (use ISO 8601, 2024-05-31); left empty",
        "line 5, column 'Converted': 'maybe' is not an outcome (1/0, yes/no); skipped",
        "line 6: has 3 cells where the header has 6; skipped",
    ]


def test_rows_from_csv_names_the_columns_when_the_outcome_column_is_missing(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Id,Won\n1,1\n", encoding="utf-8")
    with pytest.raises(CalibrationError, match=r"no column 'Converted'.*Id, Won.*--outcome-column"):
        rows_from_csv(path, "Converted", now=NOW)
    with pytest.raises(CalibrationError, match="Cannot open"):
        rows_from_csv(tmp_path / "absent.csv", "Won", now=NOW)


def test_rows_from_csv_leaves_out_excluded_columns(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Tags,Source,Converted\nClosed by sales,Google,1\n,Direct,0\n", encoding="utf-8")
    rows = rows_from_csv(path, "Converted", now=NOW, roles=ColumnRoles(exclude=("Tags",)))
    assert all("Tags" not in r.contact.fields for r in rows)
    assert rows[0].contact.id == "line-2"


# ---------------------------------------------------------------------------------------------------------
# Evaluation and MQL timing


def test_evaluate_reports_auc_bands_and_stage_precision(model, history):
    evaluation = evaluate(model, history, NOW)
    assert evaluation.contacts == len(history)
    assert evaluation.won == sum(r.won for r in history)
    assert evaluation.auc is not None and evaluation.auc > 0.7
    assert sum(b.contacts for b in evaluation.deciles) == len(history)
    assert [b.label for b in evaluation.stages] == ["SQL", "MQL", "lead"]
    assert sum(b.contacts for b in evaluation.stages) == len(history)
    assert evaluation.sql.precision is not None and evaluation.sql.precision > evaluation.base_rate
    assert evaluation.lift_10.lift > 1.5
    assert {r.rule_id for r in evaluation.rules} >= {"software", "demo", "competitor"}


def test_mql_timing_replays_activity_history():
    model = parse_model(
        "name: timing\nengagement:\n  rules:\n    - {id: demo, label: demo, activity: demo_request, points: 50}\n"
        "stages: {mql: 40, sql: 90}\n"
    )
    rows = []
    for i, days_before in enumerate([10, 20, 30]):
        won_at = NOW - timedelta(days=5)
        demo_at = won_at - timedelta(days=days_before)
        activities = (
            Activity(f"p{i}", f"c{i}", "page_view", demo_at - timedelta(days=3)),
            Activity(f"d{i}", f"c{i}", "demo_request", demo_at),
            Activity(f"late{i}", f"c{i}", "demo_request", won_at + timedelta(days=1)),  # after the win: ignored
        )
        rows.append(CalibrationRow(Contact(f"c{i}", NOW), activities, True, won_at))
    never = CalibrationRow(
        Contact("n", NOW), (Activity("pv", "n", "page_view", NOW - timedelta(days=9)),), True, NOW - timedelta(days=2)
    )
    timing = evaluate(model, [*rows, never, CalibrationRow(Contact("lost", NOW))], NOW).timing
    assert timing is not None
    assert (timing.won_with_history, timing.crossed, timing.never_crossed) == (4, 3, 1)
    assert timing.median_days_before_win == pytest.approx(20)


# ---------------------------------------------------------------------------------------------------------
# Proposal


def test_proposal_is_a_valid_sparse_integer_model_scored_by_the_engine(proposal, history):
    assert proposal.accepted, proposal.reason
    assert proposal.split.startswith("time-based split")
    proposed = parse_model(proposal.model_text, "proposed.yaml")
    rules = list(proposed.iter_rules())
    assert proposal.rule_count == len(rules) <= 12
    for section, rule in rules:
        assert float(rule.points).is_integer(), rule
        if section == "fit":
            assert rule.points > 0  # rules that lower fit are written as their opposite
    assert proposal.model_text.startswith("# Proposed by leadsync calibrate on 2024-06-01")
    assert f"Held-out ROC AUC {proposal.holdout_auc_proposed:.3f}" in proposal.model_text
    # The held-out figure is the engine's: rescore the held-out rows from the file text.
    dated = sorted(history, key=lambda r: (r.date, history.index(r)))
    holdout = dated[-proposal.holdout_rows :]
    totals = []
    for row in holdout:
        moment = row.closed_at if row.closed_at is not None and row.closed_at < NOW else NOW
        kept = [a for a in row.activities if a.occurred_at <= moment]
        totals.append(score(proposed, row.contact, kept, moment).total)
    assert roc_auc(totals, [r.won for r in holdout]) == pytest.approx(proposal.holdout_auc_proposed)
    assert proposal.holdout_auc_proposed >= proposal.holdout_auc_current
    assert proposal.thresholds is not None and proposal.thresholds.mql <= proposal.thresholds.sql
    assert proposed.stages.mql == proposal.thresholds.mql
    # A guard that history never exercised is kept as it was; current rules keep their ids.
    competitor = next(rule for _, rule in rules if rule.id == "competitor")
    assert competitor.points == -100
    notes = {change.rule_id: change.note for change in proposal.rules}
    assert notes["competitor"].startswith("kept as is")
    assert notes["demo"] == "re-weighted" and notes["software"] == "re-weighted"
    # A penalty history says should lower fit is written as its opposite, or left out if it adds nothing.
    assert notes["student"] in ("written as its opposite, not_student", "dropped")
    flipped = [rule for rule in proposed.fit.rules if rule.id.startswith("not_")]
    assert all(rule.when.operator == "not" and rule.points > 0 for rule in flipped)


def test_proposal_is_deterministic_for_a_seed(model, history, proposal):
    again = propose(model, history, now=NOW, max_rules=12, seed=7)
    assert again.model_text == proposal.model_text


def test_never_worse_guard_keeps_a_better_current_model(model, history, tmp_path):
    # One rule cannot match a current model that already weighs five signals well.
    worse = propose(model, history, now=NOW, max_rules=2, seed=7)
    assert not worse.accepted
    assert worse.holdout_auc_proposed < worse.holdout_auc_current
    assert "worse" in worse.reason and "current model is kept" in worse.reason
    out = tmp_path / "proposed.yaml"
    run = calibrate_rows(history, model, NOW, 7, out, max_rules=2)
    assert not out.exists()
    assert "pass --force" in run.summary
    forced = calibrate_rows(history, model, NOW, 7, out, max_rules=2, force=True)
    assert out.exists() and forced.model_written == out


def test_rules_history_cannot_weigh_are_kept_by_default_without_activities_or_dropped_on_request(model, history):
    # An export without activities cannot weigh engagement rules; the CRM will still have activities.
    fields_only = [CalibrationRow(r.contact, (), r.won, r.closed_at) for r in history]
    dropped = propose(model, fields_only, now=NOW, max_rules=12, keep_unmatched=False)
    notes = {change.rule_id: change.note for change in dropped.rules}
    assert notes["demo"] == notes["visits"] == "dropped: no contact in this history matched it"
    assert not dropped.kept_engagement_by_default
    for kept in (
        propose(model, fields_only, now=NOW, max_rules=12, keep_unmatched=True),
        propose(model, fields_only, now=NOW, max_rules=12),
    ):
        proposed = parse_model(kept.model_text)
        assert [(r.id, r.points) for r in proposed.engagement.rules] == [("demo", 30), ("visits", 2)]
        assert kept.rule_count <= 12
    assert kept.kept_engagement_by_default
    run = calibrate_rows(fields_only, model, NOW, 7, max_rules=12)
    assert "no activities, so the current engagement rules" in run.summary


def test_not_enough_history_is_a_sentence_not_a_crash(model):
    rows = synthetic_history(n=30)
    result = propose(model, rows, now=NOW)
    assert not result.accepted and result.model_text is None
    assert "Not enough history" in result.reason


def test_thresholds_follow_precision_recall_and_capacity_targets(model, history):
    precise = propose(model, history, now=NOW, max_rules=12, target_precision=0.7, target_recall=0.9)
    assert precise.thresholds is not None
    assert "SQL converts at 70% or better" in precise.thresholds.how
    assert "MQL catches at least 90% of customers" in precise.thresholds.how
    sql_band = precise.holdout_proposed.sql
    assert sql_band.precision is not None and sql_band.precision > 0.5
    weekly = len(history) / (180 / 7)
    capped = propose(model, history, now=NOW, max_rules=12, capacity_per_week=weekly / 10)
    assert capped.thresholds is not None and "SQL sends sales about" in capped.thresholds.how
    share = capped.holdout_proposed.sql.selected / capped.holdout_rows
    assert share <= 0.2


def test_calibration_settings_come_from_the_model_file(history):
    configured = parse_model(MODEL_YAML + "calibration: {max_rules: 3}\n")
    result = propose(configured, history, now=NOW)
    assert result.max_rules == 3 and result.rule_count <= 3


def test_weights_become_integer_points_with_opposites_and_a_full_scale():
    candidates = [
        Candidate(
            "a", "a is x", "fit", {"field": "a", "equals": "x"}, {"not": {"field": "a", "equals": "x"}}, "a is not x"
        ),
        Candidate(
            "b", "b is empty", "fit", {"field": "b", "missing": True}, {"field": "b", "exists": True}, "b is answered"
        ),
        Candidate("demo", "demo request (each, up to 4)", "engagement", activity="demo_request", max_times=4),
    ]
    values = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0.5]], dtype=float)
    placed = place(candidates, np.array([2.0, -1.0, 1.0]))
    assert [(p.candidate.key, p.weight, p.flipped) for p in placed] == [
        ("a", 2.0, False),
        ("b", 1.0, True),
        ("demo", 1.0, False),
    ]
    # Raw totals with "b" flipped: 2 + 1 + 1 = 4, 0 + 0 + 0 = 0, 2 + 0 + 0.5 = 2.5: the top one lands on 100.
    scale = points_scale(placed, values, 100)
    assert scale == pytest.approx(25)
    table = FeatureTable(tuple(candidates), values, np.array([True, False, True]), np.ones(3))
    data = proposed_data(parse_model("name: t"), placed, scale, [], table, "test")
    assert data["fit"]["rules"] == [
        {"id": "a_is_x", "label": "a is x", "when": {"field": "a", "equals": "x"}, "points": 50},
        {"id": "b_is_answered", "label": "b is answered", "when": {"field": "b", "exists": True}, "points": 25},
    ]
    # 25 points over up to 4 demos: 6 each, capped at 25.
    assert data["engagement"]["rules"] == [
        {
            "label": "demo request (each, up to 4)",
            "activity": "demo_request",
            "points": 6,
            "max_points": 25,
            "max_times": 4,
            "id": "demo_request_each_up_to_4",
        }
    ]
    assert Model.model_validate(data).scale.max == 100


# ---------------------------------------------------------------------------------------------------------
# Drift


def test_drift_says_plainly_when_the_model_has_degraded(model):
    rows = synthetic_history(n=3000, days=60, broken_since=NOW - timedelta(days=30), seed=5)
    report = drift(model, rows, NOW, period_days=30)
    assert report.degraded is True
    assert "the model has degraded; run calibrate" in report.verdict
    assert report.verdict.startswith("Conversion of ") or "ROC AUC" in report.verdict


def test_drift_says_when_the_model_still_holds(model):
    rows = synthetic_history(n=3000, days=60, seed=5)
    report = drift(model, rows, NOW, period_days=30)
    assert report.degraded is False
    assert "has not degraded" in report.verdict


def test_drift_needs_dated_history(model, history):
    undated = [CalibrationRow(Contact(r.contact.id, NOW, {"industry": "x"}), (), r.won) for r in history[:50]]
    report = drift(model, undated, NOW)
    assert report.degraded is None and "Not enough dated history" in report.verdict


# ---------------------------------------------------------------------------------------------------------
# Report, JSON and the CLI helper


def test_report_has_every_chart_and_json_is_plain(model, history, proposal):
    evaluation = evaluate(model, history, NOW)
    report = drift(model, synthetic_history(n=800, days=60, seed=9), NOW)
    html = render_html(evaluation, proposal, report)
    for chart in ("histogram", "histogram-proposed", "bands", "roc", "lift", "points", "drift"):
        assert f'data-chart="{chart}"' in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    data = to_json(evaluation, proposal, report)
    text = json.dumps(data)
    assert data["proposal"]["holdout_auc_proposed"] == proposal.holdout_auc_proposed
    assert data["evaluation"]["lift_10"]["lift"] == evaluation.lift_10.lift
    assert "totals" not in data["evaluation"] and len(text) < 200_000


def test_cli_support_runs_a_csv_and_reports_bad_input(tmp_path):
    rng = random.Random(1)
    lines = ["Id,Source,Minutes,Converted"]
    for i in range(400):
        source = rng.choice(["Google", "Referral", "Select", "Direct"])
        minutes = rng.randint(0, 60)
        chance = 0.15 + 0.4 * (source == "Referral") + 0.4 * (minutes > 30)
        lines.append(f"{i},{source},{minutes},{int(rng.random() < chance)}")
    lines.append("x,Google,3,perhaps")
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_model, out_html = tmp_path / "proposed.yaml", tmp_path / "report.html"
    code, text = run_calibrate(
        csv_path=str(csv_path),
        outcome_column="Converted",
        now=NOW,
        id_column="Id",
        out_model=str(out_model),
        out_html=str(out_html),
        max_rules=14,  # the starter's 8 penalties that no row exercised are kept, and count
        keep_unmatched=False,
    )
    assert code == EXIT_OK, text
    assert "Read 400 contacts from export.csv" in text
    assert "line 402, column 'Converted': 'perhaps' is not an outcome" in text
    assert "matched no contact in this history" in text and "--keep-unmatched" in text
    assert out_model.exists() and out_html.exists()
    assert "Referral" in out_model.read_text(encoding="utf-8")
    code, text = run_calibrate(csv_path=str(csv_path), outcome_column="Won", now=NOW, evaluate_only=True)
    assert code == EXIT_INVALID and "no column 'Won'" in text
    code, text = run_calibrate(csv_path=str(csv_path), outcome_column="Converted", now=NOW, since="soon")
    assert code == EXIT_INVALID and "--since" in text
    code, text = run_calibrate(
        csv_path=str(csv_path), outcome_column="Converted", now=NOW, model_path=str(tmp_path / "none.yaml")
    )
    assert code == EXIT_INVALID and "model file cannot be used" in text
    code, text = run_calibrate(
        csv_path=str(csv_path), outcome_column="Converted", now=NOW, evaluate_only=True, as_json=True
    )
    assert code == EXIT_OK and json.loads(text)["evaluation"]["contacts"] == 400
    assert parse_since("4w") == 28 and parse_since("30d") == 30


def test_outputs_are_written_where_asked(model, history, tmp_path: Path):
    run = calibrate_rows(
        history,
        model,
        NOW,
        7,
        tmp_path / "m.yaml",
        tmp_path / "r.html",
        out_json_path=tmp_path / "r.json",
        max_rules=12,
    )
    assert run.model_written and run.html_written and run.json_written
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["proposal"]["accepted"] is True
