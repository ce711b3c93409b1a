"""Compile a ``Condition`` from the model file into a plain function over a mapping of values.

``compile_condition(condition) -> Compiled`` gives ``test(values, t) -> bool``, where ``values`` is a
contact's fields or an activity's attributes and ``t`` is the scoring moment in epoch seconds (only date
tests read it), and ``flips(values) -> list[float]``: the moments at which a date test can change its answer.

Semantics, shared by every rule kind:

* Text tests ignore case and surrounding spaces unless ``case_sensitive: true``.
* Every test except ``missing`` is false on an empty field (``None``, ``""`` or only spaces), ``not_in``
  included; wrap a test in ``not:`` to count empty fields in.
* ``gte`` reads a range's low end, ``lte`` its high end, ``between`` needs all of it inside
  (see ``scoring.numbers``); text that holds no number makes them false.
* Field values longer than ``MAX_TEXT`` characters are cut to that length before text tests.
* ``email_domain`` is the part of ``email`` after the last ``@`` (a field of that name wins if present).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .freemail import FREE_MAIL_DOMAINS
from .model import Condition
from .numbers import parse_bool, parse_datetime, parse_range

Test = Callable[[Mapping[str, Any], float], bool]
Flips = Callable[[Mapping[str, Any]], list[float]]

MAX_TEXT = 10_000
DAY = 86400.0
# Activities and dates up to this far in the future count as "now" (clocks disagree a little).
CLOCK_SKEW_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Compiled:
    test: Test
    timed: bool  # whether the answer can change with time alone (a date test inside)
    flips: Flips


def _no_flips(values: Mapping[str, Any]) -> list[float]:
    return []


def to_text(value: Any) -> str | None:
    """A field value as text for text tests, or ``None`` when empty.  Never raises."""
    cls = value.__class__
    if cls is str:
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
        return text if text.strip() else None
    if value is None:
        return None
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value) if -(10**18) < value < 10**18 else None
    if cls is float:
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    try:
        text = str(value)[:MAX_TEXT]
    except Exception:  # a value whose __str__ fails is as good as empty
        return None
    return text if text.strip() else None


def email_domain(value: Any) -> str | None:
    text = to_text(value)
    if text is None or "@" not in text:
        return None
    domain = text.rpartition("@")[2].strip().strip(">.").lower()
    return domain or None


def _getter(field: str) -> Callable[[Mapping[str, Any]], Any]:
    if field == "email_domain":

        def get_domain(values: Mapping[str, Any]) -> Any:
            own = values.get("email_domain")
            return own if own is not None else email_domain(values.get("email"))

        return get_domain

    def get(values: Mapping[str, Any]) -> Any:
        return values.get(field)

    return get


def _norm(case_sensitive: bool) -> Callable[[str], str]:
    if case_sensitive:
        return str.strip
    return lambda text: text.strip().lower()


def _scalar_text(value: Any, case_sensitive: bool) -> str:
    text = to_text(value) or ""
    return text.strip() if case_sensitive else text.strip().lower()


def compile_condition(condition: Condition) -> Compiled:
    op = condition.operator
    if op in ("all", "any"):
        children = [compile_condition(child) for child in condition._value(op)]
        tests = tuple(child.test for child in children)
        if op == "all":

            def test_all(values: Mapping[str, Any], t: float) -> bool:
                for child_test in tests:
                    if not child_test(values, t):
                        return False
                return True

            test: Test = test_all
        else:

            def test_any(values: Mapping[str, Any], t: float) -> bool:
                for child_test in tests:
                    if child_test(values, t):
                        return True
                return False

            test = test_any
        timed = any(child.timed for child in children)
        return Compiled(test, timed, _join_flips([c.flips for c in children if c.timed]) if timed else _no_flips)
    if op == "not":
        assert condition.not_ is not None
        inner = compile_condition(condition.not_)
        inner_test = inner.test

        def test_not(values: Mapping[str, Any], t: float) -> bool:
            return not inner_test(values, t)

        return Compiled(test_not, inner.timed, inner.flips)
    if op == "free_mail":
        want_free = bool(condition.free_mail)

        def test_free_mail(values: Mapping[str, Any], t: float) -> bool:
            domain = email_domain(values.get("email"))
            if domain is None:
                return False
            return (domain in FREE_MAIL_DOMAINS) is want_free

        return Compiled(test_free_mail, False, _no_flips)
    assert condition.field is not None
    get = _getter(condition.field)
    if op in ("within_days", "older_than_days"):
        return _compile_date(condition, op, get)
    return Compiled(_compile_leaf(condition, op, get), False, _no_flips)


def _join_flips(parts: list[Flips]) -> Flips:
    def flips(values: Mapping[str, Any]) -> list[float]:
        out: list[float] = []
        for part in parts:
            out.extend(part(values))
        return out

    return flips


def _compile_date(condition: Condition, op: str, get: Callable[[Mapping[str, Any]], Any]) -> Compiled:
    def timestamp(values: Mapping[str, Any]) -> float | None:
        parsed = parse_datetime(get(values))
        return None if parsed is None else parsed.timestamp()

    if op == "within_days":
        assert condition.within_days is not None
        span = condition.within_days * DAY

        def test_within(values: Mapping[str, Any], t: float) -> bool:
            ts = timestamp(values)
            return ts is not None and -CLOCK_SKEW_SECONDS <= t - ts < span

        def flips_within(values: Mapping[str, Any]) -> list[float]:
            ts = timestamp(values)
            return [] if ts is None else [ts - CLOCK_SKEW_SECONDS, ts + span]

        return Compiled(test_within, True, flips_within)
    assert condition.older_than_days is not None
    age = condition.older_than_days * DAY

    def test_older(values: Mapping[str, Any], t: float) -> bool:
        ts = timestamp(values)
        return ts is not None and t - ts >= age

    def flips_older(values: Mapping[str, Any]) -> list[float]:
        ts = timestamp(values)
        return [] if ts is None else [ts + age]

    return Compiled(test_older, True, flips_older)


def _compile_leaf(condition: Condition, op: str, get: Callable[[Mapping[str, Any]], Any]) -> Test:
    case_sensitive = condition.case_sensitive
    norm = _norm(case_sensitive)

    if op in ("exists", "missing"):
        want = bool(condition.exists) if op == "exists" else not condition.missing

        def test_exists(values: Mapping[str, Any], t: float) -> bool:
            return (to_text(get(values)) is not None) is want

        return test_exists

    if op in ("gte", "lte", "between"):
        if op == "gte":
            assert condition.gte is not None
            low_bound = condition.gte

            def test_gte(values: Mapping[str, Any], t: float) -> bool:
                bounds = parse_range(get(values))
                return bounds is not None and bounds[0] >= low_bound

            return test_gte
        if op == "lte":
            assert condition.lte is not None
            high_bound = condition.lte

            def test_lte(values: Mapping[str, Any], t: float) -> bool:
                bounds = parse_range(get(values))
                return bounds is not None and bounds[1] <= high_bound

            return test_lte
        assert condition.between is not None
        low, high = condition.between

        def test_between(values: Mapping[str, Any], t: float) -> bool:
            bounds = parse_range(get(values))
            return bounds is not None and bounds[0] >= low and bounds[1] <= high

        return test_between

    if op == "regex":
        assert condition.regex is not None
        pattern = re.compile(condition.regex, 0 if case_sensitive else re.IGNORECASE)
        search = pattern.search

        def test_regex(values: Mapping[str, Any], t: float) -> bool:
            text = to_text(get(values))
            return text is not None and search(text) is not None

        return test_regex

    if op in ("contains", "contains_word"):
        needles = [norm(needle) for needle in (condition.contains or condition.contains_word or [])]
        if op == "contains_word":
            alternatives = "|".join(re.escape(needle) for needle in sorted(needles, key=len, reverse=True))
            flags = 0 if case_sensitive else re.IGNORECASE
            word_search = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", flags).search

            def test_word(values: Mapping[str, Any], t: float) -> bool:
                text = to_text(get(values))
                return text is not None and word_search(text) is not None

            return test_word
        needle_tuple = tuple(needles)

        def test_contains(values: Mapping[str, Any], t: float) -> bool:
            text = to_text(get(values))
            if text is None:
                return False
            text = norm(text)
            for needle in needle_tuple:
                if needle in text:
                    return True
            return False

        return test_contains

    # equals / in / not_in
    if op == "equals":
        wanted: list[Any] = [condition.equals]
    else:
        wanted = list(condition.in_ if op == "in" else condition.not_in or [])
    texts = frozenset(_scalar_text(v, case_sensitive) for v in wanted if isinstance(v, str))
    numbers = frozenset(v for v in wanted if isinstance(v, float) and not isinstance(v, bool))
    flags = frozenset(v for v in wanted if isinstance(v, bool))
    negate = op == "not_in"

    def test_in(values: Mapping[str, Any], t: float) -> bool:
        value = get(values)
        text = to_text(value)
        if text is None:
            return False
        found = norm(text) in texts
        if not found and numbers:
            bounds = parse_range(value)
            found = bounds is not None and bounds[0] == bounds[1] and bounds[0] in numbers
        if not found and flags:
            found = parse_bool(value) in flags
        return found is not negate

    return test_in
