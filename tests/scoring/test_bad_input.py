"""Bad data gives a deterministic result with warnings, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.records import Activity, Contact
from scoring import Model, ScoreResult, score

from .conftest import NOW, act, contact


@dataclass
class Loose:
    """An activity-like object with whatever attributes a broken adapter might produce."""

    id: Any = "x"
    type: Any = "demo_request"
    occurred_at: Any = NOW
    attributes: Any = None


def activity_at(occurred: Any, activity_id: str = "a", activity_type: str = "demo_request") -> Any:
    return Loose(id=activity_id, type=activity_type, occurred_at=occurred, attributes={})


@pytest.mark.parametrize(
    ("activities", "warning"),
    [
        ([activity_at(datetime(2024, 4, 30, 12))], "naive occurred_at taken as UTC"),  # noqa: DTZ001
        ([activity_at("2024-04-30T12:00:00Z")], "was not a datetime"),
        ([activity_at(date(2024, 4, 30))], "was not a datetime"),
        ([activity_at(None)], "unreadable; ignored"),
        ([activity_at("yesterday-ish")], "unreadable; ignored"),
        ([act("demo_request", -3)], "in the future; ignored until then"),
        ([act("telepathy", 1)], "unknown type 'telepathy'"),
        ([act("demo_request", 1, activity_id="d"), act("demo_request", 2, activity_id="d")], "duplicate id"),
        ([Loose(type=None)], "type"),  # "unknown type 'None'" or "no type", depending on the path taken
        ([Loose(type=["unhashable"])], "no type"),
        ([Loose(type="page_view", attributes=["not", "a", "mapping"])], "attribute is not a mapping"),
        ([Loose(occurred_at="2024-04-30T00:00:00Z", attributes={"url": object()})], "value read as text"),
    ],
)
def test_bad_activities_warn(starter: Model, activities: list[Any], warning: str) -> None:
    result = score(starter, contact(title="CEO"), activities, NOW)
    assert any(warning in w for w in result.warnings), result.warnings
    assert result == score(starter, contact(title="CEO"), activities, NOW)


def test_naive_timestamps_are_read_as_utc(starter: Model) -> None:
    aware = score(starter, contact(), [act("demo_request", 1, activity_id="a")], NOW)
    naive_time = (NOW - timedelta(days=1)).replace(tzinfo=None)
    naive = score(starter, contact(), [activity_at(naive_time)], NOW)
    assert naive.observable() == aware.observable()


def test_future_activities_count_once_their_time_comes(starter: Model) -> None:
    demo = act("demo_request", -2)
    early = score(starter, contact(), [demo], NOW)
    assert early.engagement == 0
    assert early.next_change_at == demo.occurred_at - timedelta(minutes=5)  # the clock-skew tolerance
    assert score(starter, contact(), [demo], early.next_change_at).engagement == 25  # type: ignore[arg-type]
    slightly_ahead = act("demo_request", hours=-0.05)  # 3 minutes ahead: clocks disagree, count it
    assert score(starter, contact(), [slightly_ahead], NOW).engagement == 25


@pytest.mark.parametrize(
    "fields",
    [
        {"employees": ["a", "list"], "title": {"a": "dict"}, "industry": 12.5},
        {"employees": float("nan"), "title": float("inf"), "email": 42},
        {"title": "\U0001f680" * 1000, "industry": "\u0000\u200b", "email": "\U0001f600@\U0001f600.com"},
        {"title": "CEO " + "x" * 1_000_000, "email": "@" * 10_000},
        {123: "numeric key", None: "none key"},
        {"created_at": "not a date", "hs_email_last_open_date": "-999999999999999"},
    ],
)
def test_odd_field_values_never_raise(starter: Model, fields: dict[Any, Any]) -> None:
    activities = [act("page_view", 1)]
    result = score(starter, Contact(id="c", updated_at=NOW, fields=fields), activities, NOW)
    assert 0 <= result.total <= 100
    assert result == score(starter, Contact(id="c", updated_at=NOW, fields=fields), activities, NOW)


@pytest.mark.parametrize("fields", [None, ["not", "a", "mapping"], "text"])
def test_fields_that_are_not_a_mapping(starter: Model, fields: Any) -> None:
    broken = Contact(id="c", updated_at=NOW, fields=fields)
    result = score(starter, broken, [], NOW)
    assert result.fit == 0
    if fields is not None:
        assert any("not a mapping" in w for w in result.warnings)


def test_contact_id_of_any_type(starter: Model) -> None:
    assert score(starter, Contact(id=12345, updated_at=NOW), [], NOW).contact_id == "12345"  # type: ignore[arg-type]


def test_activities_may_be_any_iterable(starter: Model) -> None:
    activities = [act("demo_request", 1, activity_id="a"), act("page_view", 2, activity_id="b")]
    assert score(starter, contact(), iter(activities), NOW) == score(starter, contact(), activities, NOW)
    assert score(starter, contact(), None, NOW).total == score(starter, contact(), [], NOW).total  # type: ignore[arg-type]


def test_many_warnings_are_summarized(starter: Model) -> None:
    activities = [act("telepathy", 1, activity_id=f"t{i}") for i in range(100)]
    result = score(starter, contact(), activities, NOW)
    assert len(result.warnings) == 20
    assert result.warnings[-1] == "... and 81 more warnings"


def test_far_past_and_far_future_times(starter: Model) -> None:
    activities = [
        act("demo_request", at=datetime(1, 1, 2, tzinfo=UTC), activity_id="old"),
        act("demo_request", at=datetime(9999, 12, 30, tzinfo=UTC), activity_id="new"),
    ]
    result = score(starter, contact(), activities, NOW)
    assert result.engagement == 0
    late = score(starter, contact(), activities, datetime(9999, 12, 31, tzinfo=UTC))
    assert late.tier is None or late.sla_due_at is None or late.sla_due_at.year == 9999


odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=50),
    st.binary(max_size=20),
    st.datetimes(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
odd_times = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),  # naive  # noqa: DTZ001
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()),  # noqa: DTZ001
    st.text(max_size=30),
    st.integers(),
    st.none(),
)
types = st.sampled_from(["page_view", "demo_request", "unsubscribe", "email_open", "", "??", "form_submission"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.text(max_size=12), odd_values, max_size=6),
    st.lists(
        st.builds(
            Loose,
            id=st.one_of(st.text(max_size=4), st.integers(), st.none()),
            type=types,
            occurred_at=odd_times,
            attributes=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), odd_values)),
        ),
        max_size=8,
    ),
)
def test_garbage_never_raises_and_is_deterministic(
    starter: Model, fields: dict[str, Any], activities: list[Any]
) -> None:
    person = Contact(id="c", updated_at=NOW, fields=fields)
    result: ScoreResult = score(starter, person, activities, NOW)
    assert 0 <= result.total <= 100
    assert result == score(starter, person, list(activities), NOW)


def test_activity_records_with_string_enum_types_are_fine(starter: Model) -> None:
    activity = Activity(id="a", contact_id="c", type="webinar_registration", occurred_at=NOW - timedelta(hours=1))
    assert score(starter, contact(), [activity], NOW).tier == "P2"
