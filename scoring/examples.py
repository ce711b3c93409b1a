"""The ``examples:`` of a model file: worked cases that must keep scoring as the file says.

``run_examples(model)`` scores each example and compares what it expects (any of total, fit,
engagement, grade, stage, label, matrix, tier, segments); a failing example carries a readable diff with the
reasons behind the actual score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.records import Activity, Contact

from .engine import score
from .explain import reason_text
from .model import Example, Model, example_datetime
from .result import ScoreResult
from .segments import explain_segments

_EXPECTED_KEYS = ("total", "fit", "engagement", "grade", "stage", "label", "matrix", "tier")


@dataclass(frozen=True, slots=True)
class ExampleOutcome:
    name: str
    passed: bool
    diff: str  # empty when the example passed
    result: ScoreResult


def example_records(example: Example, index: int = 0, now: datetime | None = None) -> tuple[Contact, list[Activity]]:
    """The contact and activities an example describes (times moved to ``now`` when given)."""
    shift = (now - example.now) if now is not None else None
    contact = Contact(
        id=example.contact.id,
        updated_at=now or example.now,
        fields=dict(example.contact.fields),
    )
    activities = []
    for position, spec in enumerate(example.activities):
        occurred = example_datetime(example, spec)
        if shift is not None:
            occurred += shift
        activities.append(
            Activity(
                id=spec.id or f"ex{index + 1}-a{position + 1}",
                contact_id=contact.id,
                type=spec.type,
                occurred_at=occurred,
                attributes=dict(spec.attributes),
            )
        )
    return contact, activities


def _actual(result: ScoreResult, key: str) -> object:
    value = getattr(result, key)
    if key in ("label", "tier") and value is None:
        return "none"
    return value


def _names(names: Sequence[str]) -> str:
    return "[" + ", ".join(names) + "]"


def compare(example: Example, result: ScoreResult) -> list[str]:
    """One line per expected value that differs: ``total: expected 70, got 65``."""
    lines = []
    expected_segments = example.expect.segments
    if expected_segments is not None and set(expected_segments) != set(result.segments):
        missing = [name for name in expected_segments if name not in result.segments]
        extra = [name for name in result.segments if name not in expected_segments]
        detail = "; ".join(
            part
            for part in (f"not in {_names(missing)}" if missing else "", f"also in {_names(extra)}" if extra else "")
            if part
        )
        lines.append(f"segments: expected {_names(expected_segments)}, got {_names(result.segments)} ({detail})")
    for key in _EXPECTED_KEYS:
        expected = getattr(example.expect, key)
        if expected is None:
            continue
        actual = _actual(result, key)
        if expected != actual:
            lines.append(f"{key}: expected {expected}, got {actual}")
    return lines


def describe(result: ScoreResult, show_segments: bool = False) -> list[str]:
    """The actual score and its reasons, for a failing example's diff (its segments when the model has any)."""
    lines = [
        f"actual: total {result.total} (fit {result.fit}, engagement {result.engagement}), grade {result.grade}, "
        f"stage {result.stage}, matrix {result.matrix}, label {result.label or 'none'}, tier {result.tier or 'none'}"
        + (f", segments {_names(result.segments)}" if show_segments else "")
    ]
    if not result.reasons:
        lines.append("  no rule fired")
    for reason in result.reasons:
        lines.append(f"  {reason_text(reason, result.scored_at)}  [{reason.rule}, {reason.applies_to}]")
    lines.extend(f"  warning: {warning}" for warning in result.warnings)
    return lines


def run_example(model: Model, example: Example, index: int = 0) -> ExampleOutcome:
    contact, activities = example_records(example, index)
    result = score(model, contact, activities, example.now)
    differences = compare(example, result)
    lines = [*differences, *describe(result, bool(model.segments))] if differences else []
    if any(line.startswith("segments:") for line in differences):
        for answer in explain_segments(model, contact, activities, result):
            lines.append(f"  segment {answer.name}: {'in' if answer.matched else 'not in'}: {answer.why}")
    diff = "\n".join(lines)
    return ExampleOutcome(example.name, not differences, diff, result)


def run_examples(model: Model) -> list[ExampleOutcome]:
    """Score every example of the model and compare with what it expects."""
    return [run_example(model, example, index) for index, example in enumerate(model.examples)]


def summary(outcomes: Sequence[ExampleOutcome]) -> str:
    passed = sum(1 for outcome in outcomes if outcome.passed)
    return f"{passed} of {len(outcomes)} examples passed"
