"""``regex:`` tests run by RE2: patterns that backtrack catastrophically in Python's ``re`` score long,
hostile CRM values in bounded time, and what RE2 cannot run is refused with its file, line and field."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from connectors.records import Contact
from scoring import ModelError, parse_model, score

NOW = datetime(2025, 1, 1, tzinfo=UTC)

# (pattern, a value that makes a backtracking engine explore exponentially many paths)
HOSTILE = [
    (r"^(\w+\s?)+$", "lead " * 1999 + "lead!"),
    (r"^(a+)+$", "a" * 9999 + "!"),
    (r"^(a|aa)+$", "a" * 9999 + "b"),
    (r"(x+x+)+y", "x" * 10_000),
    (r"^(\w|\d)*@example\.com$", "1" * 9999 + "!"),
]


def _model(pattern: str) -> str:
    quoted = pattern.replace("'", "''")
    return f"name: r\nfit:\n  rules:\n    - {{id: a, points: 5, when: {{field: title, regex: '{quoted}'}}}}\n"


@pytest.mark.parametrize(("pattern", "value"), HOSTILE, ids=[pattern for pattern, _ in HOSTILE])
def test_catastrophic_pattern_scores_long_value_in_bounded_time(pattern: str, value: str) -> None:
    model = parse_model(_model(pattern))
    contact = Contact(id="c1", updated_at=NOW, fields={"title": value})
    started = time.perf_counter()
    result = score(model, contact, [], NOW)
    elapsed = time.perf_counter() - started
    assert result.fit == 0  # none of the values matches
    # a hang guard, not a benchmark: RE2 takes milliseconds; Python's re would take hours or more
    assert elapsed < 5.0, f"{elapsed:.2f}s"


def test_matches_stay_matches() -> None:
    model = parse_model(_model(r"^(\w+\s?)+$"))
    contact = Contact(id="c1", updated_at=NOW, fields={"title": "VP Sales"})
    assert score(model, contact, [], NOW).fit == 5


def test_case_insensitive_by_default_and_unicode_case_folds() -> None:
    model = parse_model(_model("^émilie"))
    contact = Contact(id="c1", updated_at=NOW, fields={"title": "ÉMILIE Durand"})
    assert score(model, contact, [], NOW).fit == 5


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("a(?=b)", "look-ahead"),
        ("(?<=a)b", "look-ahead"),
        (r"(a)\1", "back-references"),
        ("a{1001}", "invalid repetition size"),
        ("([", "invalid regular expression"),
    ],
)
def test_what_re2_cannot_run_is_a_located_error(pattern: str, says: str) -> None:
    with pytest.raises(ModelError) as caught:
        parse_model(_model(pattern), "m.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.path) == ("m.yaml", 4, "fit.rules[0].when.regex")
    assert says in problem.message
