"""Segments: audiences named in the model file, evaluated with the score, explained and tested by examples."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.records import Activity
from scoring import STARTER_MODEL_PATH, ModelError, explain_segments, load_model, run_examples, score
from scoring.engine import compile_model
from tests.scoring.conftest import NOW, act, contact, make_model

BASE = """\
fit:
  rules:
    - {id: vp, label: vp, when: {field: title, contains_word: [vp]}, points: 30}
engagement:
  rules:
    - {id: demo, label: demo, activity: demo_request, points: 40, decay: none}
labels: {cuts: {hot: 60, warm: 30, cold: 0}}
stages: {mql: 40, sql: 75}
tiers:
  - {tier: P1, activity: demo_request, within: 24h, respond_within: 10m}
"""


def segments_model(segments: str, extra: str = "") -> str:
    return BASE + "segments:\n" + "".join(f"  {line}\n" for line in segments.strip().splitlines()) + extra


def at(activity_type: str, age: timedelta, activity_id: str) -> Activity:
    return Activity(id=activity_id, contact_id="c1", type=activity_type, occurred_at=NOW - age)


MODEL = make_model(
    segments_model(
        """
nurture: score < 40 and not unsubscribed
hot_not_contacted: label == hot and no call in 7d
vp_any: (grade in [A, B] or title contains vp) and stage != sql
p1: tier == P1
big: {field: employees, gte: 1000}
ever_unsubscribed: any unsubscribe
"""
    )
)


def test_segments_are_named_in_model_order_and_follow_the_score() -> None:
    cold = score(MODEL, contact(title="Intern"), [], NOW)
    assert cold.total == 0 and cold.segments == ("nurture",)

    hot = score(MODEL, contact(title="VP Sales", employees="1,200"), [act("demo_request", hours=2)], NOW)
    assert hot.label == "hot" and hot.tier == "P1"
    assert hot.segments == ("hot_not_contacted", "vp_any", "p1", "big")


def test_field_tests_mean_what_they_mean_in_rules() -> None:
    opted_out = score(MODEL, contact(title="Intern", unsubscribed="Yes"), [], NOW)
    assert "nurture" not in opted_out.segments, "a yes/no field that says yes"
    assert "big" not in score(MODEL, contact(employees="n/a"), [], NOW).segments
    assert "big" in score(MODEL, contact(employees="1000-5000"), [], NOW).segments


def test_no_activity_in_a_window_turns_with_time_and_next_change_at_says_when() -> None:
    call = at("call", timedelta(days=6), "call-1")
    demo = at("demo_request", timedelta(days=1), "demo-1")
    vp = contact(title="VP Sales")
    called = score(MODEL, vp, [demo, call], NOW)
    assert called.label == "hot" and "hot_not_contacted" not in called.segments
    # the call leaves the 7-day window one day from now: the segment changes then, so rescoring must happen then
    leaves = NOW + timedelta(days=1)
    assert called.next_change_at is not None and called.next_change_at <= leaves
    later = score(MODEL, vp, [demo, call], leaves)
    assert "hot_not_contacted" in later.segments
    before = score(MODEL, vp, [demo, call], leaves - timedelta(seconds=1))
    assert "hot_not_contacted" not in before.segments


def test_any_activity_ever_and_one_not_yet_happened() -> None:
    assert "ever_unsubscribed" in score(MODEL, contact(), [at("unsubscribe", timedelta(days=900), "u1")], NOW).segments
    future = at("unsubscribe", -timedelta(days=2), "u2")
    result = score(MODEL, contact(), [future], NOW)
    assert "ever_unsubscribed" not in result.segments
    assert result.next_change_at is not None and result.next_change_at <= future.occurred_at


def test_both_engine_paths_give_the_same_segments() -> None:
    compiled = compile_model(MODEL)
    records = [at("demo_request", timedelta(hours=3), "d"), at("call", timedelta(days=8), "c")]
    vp = contact(title="VP Sales", employees=5000)
    assert compiled.score(vp, records, NOW) == compiled.score_reference(vp, records, NOW)


def test_explain_says_which_segments_and_why() -> None:
    vp = contact(title="VP Sales")
    records = [at("demo_request", timedelta(hours=2), "d"), at("call", timedelta(days=9), "c")]
    result = score(MODEL, vp, records, NOW)
    answers = {a.name: a for a in explain_segments(MODEL, vp, records, result)}
    assert list(answers) == ["nurture", "hot_not_contacted", "vp_any", "p1", "big", "ever_unsubscribed"]
    assert answers["hot_not_contacted"].matched
    assert answers["hot_not_contacted"].why == "label == hot (label is hot); no call in 7d (last call 9d ago)"
    assert not answers["nurture"].matched and answers["nurture"].why == "score < 40 (score is 70)"
    assert not answers["big"].matched and answers["big"].why == "condition (employees is empty)"
    assert [a.name for a in answers.values() if a.matched] == list(result.segments)


def test_a_model_without_segments_keeps_its_version() -> None:
    plain = make_model(BASE)
    same = make_model(BASE + "segments: {}\n")
    assert plain.version == same.version
    assert make_model(segments_model("x: score > 10")).version != plain.version


EXAMPLES = """
examples:
  - name: cold intern
    now: 2024-05-01T12:00:00Z
    contact: {fields: {title: Intern}}
    expect: {segments: [nurture]}
  - name: hot VP nobody called
    now: 2024-05-01T12:00:00Z
    contact: {fields: {title: VP Sales}}
    activities: [{type: demo_request, ago: 2h}]
    expect: {label: hot, segments: [hot_not_contacted]}
"""


def test_examples_expect_segments_and_a_failure_shows_why() -> None:
    good = make_model(
        segments_model("nurture: score < 40\nhot_not_contacted: label == hot and no call in 7d", EXAMPLES)
    )
    assert [o.passed for o in run_examples(good)] == [True, True]

    wrong = EXAMPLES.replace("expect: {segments: [nurture]}", "expect: {segments: []}")
    outcomes = run_examples(make_model(segments_model("nurture: score < 40\nhot_not_contacted: label == hot", wrong)))
    assert [o.passed for o in outcomes] == [False, True]
    diff = outcomes[0].diff.splitlines()
    assert diff[0] == "segments: expected [], got [nurture] (also in [nurture])"
    assert "  segment nurture: in: score < 40 (score is 0)" in diff


def test_an_example_expecting_an_undefined_segment_is_refused() -> None:
    with pytest.raises(ModelError, match="example 'cold intern' expects segment 'nurture', which segments: does not"):
        make_model(segments_model("other: score < 40", EXAMPLES))


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        ("hot: label == hott", "segment 'hot': label is one of hot, warm, cold; 'hott' is none of them"),
        ("hot: score >= hot", "segment 'hot': score is a number; `score >= hot` compares it with text"),
        ("hot: grade < B", "segment 'hot': grade is a name; compare it with ==, !=, in or not in, not `<`"),
        ("quiet: no cal in 7d", "segment 'quiet': unknown activity type 'cal' (did you mean 'call'?)"),
        ("quiet: no call in 7x", "segment 'quiet': expected a duration such as 7d, 24h or 2w after `in`, not '7x'"),
        ("open: (score < 40", "segment 'open': a `(` is never closed"),
        ("dangling: score < 40 and", "segment 'dangling': expected a test at the end"),
        ("two: score < 40 label == hot", "segment 'two': unexpected 'label' at character 12; join tests with"),
        ("sized: employees > lots", "segment 'sized': `employees > lots` needs a number after >"),
        ("p9: tier == P9", "segment 'p9': tier is one of P1; 'P9' is none of them"),
        ("cell: matrix == Z9", "segment 'cell': matrix is one of A1, A2, A3, A4, B1"),
        ("Hot-Leads: score > 1", "segment name 'Hot-Leads': use 1-40 lower-case letters, digits and _"),
        ("empty: ''", "segment 'empty': the expression is empty"),
        ("cond: {field: title, pionts: 3}", "segment 'cond': pionts: Extra inputs are not permitted"),
    ],
)
def test_bad_segments_are_refused_naming_the_segment_and_the_line(definition: str, problem: str) -> None:
    with pytest.raises(ModelError) as caught:
        make_model(segments_model(definition))
    message = str(caught.value)
    assert problem in message
    assert "test.yaml:12 segments:" in message, "the file and the line of the segments: block"


def test_a_label_segment_needs_a_labels_block() -> None:
    with pytest.raises(ModelError, match="segment 'hot': the model has no labels: block"):
        make_model("segments: {hot: label == hot}\n")


def test_the_starter_model_hands_nurture_contacts_over() -> None:
    starter = load_model(STARTER_MODEL_PATH)
    assert list(starter.segments) == ["nurture", "hot_not_contacted"]
    assert all(outcome.passed for outcome in run_examples(starter))
    unsubscribed = score(starter, contact(title="Intern"), [at("unsubscribe", timedelta(days=3), "u")], NOW)
    assert unsubscribed.stage == "lead" and unsubscribed.segments == ()
