"""Each rule kind, scale, grade, label, matrix, stage, tier and the result's bookkeeping."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from connectors.records import ActivityType
from scoring import Model, ScoreResult, score, score_many
from scoring.result import Evidence, Reason, Reasons

from .conftest import NOW, act, contact, make_model

FIT = """\
fit:
  rules:
    - {id: software, label: software, when: {field: industry, contains: software}, points: 10}
    - {id: size, label: 100+ employees, when: {field: employees, gte: 100}, points: 15}
    - {id: vp, label: vp, when: {field: title, contains_word: [vp]}, points: 20}
"""


def reason(result: ScoreResult, rule_id: str) -> Reason:
    return next(r for r in result.reasons if r.rule == rule_id)


def test_fit_rules_add_up_with_field_evidence() -> None:
    model = make_model(FIT)
    result = score(model, contact(industry="Software", employees="1,000", title="Engineer"), [], NOW)
    assert (result.fit, result.engagement, result.total) == (25, 0, 25)
    size = reason(result, "size")
    assert size.component == "fit" and size.applies_to == "fit" and size.points == 15
    assert size.evidence == (Evidence(None, None, 1.0, 15, "employees", "1,000"),)
    assert [r.rule for r in result.reasons] == ["software", "size"]


@pytest.mark.parametrize(
    ("rule", "activities", "expected"),
    [
        ("{activity: page_view, points: 5}", [("page_view", 1), ("page_view", 2)], 10),
        ("{activity: page_view, points: 5, max_points: 12}", [("page_view", 0)] * 3, 12),
        ("{activity: page_view, points: 5, max_times: 2}", [("page_view", 0)] * 3, 10),
        ("{activity: page_view, points: 5, within_days: 7}", [("page_view", 1), ("page_view", 8)], 5),
        ("{activity: [page_view, email_click], points: 5}", [("page_view", 1), ("email_click", 1)], 10),
        ("{activity: page_view, points: 5}", [("email_open", 1)], 0),
    ],
)
def test_engagement_points_caps_windows_types(rule: str, activities: list[tuple[str, float]], expected: int) -> None:
    model = make_model(f"engagement:\n  rules:\n    - {{id: r, {rule[1:]}\n")
    result = score(model, contact(), [act(t, d) for t, d in activities], NOW)
    assert result.engagement == expected


def test_attribute_filter_on_activities() -> None:
    model = make_model(
        "engagement:\n  rules:\n"
        "    - {id: pricing, activity: page_view, where: {field: url, contains: /pricing}, points: 5}\n"
    )
    activities = [act("page_view", 1, url="https://x.io/pricing"), act("page_view", 1, url="https://x.io/blog"),
                  act("page_view", 1)]  # fmt: skip
    assert score(model, contact(), activities, NOW).engagement == 5


def test_max_times_counts_the_most_recent() -> None:
    model = make_model(
        "decay: {half_life_days: 10}\nengagement:\n  rules:\n"
        "    - {id: r, activity: meeting, points: 20, max_times: 1}\n"
    )
    result = score(model, contact(), [act("meeting", 30), act("meeting", 10), act("meeting", 20)], NOW)
    assert result.engagement == 10  # 20 * 0.5 ** (10 / 10)
    (evidence,) = reason(result, "r").evidence
    assert evidence.occurred_at == NOW - timedelta(days=10)


@pytest.mark.parametrize(
    ("decay", "age_days", "expected_points"),
    [
        ("decay: {half_life_days: 30}", 30, 20.0),
        ("decay: {half_life_days: 30}", 60, 10.0),
        ("decay: {expire_days: 40}", 10, 30.0),
        ("decay: {expire_days: 40}", 40, 0.0),
        ("decay: {expire_days: 40}", 50, 0.0),
        ("", 365, 40.0),
    ],
)
def test_decay_kinds(decay: str, age_days: float, expected_points: float) -> None:
    model = make_model(f"{decay}\nengagement:\n  rules:\n    - {{id: r, activity: demo_request, points: 40}}\n")
    result = score(model, contact(), [act("demo_request", age_days)], NOW)
    assert sum(r.points for r in result.reasons) == pytest.approx(expected_points)
    if expected_points:
        (evidence,) = reason(result, "r").evidence
        assert evidence.decay == pytest.approx(expected_points / 40)


def test_rule_decay_overrides_the_model_default() -> None:
    model = make_model(
        "decay: {half_life_days: 1}\nengagement:\n  rules:\n"
        "    - {id: fast, activity: page_view, points: 8}\n"
        "    - {id: kept, activity: demo_request, points: 8, decay: none}\n"
    )
    result = score(model, contact(), [act("page_view", 3), act("demo_request", 3)], NOW)
    assert reason(result, "fast").points == pytest.approx(1.0)
    assert reason(result, "kept").points == 8


def test_property_rules_read_rollup_fields() -> None:
    model = make_model(
        "properties:\n  rules:\n"
        "    - {id: views, when: {field: hs_analytics_num_page_views, gte: 10}, points: 10}\n"
        "    - {id: opened, when: {field: hs_email_last_open_date, within_days: 30}, points: 5}\n"
    )
    recent = str(int((NOW - timedelta(days=3)).timestamp() * 1000))
    result = score(model, contact(hs_analytics_num_page_views="12", hs_email_last_open_date=recent), [], NOW)
    assert result.engagement == 15
    assert {r.component for r in result.reasons} == {"property"}
    # the open date drops out of its 30-day window 27 days from now
    assert result.next_change_at == NOW + timedelta(days=27)


NEGATIVE = """\
fit:
  rules:
    - {id: vp, when: {field: title, contains_word: [vp]}, points: 30}
engagement:
  rules:
    - {id: visit, activity: page_view, points: 10, decay: none}
negative:
  rules:
    - {id: unsubscribed, activity: unsubscribe, points: -10, max_times: 1}
    - {id: free_mail, when: {free_mail: true}, points: -10}
    - {id: competitor, when: {field: email_domain, in: [rival.io]}, points: -100, applies_to: total}
    - {id: student, when: {field: title, contains_word: [student]}, points: -20}
    - {id: careers, activity: page_view, where: {field: url, contains: /careers}, points: -5}
"""


@pytest.mark.parametrize(
    ("fields", "activities", "expected"),
    [
        ({"title": "VP"}, [("page_view", "/"), ("unsubscribe", "")], (30, 0, 30)),
        ({"title": "VP", "email": "a@gmail.com"}, [], (20, 0, 20)),
        ({"title": "VP", "email": "a@rival.io"}, [("page_view", "/")], (30, 10, 0)),
        ({"title": "Student"}, [], (0, 0, 0)),
        ({"title": "VP"}, [("page_view", "/careers")], (30, 5, 35)),
    ],
)
def test_negative_rules(
    fields: dict[str, str], activities: list[tuple[str, str]], expected: tuple[int, int, int]
) -> None:
    model = make_model(NEGATIVE)
    result = score(model, contact(**fields), [act(t, 1, url=u) for t, u in activities], NOW)
    assert (result.fit, result.engagement, result.total) == expected
    assert all(r.component == "negative" for r in result.reasons if r.points < 0)


def test_competitor_points_apply_to_the_total_only() -> None:
    result = score(make_model(NEGATIVE), contact(title="VP", email="x@rival.io"), [], NOW)
    competitor = reason(result, "competitor")
    assert competitor.applies_to == "total" and result.fit == 30 and result.total == 0


def test_inactivity_counts_from_the_last_activity_or_creation() -> None:
    model = make_model(
        "engagement:\n  rules:\n    - {id: visit, activity: page_view, points: 30, decay: none}\n"
        "negative:\n  rules:\n    - {id: idle, label: no activity in 90 days, inactive_days: 90, points: -10}\n"
    )
    idle = score(model, contact(), [act("page_view", 100)], NOW)
    assert idle.engagement == 20 and reason(idle, "idle").component == "negative"
    active = score(model, contact(), [act("page_view", 80), act("email_sent", 1)], NOW)  # email_sent is ours
    assert active.engagement == 30
    assert active.next_change_at == NOW + timedelta(days=10)
    created_long_ago = contact(created_at=(NOW - timedelta(days=200)).isoformat())
    assert score(model, created_long_ago, [], NOW).reasons[0].rule == "idle"
    assert score(model, contact(), [], NOW).reasons[0].rule == "idle"  # never active at all
    created_lately = contact(created_at=(NOW - timedelta(days=30)).isoformat())
    fresh = score(model, created_lately, [act("page_view", 200)], NOW)
    assert fresh.engagement == 30 and fresh.next_change_at == NOW + timedelta(days=60)


STAGNATION = """\
engagement:
  rules:
    - {id: visit, activity: page_view, points: 20, decay: none, max_times: 1}
stagnation:
  after_days: 30
  low_intent: [page_view, email_open]
  high_intent: [demo_request]
  points: -10
"""


@pytest.mark.parametrize(
    ("activities", "expected"),
    [
        ([("page_view", 40), ("email_open", 35), ("page_view", 1)], 10),  # low intent only for 40 days
        ([("page_view", 40), ("email_open", 35), ("demo_request", 20), ("page_view", 1)], 20),  # reset by a demo
        ([("page_view", 20), ("email_open", 10)], 20),  # not yet 30 days
        ([("page_view", 40)], 20),  # one action is not "repeating"
    ],
)
def test_stagnation(activities: list[tuple[str, float]], expected: int) -> None:
    result = score(make_model(STAGNATION), contact(), [act(t, d) for t, d in activities], NOW)
    assert result.engagement == expected
    assert any(r.component == "stagnation" for r in result.reasons) is (expected == 10)


def test_stagnation_start_is_the_next_change() -> None:
    result = score(make_model(STAGNATION), contact(), [act("page_view", 20), act("email_open", 10)], NOW)
    assert result.next_change_at == NOW + timedelta(days=10)


def test_scale_caps_and_weights() -> None:
    capped = make_model(FIT + "scale: {max: 30}\n")
    result = score(capped, contact(industry="software", employees=500, title="VP"), [], NOW)
    assert (result.fit, result.total) == (30, 30)
    weighted = make_model(
        FIT + "scale: {combine: weighted, weights: {fit: 0.5, engagement: 0.5}}\n"
        "engagement:\n  rules:\n    - {id: d, activity: demo_request, points: 40, decay: none}\n"
    )
    result = score(weighted, contact(industry="software"), [act("demo_request", 1)], NOW)
    assert (result.fit, result.engagement, result.total) == (10, 40, 25)


@pytest.mark.parametrize(
    ("fields", "grade", "cell"),
    [
        ({"industry": "software", "employees": 500, "title": "VP"}, "A", "A4"),
        ({"employees": 500, "title": "VP"}, "B", "B4"),
        ({"industry": "software"}, "C", "C4"),
        ({}, "D", "D4"),
    ],
)
def test_grades_and_matrix(fields: dict[str, object], grade: str, cell: str) -> None:
    model = make_model(FIT + "grades: {A: 40, B: 25, C: 10, D: 0}\n")
    result = score(model, contact(**fields), [], NOW)
    assert (result.grade, result.matrix) == (grade, cell)


def test_matrix_levels_cells_and_labels() -> None:
    model = make_model(
        FIT + "grades: {A: 40, B: 0}\nmatrix: {engagement_levels: [30, 0], cells: {A1: sales now}}\n"
        "labels: {based_on: engagement, cuts: {hot: 30, cold: 0}}\n"
        "engagement:\n  rules:\n    - {id: d, activity: demo_request, points: 40, decay: none}\n"
    )
    hot = score(model, contact(industry="software", employees=500, title="VP"), [act("demo_request", 1)], NOW)
    assert (hot.matrix, hot.label) == ("sales now", "hot")
    cold = score(model, contact(), [], NOW)
    assert (cold.matrix, cold.label) == ("B2", "cold")
    assert score(make_model(FIT), contact(), [], NOW).label is None


@pytest.mark.parametrize(("points", "stage"), [(39, "lead"), (40, "mql"), (74, "mql"), (75, "sql"), (100, "sql")])
def test_default_stages(points: int, stage: str) -> None:
    model = make_model(f"fit:\n  rules:\n    - {{id: a, when: {{field: x, exists: true}}, points: {points}}}\n")
    assert score(model, contact(x=1), [], NOW).stage == stage


TIERS = """\
tiers:
  - {tier: P1, activity: demo_request, within: 24h, respond_within: 10m}
  - {tier: P2, activity: webinar_registration, within: 48h, respond_within: 48h}
  - {tier: P3, activity: page_view, within: 7d, respond_within: 3d, min_total: 50}
"""


def test_priority_tiers_carry_the_sla_due_time() -> None:
    model = make_model(TIERS)
    demo = act("demo_request", hours=2)
    result = score(model, contact(), [demo, act("webinar_registration", hours=1)], NOW)
    assert result.tier == "P1"
    assert result.sla_due_at == demo.occurred_at + timedelta(minutes=10)
    assert result.next_change_at == demo.occurred_at + timedelta(hours=24)  # P1 expires, P2 takes over
    later = score(model, contact(), [demo, act("webinar_registration", hours=1)], NOW + timedelta(hours=22))
    assert later.tier == "P2"
    assert score(model, contact(), [act("page_view", 1)], NOW).tier is None  # P3 needs a total of 50


def test_tier_due_time_counts_from_the_first_request_in_the_window() -> None:
    model = make_model(TIERS)
    first, second = act("demo_request", hours=5), act("demo_request", hours=1)
    result = score(model, contact(), [second, first], NOW)
    assert result.sla_due_at == first.occurred_at + timedelta(minutes=10)


def test_result_bookkeeping(starter: Model) -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    result = score(starter, contact("c-42", title="CEO"), [act("demo_request", 1, now=now)], now)
    assert result.contact_id == "c-42"
    assert result.model_version == starter.version
    assert result.scored_at == now
    assert result.warnings == ()
    assert isinstance(result.reasons, Sequence) and not isinstance(result.reasons, list)
    with pytest.raises(AttributeError):
        result.total = 3  # type: ignore[misc]


def test_reasons_are_built_when_read_and_read_as_their_tuple(starter: Model) -> None:
    """Activity rules' reasons are built on first read; until then and after, they are their tuple."""
    activities = [act("demo_request", 3), act("page_view", 30, url="/pricing"), act("page_view", 50)]
    result = score(starter, contact("c-7", title="VP Sales", industry="Software"), activities, NOW)
    reasons = result.reasons
    assert isinstance(reasons, Reasons)
    count = len(reasons)  # known before anything is built
    built = tuple(reasons)
    assert len(built) == count and all(isinstance(r, Reason) for r in built)
    assert [r.rule for r in built][:2] == ["industry_software", "decision_maker"]  # the model's rule order
    demo = next(r for r in built if r.rule == "demo_request")
    (evidence,) = demo.evidence
    assert evidence.activity_id == activities[0].id and evidence.occurred_at == activities[0].occurred_at
    assert evidence.points == pytest.approx(demo.points)

    again = score(starter, contact("c-7", title="VP Sales", industry="Software"), activities, NOW).reasons
    assert again == built and built == again and again == reasons  # unbuilt == tuple == built
    assert hash(again) == hash(built)
    assert repr(again) == repr(built)
    assert again[1:3] == built[1:3] and again[-1] == built[-1]
    assert pickle.loads(pickle.dumps(again)) == built
    assert type(pickle.loads(pickle.dumps(again))) is tuple
    assert (again == [*built]) is False  # a list is not equal, as for a tuple
    assert pickle.loads(pickle.dumps(result)) == result


def test_naive_now_is_a_programming_error(starter: Model) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        score(starter, contact(), [], datetime(2024, 5, 1))  # noqa: DTZ001


def test_score_many_scores_each_pair(starter: Model) -> None:
    pairs = [(contact(f"c{i}", title="CEO"), [act("page_view", i)]) for i in range(5)]
    results = list(score_many(starter, pairs, NOW))
    assert [r.contact_id for r in results] == [f"c{i}" for i in range(5)]
    assert results == [score(starter, c, a, NOW) for c, a in pairs]


def test_activity_types_can_be_enums(starter: Model) -> None:
    as_text = score(starter, contact(), [act("demo_request", 1, activity_id="x")], NOW)
    as_enum = score(starter, contact(), [act(ActivityType.DEMO_REQUEST, 1, activity_id="x")], NOW)  # type: ignore[arg-type]
    assert as_text == as_enum


def test_now_is_read_to_the_second(starter: Model) -> None:
    activities = [act("demo_request", 3), act("page_view", 1)]
    one = score(starter, contact(), activities, NOW)
    two = score(starter, contact(), activities, NOW + timedelta(microseconds=999_999))
    assert one.observable() == two.observable() and one.reasons == two.reasons


def test_domain_rules_are_remembered_per_domain_but_show_each_contacts_own_email(starter: Model) -> None:
    """free_mail and email_domain rules answer per domain; their reasons still show the contact's address."""
    first = score(starter, contact("a", email="ann@gmail.com"), [], NOW)
    second = score(starter, contact("b", email="bob@GMAIL.com "), [], NOW)
    own_field = score(starter, contact("c", email="cy@gmail.com", email_domain="leadloom.com"), [], NOW)
    work = score(starter, contact("d", email="dee@northsoft.io"), [], NOW)

    def shown(result: ScoreResult, rule: str) -> list[object]:
        return [e.value for r in result.reasons if r.rule == rule for e in r.evidence]

    assert shown(first, "free_mail") == ["ann@gmail.com"]
    assert shown(second, "free_mail") == ["bob@GMAIL.com "]
    assert shown(work, "free_mail") == []
    # the email_domain field wins over the address's domain for email_domain rules (the competitor list)
    assert shown(own_field, "competitor") == ["cy@gmail.com"]
    assert shown(own_field, "free_mail") == ["cy@gmail.com"]
    assert own_field.total == 0
