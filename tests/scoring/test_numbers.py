"""Dirty CRM numbers, dates and flags: parse what can be parsed, never raise."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.numbers import parse_bool, parse_datetime, parse_number, parse_range

INF = math.inf


@pytest.mark.parametrize(
    ("value", "bounds", "number"),
    [
        ("1,000", (1000, 1000), 1000),
        ("100-500", (100, 500), 300),
        ("100 - 500", (100, 500), 300),
        ("100 to 500", (100, 500), 300),
        ("100\u2013500", (100, 500), 300),
        ("between 100 and 500", (100, 500), 300),
        ("1000+", (1000, INF), 1000),
        ("10,000+ employees", (10000, INF), 10000),
        ("500 or more", (500, INF), 500),
        ("over 200", (200, INF), 200),
        ("<50", (-INF, 50), 50),
        ("under 50", (-INF, 50), 50),
        ("1k", (1000, 1000), 1000),
        ("2.5M", (2_500_000, 2_500_000), 2_500_000),
        ("$1.2bn", (1.2e9, 1.2e9), 1.2e9),
        ("1k-5k", (1000, 5000), 3000),
        ("1.000.000", (1e6, 1e6), 1e6),
        ("1 000 000", (1e6, 1e6), 1e6),
        ("1'000", (1000, 1000), 1000),
        ("1,234.5", (1234.5, 1234.5), 1234.5),
        ("1.234,5", (1234.5, 1234.5), 1234.5),
        ("2,5", (2.5, 2.5), 2.5),
        ("250", (250, 250), 250),
        (" 42 ", (42, 42), 42),
        ("-5", (-5, -5), -5),
        ("100 employees", (100, 100), 100),
        ("approx. 500", (500, 500), 500),
        (250, (250, 250), 250),
        (3.5, (3.5, 3.5), 3.5),
    ],
)
def test_dirty_numbers_are_read(value: object, bounds: tuple[float, float], number: float) -> None:
    assert parse_range(value) == pytest.approx(bounds)
    assert parse_number(value) == pytest.approx(number)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "n/a", "N/A", "unknown", "-", "none", "Select", "nan", "inf", "12/05/2024", True, False,
     float("nan"), float("inf"), [1, 2], {"a": 1}, object(), "\U0001f600", "1e999"],
)  # fmt: skip
def test_unreadable_numbers_are_none(value: object) -> None:
    assert parse_range(value) is None
    assert parse_number(value) is None


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.booleans(), st.binary()))
def test_number_parsing_never_raises_and_ranges_are_ordered(value: object) -> None:
    bounds = parse_range(value)
    if bounds is not None:
        low, high = bounds
        assert low <= high
        assert not (math.isinf(low) and math.isinf(high))
        number = parse_number(value)
        assert number is not None and math.isfinite(number)
        assert low <= number <= high


@given(st.from_regex(r"\A[<>~$ ]{0,2}\d{1,6}([.,]\d{1,3})?\s?(k|m|K|M)?\s?(-|to|\+)?\s?\d{0,6}\s?[a-z ]{0,12}\Z"))
def test_number_like_text_never_raises(value: str) -> None:
    parse_range(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.000+0000", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("1714557600000", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # HubSpot epoch milliseconds
        ("1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600000, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("20240501", datetime(2024, 5, 1, tzinfo=UTC)),
        (date(2024, 5, 1), datetime(2024, 5, 1, tzinfo=UTC)),
        (datetime(2024, 5, 1, 10), datetime(2024, 5, 1, 10, tzinfo=UTC)),  # naive -> UTC  # noqa: DTZ001
        (datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))), datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_dates_are_read(value: object, expected: datetime) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize("value", [None, "", "garbage", "2024-13-45", "n/a", True, 1e30, "9" * 40, [], "\U0001f600"])
def test_unreadable_dates_are_none(value: object) -> None:
    assert parse_datetime(value) is None


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.datetimes(), st.dates()))
def test_date_parsing_never_raises(value: object) -> None:
    parsed = parse_datetime(value)
    assert parsed is None or parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", True), ("TRUE", True), ("1", True), (1, True), (True, True), ("no", False), ("false", False),
     (0, False), ("maybe", None), (None, None), (2, None)],
)  # fmt: skip
def test_flags(value: object, expected: bool | None) -> None:
    assert parse_bool(value) is expected
