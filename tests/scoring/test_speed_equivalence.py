"""The fast scoring path gives results EQUAL (==) to the reference path, for every input.

``score`` runs ``CompiledModel.score`` (field and attribute tests answered per group and remembered for
text values, a tight loop for half-life rules); ``CompiledModel.score_reference`` is the plain engine it
must match.  Equality covers everything: scores, tier, due time, every reason and its evidence (ids, times,
decay factors and points to the last bit), ``next_change_at`` and warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.records import Activity, Contact
from connectors.sandbox.seed import generate
from scoring import Model, ScoreResult, score, score_many
from scoring.engine import CompiledModel, compile_model

from .conftest import NOW
from .strategies import DAY, URLS, activity_lists, contacts, models

EQUIVALENCE_SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("SCORING_EXAMPLES", 300)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# whole seconds, fractions, and moments before NOW (some activities are then still to come)
moments = st.one_of(
    st.integers(0, 120 * DAY).map(lambda s: NOW + timedelta(seconds=s)),
    st.integers(-3 * DAY, 120 * DAY).map(lambda s: NOW + timedelta(seconds=s, microseconds=123_456)),
)


def assert_same(compiled: CompiledModel, person: Any, activities: Any, now: datetime) -> ScoreResult:
    fast = compiled.score(person, activities, now)
    reference = compiled.score_reference(person, activities, now)
    assert fast == reference
    assert repr(fast) == repr(reference)  # same value types too (5 and 5.0 are ==, but print differently)
    return fast


@EQUIVALENCE_SETTINGS
@given(models(), contacts(), activity_lists(), moments)
def test_fast_path_equals_reference(model: Model, person: Contact, activities: list[Activity], now: datetime) -> None:
    compiled = compile_model(model)
    first = assert_same(compiled, person, activities, now)
    # again, with the memos now warm, and as a tuple
    assert assert_same(compiled, person, tuple(activities), now) == first
    assert score(model, person, activities, now) == first


@EQUIVALENCE_SETTINGS
@given(models(), st.lists(st.tuples(contacts(), activity_lists()), min_size=1, max_size=6), moments)
def test_many_contacts_share_memos_without_changing_results(
    model: Model, people: list[tuple[Contact, list[Activity]]], now: datetime
) -> None:
    compiled = compile_model(model)
    expected = [compiled.score_reference(person, activities, now) for person, activities in people]
    assert list(score_many(model, people, now)) == expected
    assert [compiled.score(person, activities, now) for person, activities in people] == expected


@EQUIVALENCE_SETTINGS
@given(models(), contacts(), activity_lists(), st.integers(1, 90 * DAY))
def test_fast_path_equals_reference_over_time(
    model: Model, person: Contact, activities: list[Activity], later: int
) -> None:
    compiled = compile_model(model)
    first = assert_same(compiled, person, activities, NOW)
    assert_same(compiled, person, activities, NOW + timedelta(seconds=later))
    if first.next_change_at is not None:
        for offset in (-1, 0, 1):
            assert_same(compiled, person, activities, first.next_change_at + timedelta(seconds=offset))


# --- values of other types than text: equal keys (1, 1.0, True) must not share remembered answers


class Text(str):
    """A str subclass that prints differently: text tests read it through ``str()``."""

    def __str__(self) -> str:
        return "pricing " + super().__str__()


odd_values = st.sampled_from(
    [None, "", "  ", "/pricing", "https://x.io/pricing", "/careers", 1, 1.0, True, 0, 12, "12", "newsletter",
     Text("/careers"), Text("x"), float("nan"), ["/pricing"], {"u": 1}]
)  # fmt: skip


@dataclass
class Loose:
    """An activity-like object as a broken adapter might produce it."""

    id: Any
    type: Any
    occurred_at: Any
    attributes: Any


@st.composite
def odd_activities(draw: st.DrawFn) -> list[Any]:
    out: list[Any] = []
    for index in range(draw(st.integers(0, 6))):
        age = draw(st.integers(-DAY, 60 * DAY))
        occurred: Any = NOW - timedelta(seconds=age)
        if draw(st.integers(0, 9)) == 0:
            occurred = draw(st.sampled_from([occurred.replace(tzinfo=None), occurred.isoformat(), None]))
        attributes: Any = {
            name: draw(odd_values) for name in draw(st.sets(st.sampled_from(["url", "form", "campaign", "email"])))
        }
        if draw(st.integers(0, 14)) == 0:
            attributes = draw(st.sampled_from([None, ["url"], "url"]))
        activity_type = draw(
            st.sampled_from(["page_view", "demo_request", "form_submission", "email_open", "unsubscribe", "telepathy"])
        )
        activity_id = draw(st.sampled_from([f"a{index}", f"a{index}", f"a{index}", "dup", 7]))
        out.append(Loose(activity_id, activity_type, occurred, attributes))
    return out


@st.composite
def odd_contacts(draw: st.DrawFn) -> Any:
    fields: Any = {
        name: draw(odd_values)
        for name in draw(st.sets(st.sampled_from(["title", "email", "views", "signup", "last_seen", "created_at"])))
    }
    if draw(st.integers(0, 19)) == 0:
        fields = draw(st.sampled_from([None, ["title"]]))
    contact_id: Any = draw(st.sampled_from(["c", 5, None]))
    return Contact(id=contact_id, updated_at=NOW, fields=fields)


@EQUIVALENCE_SETTINGS
@given(models(), odd_contacts(), odd_activities(), moments)
def test_fast_path_equals_reference_on_odd_data(model: Model, person: Any, activities: Any, now: datetime) -> None:
    compiled = compile_model(model)
    assert_same(compiled, person, activities, now)
    assert_same(compiled, person, activities, now)  # memos warm


def test_equal_values_of_other_types_do_not_share_answers() -> None:
    model = Model.model_validate(
        {
            "name": "types",
            "fit": {"rules": [{"id": "t", "when": {"field": "flag", "equals": "true"}, "points": 5}]},
            "engagement": {
                "rules": [
                    {"id": "p", "activity": "page_view", "where": {"field": "url", "equals": "1"}, "points": 5},
                ]
            },
        }
    )
    compiled = compile_model(model)
    for value in ("1", 1, 1.0, True, "true", Text("1")):
        person = Contact(id="c", updated_at=NOW, fields={"flag": value})
        page = Activity("a", "c", "page_view", NOW - timedelta(days=1), {"url": value})
        assert_same(compiled, person, [page], NOW)


def test_one_shot_iterators_take_the_reference_path(starter: Model) -> None:
    compiled = compile_model(starter)
    person = Contact(id="c", updated_at=NOW, fields={"title": "VP Sales"})
    pages = [Activity(f"a{i}", "c", "page_view", NOW - timedelta(days=i), {"url": URLS[i % 3]}) for i in range(5)]
    assert compiled.score(person, iter(pages), NOW) == compiled.score_reference(person, iter(pages), NOW)
    assert compiled.score(person, iter(pages), NOW) == compiled.score(person, pages, NOW)


# --- the starter model on the sandbox generator's data


SANDBOX_NOW = datetime(2024, 6, 1, tzinfo=UTC)


def sandbox_records() -> list[tuple[Contact, list[Activity]]]:
    data = generate(500, seed=7, now=SANDBOX_NOW)
    by_person = data.activities_by_person()
    out = []
    for person in data.people:
        fields: dict[str, Any] = {
            "email": person.email,
            "title": person.title,
            "company": person.company,
            "industry": person.industry,
            "employees": person.employees,
            "country": person.country,
            "lead_source": person.lead_source,
            "created_at": person.created_at.isoformat(),
            "hs_analytics_num_page_views": str(person.page_views),
        }
        if person.last_visit_at is not None:
            fields["hs_email_last_open_date"] = str(int(person.last_visit_at.timestamp() * 1000))
        contact = Contact(id=person.key, updated_at=person.updated_at, fields=fields)
        acts = [
            Activity(a.key, person.key, a.type, a.occurred_at, dict(a.attributes))
            for a in by_person.get(person.key, [])
        ]
        out.append((contact, acts))
    return out


@pytest.mark.parametrize(
    "now",
    [
        SANDBOX_NOW,
        SANDBOX_NOW + timedelta(seconds=1),
        SANDBOX_NOW + timedelta(days=3, hours=5, microseconds=500_000),
        SANDBOX_NOW + timedelta(days=45),
        SANDBOX_NOW - timedelta(days=2),  # some activities still to come
    ],
)
def test_starter_model_on_sandbox_data(starter: Model, now: datetime) -> None:
    compiled = compile_model(starter)
    records = sandbox_records()
    assert sum(len(acts) for _, acts in records) > 2000
    for person, activities in records:
        assert_same(compiled, person, activities, now)
