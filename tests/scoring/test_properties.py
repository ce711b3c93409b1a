"""Properties that hold for any model and any history (hypothesis)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connectors.records import Activity, Contact
from scoring import Model, ScoreResult, dump_model, parse_model, score
from scoring.engine import compile_model

from .conftest import NOW
from .strategies import POSITIVE_ONLY_TYPES, activity_lists, contacts, model_dicts, models

PROPERTY_SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("SCORING_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
moments = st.integers(0, 40 * 86400).map(lambda s: NOW + timedelta(seconds=s, microseconds=123))


def _clamp_round(value: float, cap: int) -> int:
    return 0 if value <= 0 else cap if value >= cap else math.floor(value + 0.5)


@PROPERTY_SETTINGS
@given(models(), contacts(), activity_lists(), moments)
def test_scores_stay_within_bounds(model: Model, person: Contact, activities: list[Activity], now: datetime) -> None:
    result = score(model, person, activities, now)
    cap = model.scale.max
    assert 0 <= result.fit <= (model.scale.fit_max or cap)
    assert 0 <= result.engagement <= (model.scale.engagement_max or cap)
    assert 0 <= result.total <= cap
    assert result.stage in ("lead", "mql", "sql")


@PROPERTY_SETTINGS
@given(models(), contacts(), activity_lists(), moments)
def test_reasons_add_up_to_the_components(
    model: Model, person: Contact, activities: list[Activity], now: datetime
) -> None:
    result = score(model, person, activities, now)
    compiled = compile_model(model)
    fit = sum(r.points for r in result.reasons if r.applies_to == "fit")
    engagement = sum(r.points for r in result.reasons if r.applies_to == "engagement")
    adjust = sum(r.points for r in result.reasons if r.applies_to == "total")
    assert result.fit == _clamp_round(fit, compiled.fit_max)
    assert result.engagement == _clamp_round(engagement, compiled.eng_max)
    if compiled.weights is None:
        combined = result.fit + result.engagement + adjust
    else:
        combined = compiled.weights[0] * result.fit + compiled.weights[1] * result.engagement + adjust
    assert result.total == _clamp_round(combined, compiled.total_max)
    for reason in result.reasons:
        assert reason.points != 0
        if reason.component in ("engagement",) and len(reason.evidence) > 0:
            assert abs(reason.points) <= abs(sum(e.points for e in reason.evidence)) + 1e-9


@PROPERTY_SETTINGS
@given(models(), contacts(), activity_lists(), moments)
def test_same_input_same_output(model: Model, person: Contact, activities: list[Activity], now: datetime) -> None:
    first = score(model, person, activities, now)
    again = score(parse_model(dump_model(model)), person, list(activities), now)
    assert first == score(model, person, tuple(activities), now)
    assert first.observable() == again.observable()
    assert first.next_change_at == again.next_change_at


@PROPERTY_SETTINGS
@given(
    models(),
    contacts(),
    activity_lists(),
    st.sampled_from(POSITIVE_ONLY_TYPES),
    st.integers(0, 100 * 86400),
    moments,
)
def test_adding_a_positive_activity_never_lowers_the_score(
    model: Model, person: Contact, activities: list[Activity], kind: str, age: int, now: datetime
) -> None:
    before = score(model, person, activities, now)
    extra = Activity(id="extra", contact_id="c", type=kind, occurred_at=now - timedelta(seconds=age))
    after = score(model, person, [*activities, extra], now)
    assert after.engagement >= before.engagement
    assert after.total >= before.total


@PROPERTY_SETTINGS
@given(
    models(time_sensitive_negatives=False, stagnation=False),
    contacts(),
    activity_lists(past_only=True),
    st.lists(st.integers(0, 200 * 86400), min_size=2, max_size=4),
)
def test_engagement_decays_monotonically_with_time(
    model: Model, person: Contact, activities: list[Activity], offsets: list[int]
) -> None:
    person = Contact(id=person.id, updated_at=person.updated_at, fields={})  # no dated fields
    engagement = [score(model, person, activities, NOW + timedelta(seconds=s)).engagement for s in sorted(offsets)]
    assert engagement == sorted(engagement, reverse=True)


def _observable_at(model: Model, person: Contact, activities: list[Activity], when: datetime) -> tuple[object, ...]:
    return score(model, person, activities, when).observable()


@settings(
    max_examples=int(__import__("os").environ.get("SCORING_EXAMPLES", 400)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(models(), contacts(), activity_lists(), moments, st.floats(0.0, 1.0))
def test_next_change_at_is_exact(
    model: Model, person: Contact, activities: list[Activity], now: datetime, fraction: float
) -> None:
    result: ScoreResult = score(model, person, activities, now)
    change = result.next_change_at
    if change is None:
        for later in (timedelta(days=1), timedelta(days=400), timedelta(days=4000)):
            assert _observable_at(model, person, activities, now + later) == result.observable()
        return
    assert change > now
    assert change.microsecond == 0
    assert _observable_at(model, person, activities, change) != result.observable()
    last_same = change - timedelta(microseconds=1)
    assert _observable_at(model, person, activities, last_same) == result.observable()
    between = now + (last_same - now) * fraction
    assert _observable_at(model, person, activities, between) == result.observable()


@PROPERTY_SETTINGS
@given(model_dicts())
def test_random_models_round_trip_with_the_same_version(data: dict[str, object]) -> None:
    model = Model.model_validate(data)
    again = parse_model(dump_model(model))
    assert again == model
    assert again.version == model.version


@given(st.lists(st.integers(0, 300 * 86400), min_size=1, max_size=30), st.integers(0, 5 * 86400))
@settings(deadline=None)
def test_rescoring_at_next_change_walks_forward(ages: list[int], step: int) -> None:
    """Following next_change_at from score to score always makes progress and changes something."""
    from scoring import STARTER_MODEL_PATH, load_model

    model = load_model(STARTER_MODEL_PATH)
    activities = [
        Activity(id=f"a{i}", contact_id="c", type=("page_view", "demo_request", "email_click")[i % 3],
                 occurred_at=NOW - timedelta(seconds=age))
        for i, age in enumerate(ages)
    ]  # fmt: skip
    person = Contact(id="c", updated_at=NOW, fields={"title": "VP"})
    now = NOW + timedelta(seconds=step)
    for _ in range(5):
        result = score(model, person, activities, now)
        if result.next_change_at is None:
            break
        assume(result.next_change_at < NOW + timedelta(days=3000))
        following = score(model, person, activities, result.next_change_at)
        assert following.observable() != result.observable()
        now = result.next_change_at
