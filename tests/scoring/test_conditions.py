"""Every condition operator over contact fields and activity attributes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from scoring.conditions import CLOCK_SKEW_SECONDS, compile_condition
from scoring.model import Condition

from .conftest import NOW

T = NOW.timestamp()


def check(spec: dict[str, Any], values: dict[str, Any], t: float = T) -> bool:
    compiled = compile_condition(Condition.model_validate(spec, by_alias=True))
    if compiled.timed:
        test_at, _ = compiled.bind(values)
        return test_at(t)
    return compiled.test(values, t)


CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    # equals: text ignores case and spaces; numbers and flags compare as such
    ({"field": "industry", "equals": "Software"}, {"industry": " software "}, True),
    ({"field": "industry", "equals": "Software", "case_sensitive": True}, {"industry": "software"}, False),
    ({"field": "employees", "equals": 100}, {"employees": "100"}, True),
    ({"field": "employees", "equals": 100}, {"employees": 100.0}, True),
    ({"field": "opted_in", "equals": True}, {"opted_in": "yes"}, True),
    ({"field": "opted_in", "equals": True}, {"opted_in": "no"}, False),
    ({"field": "industry", "equals": "x"}, {}, False),
    # in / not in (an empty field matches neither)
    ({"field": "country", "in": ["US", "Canada"]}, {"country": "us"}, True),
    ({"field": "country", "in": ["US", "Canada"]}, {"country": "Mexico"}, False),
    ({"field": "country", "not_in": ["US"]}, {"country": "Mexico"}, True),
    ({"field": "country", "not_in": ["US"]}, {"country": "us"}, False),
    ({"field": "country", "not_in": ["US"]}, {"country": ""}, False),
    ({"field": "country", "not_in": ["US"]}, {}, False),
    # contains (substring) and contains_word (whole words or phrases)
    ({"field": "url", "contains": "/pricing"}, {"url": "https://x.io/Pricing/enterprise"}, True),
    ({"field": "url", "contains": ["/a", "/b"]}, {"url": "https://x.io/c"}, False),
    ({"field": "title", "contains_word": ["vp", "head of"]}, {"title": "VP Sales"}, True),
    ({"field": "title", "contains_word": ["vp", "head of"]}, {"title": "MVP engineer"}, False),
    ({"field": "title", "contains_word": ["vp", "head of"]}, {"title": "Head of Growth"}, True),
    ({"field": "title", "contains_word": ["co-founder"]}, {"title": "Co Founder & CEO"}, True),
    ({"field": "title", "contains_word": ["cto"]}, {"title": "Director"}, False),
    # regex (search, case-insensitive by default)
    ({"field": "email", "regex": r"@(.+\.)?acme\.com$"}, {"email": "a@eu.ACME.com"}, True),
    ({"field": "email", "regex": r"^x", "case_sensitive": True}, {"email": "X@y.z"}, False),
    # numbers: gte reads the low end, lte the high end, between needs the whole range inside
    ({"field": "employees", "gte": 100}, {"employees": "1,000"}, True),
    ({"field": "employees", "gte": 100}, {"employees": "100-500"}, True),
    ({"field": "employees", "gte": 100}, {"employees": "50-500"}, False),
    ({"field": "employees", "gte": 100}, {"employees": "1000+"}, True),
    ({"field": "employees", "gte": 100}, {"employees": "n/a"}, False),
    ({"field": "employees", "gte": 100}, {"employees": 99}, False),
    ({"field": "employees", "lte": 500}, {"employees": "100-500"}, True),
    ({"field": "employees", "lte": 500}, {"employees": "1000+"}, False),
    ({"field": "employees", "between": [50, 1000]}, {"employees": "100-500"}, True),
    ({"field": "employees", "between": [50, 1000]}, {"employees": "10-500"}, False),
    ({"field": "employees", "gte": 1}, {"employees": float("nan")}, False),
    ({"field": "employees", "gte": 1}, {"employees": True}, False),
    # exists / missing
    ({"field": "phone", "exists": True}, {"phone": "+1 555"}, True),
    ({"field": "phone", "exists": True}, {"phone": "   "}, False),
    ({"field": "phone", "missing": True}, {"phone": None}, True),
    ({"field": "phone", "missing": True}, {}, True),
    ({"field": "phone", "exists": False}, {}, True),
    # email domain and free mail
    ({"field": "email_domain", "in": ["leadloom.com"]}, {"email": "Spy@LeadLoom.com"}, True),
    ({"field": "email_domain", "in": ["leadloom.com"]}, {"email": "not an email"}, False),
    ({"free_mail": True}, {"email": "someone@gmail.com"}, True),
    ({"free_mail": True}, {"email": "someone@acme.com"}, False),
    ({"free_mail": False}, {"email": "someone@acme.com"}, True),
    ({"free_mail": False}, {}, False),
    # combinations
    ({"all": [{"field": "a", "exists": True}, {"field": "b", "exists": True}]}, {"a": 1, "b": 2}, True),
    ({"all": [{"field": "a", "exists": True}, {"field": "b", "exists": True}]}, {"a": 1}, False),
    ({"any": [{"field": "a", "exists": True}, {"field": "b", "exists": True}]}, {"b": 2}, True),
    ({"any": [{"field": "a", "exists": True}]}, {}, False),
    ({"not": {"field": "country", "in": ["US"]}}, {}, True),
    ({"not": {"field": "country", "in": ["US"]}}, {"country": "US"}, False),
    # odd values never raise
    ({"field": "title", "contains": "vp"}, {"title": ["vp"]}, True),
    ({"field": "title", "contains": "vp"}, {"title": {"x": 1}}, False),
    ({"field": "title", "contains": "vp"}, {"title": "vp" + "x" * 50_000}, True),
    ({"field": "title", "contains_word": ["ceo"]}, {"title": "\U0001f680 CEO \U0001f680"}, True),
]


@pytest.mark.parametrize(("spec", "values", "expected"), CASES)
def test_operator(spec: dict[str, Any], values: dict[str, Any], expected: bool) -> None:
    assert check(spec, values) is expected


DAY = 86400.0


@pytest.mark.parametrize(
    ("spec", "age_days", "expected"),
    [
        ({"field": "d", "within_days": 30}, 10, True),
        ({"field": "d", "within_days": 30}, 30, False),
        ({"field": "d", "within_days": 30}, 29.99, True),
        ({"field": "d", "within_days": 30}, -1, False),  # in the future beyond the clock-skew tolerance
        ({"field": "d", "older_than_days": 90}, 90, True),
        ({"field": "d", "older_than_days": 90}, 89, False),
    ],
)
def test_date_tests(spec: dict[str, Any], age_days: float, expected: bool) -> None:
    date = NOW - timedelta(days=age_days)
    for value in (date.isoformat(), str(int(date.timestamp() * 1000)), date):
        assert check(spec, {"d": value}) is expected


def test_date_tests_report_when_they_flip() -> None:
    compiled = compile_condition(Condition.model_validate({"all": [{"field": "d", "within_days": 30},
                                                                   {"field": "x", "exists": True}]}))  # fmt: skip
    test_at, flips = compiled.bind({"d": NOW.isoformat(), "x": 1})
    assert sorted(flips) == [T - CLOCK_SKEW_SECONDS, T + 30 * DAY]
    assert test_at(T) and test_at(T + 30 * DAY - 1) and not test_at(T + 30 * DAY)


def test_unreadable_dates_never_match() -> None:
    assert not check({"field": "d", "within_days": 30}, {"d": "soon"})
    assert not check({"field": "d", "older_than_days": 1}, {})
