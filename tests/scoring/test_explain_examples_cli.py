"""explain(), the model's examples, and the functions behind `leadsync model ...`."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import STARTER_MODEL_PATH, Model, ScoreResult, explain, parse_model, run_examples, score
from scoring.cli_support import demo_table, schema_command, validate_command
from scoring.cli_support import test_command as run_test_command  # not named test_*: pytest would collect it
from scoring.result import Reason

from .conftest import NOW, act, contact, make_model

EXPLAINED = """\
fit:
  rules:
    - {id: size, label: 100+ employees, when: {field: employees, gte: 100}, points: 15}
engagement:
  rules:
    - {id: demo, label: demo request, activity: demo_request, points: 25, decay: {half_life_days: 3000}}
    - {id: visit, label: visit, activity: page_view, points: 1, decay: none}
negative:
  rules:
    - {id: unsub, label: unsubscribed, activity: unsubscribe, points: -10}
"""


def explained_result() -> ScoreResult:
    activities = [act("demo_request", 2), act("unsubscribe", 5), act("page_view", 1), act("page_view", 3)]
    return score(make_model(EXPLAINED), contact(employees="500"), activities, NOW)


def test_explain_is_one_line_most_important_first() -> None:
    assert explain(explained_result()) == "+25 demo request 2d ago; +15 100+ employees; -10 unsubscribed; +2 visit x2"


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (74, "+25 demo request 2d ago; +15 100+ employees; -10 unsubscribed; +2 visit x2"),
        (73, "+25 demo request 2d ago; +15 100+ employees; -10 unsubscribed; ..."),
        (60, "+25 demo request 2d ago; +15 100+ employees; ..."),
        (45, "+25 demo request 2d ago; ..."),
        (20, "+25 demo request 2d\u2026"),
        (0, ""),
    ],
)
def test_explain_cuts_cleanly_at_a_separator(limit: int, expected: str) -> None:
    assert explain(explained_result(), max_length=limit) == expected


def test_explain_ages_from_a_given_moment() -> None:
    assert explain(explained_result(), now=NOW + timedelta(days=10)).startswith("+25 demo request 12d ago")


def test_explain_without_reasons() -> None:
    assert explain(score(make_model(EXPLAINED), contact(), [], NOW)) == "no scoring rules matched"


@given(st.integers(0, 300))
def test_explain_always_fits(limit: int) -> None:
    assert len(explain(explained_result(), max_length=limit)) <= limit


@pytest.mark.parametrize(("hours", "text"), [(0.001, "just now"), (0.5, "30m ago"), (5, "5h ago"), (49, "2d ago")])
def test_explain_age_units(hours: float, text: str) -> None:
    result = score(make_model(EXPLAINED), contact(), [act("demo_request", hours=hours)], NOW)
    assert explain(result) == f"+25 demo request {text}"


def test_reasons_rounding_to_zero_are_left_out() -> None:
    reason = Reason("r", "tiny", "engagement", 0.4, ())
    result = explained_result()
    assert explain(dataclasses.replace(result, reasons=(reason,))) == "no scoring rules matched"


def test_starter_examples_pass(starter: Model) -> None:
    outcomes = run_examples(starter)
    assert len(outcomes) >= 5
    assert all(o.passed for o in outcomes), "\n".join(o.diff for o in outcomes)


FAILING_EXAMPLE = """\
name: examples
fit:
  rules:
    - {id: vp, label: vp title, when: {field: title, contains_word: [vp]}, points: 30}
examples:
  - name: a vp
    now: 2024-05-01T12:00:00Z
    contact: {fields: {title: VP Sales}}
    activities:
      - {type: page_view, ago: 2d}
      - {type: demo_request, at: 2024-04-30T12:00:00Z}
    expect: {total: 30, grade: C, stage: lead, tier: none}
  - name: wrong
    now: 2024-05-01T12:00:00Z
    contact: {fields: {title: Intern}}
    expect: {total: 30, stage: mql}
"""


def test_a_failing_example_shows_the_difference() -> None:
    first, second = run_examples(parse_model(FAILING_EXAMPLE))
    assert first.passed and first.diff == ""
    assert not second.passed
    assert second.diff.splitlines()[:3] == [
        "total: expected 30, got 0",
        "stage: expected mql, got lead",
        "actual: total 0 (fit 0, engagement 0), grade D, stage lead, matrix D4, label none, tier none",
    ]


def test_validate_command(tmp_path: Path) -> None:
    code, text = validate_command(STARTER_MODEL_PATH)
    assert code == 0 and "OK, model 'starter' version" in text
    broken = tmp_path / "scoring.yaml"
    broken.write_text("name: x\nfit: {rules: [{id: a, when: {field: f, exists: true}, pionts: 1}]}\n")
    code, text = validate_command(broken)
    assert code == 2
    assert f"{broken}:2 fit.rules[0]: unknown key 'pionts' (did you mean 'points'?)" in text
    assert text.endswith("2 problems found")


def test_test_command(tmp_path: Path) -> None:
    code, text = run_test_command(STARTER_MODEL_PATH)
    assert code == 0 and text.splitlines()[-1].endswith("examples passed")
    path = tmp_path / "examples.yaml"
    path.write_text(FAILING_EXAMPLE)
    code, text = run_test_command(path)
    assert code == 1
    assert "PASS a vp" in text and "FAIL wrong" in text and "    total: expected 30, got 0" in text
    path.write_text("name: [")
    assert run_test_command(path)[0] == 2
    path.write_text("name: none\n")
    assert run_test_command(path) == (0, f"{path}: no examples to run (add some under examples:)")


def test_schema_command_prints_json() -> None:
    schema = json.loads(schema_command())
    assert schema["$schema"].startswith("https://json-schema.org/")


def test_demo_table(starter: Model) -> None:
    table = demo_table(starter, NOW)
    lines = table.splitlines()
    assert lines[0].startswith(f"model starter (version {starter.version})")
    assert lines[1].split()[:3] == ["contact", "total", "fit"]
    assert len(lines) == 3 + len(starter.examples)
    assert "P1" in table and "demo request" in table
    assert demo_table(make_model(EXPLAINED), NOW).endswith("(no examples in the model)")


def test_the_small_model_in_the_docs_scores_as_the_docs_say() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "model.md").read_text()
    block = docs.split("## A small model", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    model = parse_model(block, "docs/model.md")
    person = contact(title="VP Engineering", industry="Software", employees="500")
    result = score(model, person, [act("demo_request", 2)], NOW)
    assert (result.fit, result.engagement, result.total, result.stage, result.grade) == (25, 24, 49, "mql", "C")
    assert explain(result) == "+24 demo request 2d ago; +15 100+ employees; +10 IT/software industry"
