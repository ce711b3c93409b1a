"""Compile a ``Condition`` from the model file into plain functions over a mapping of values.

``compile_condition(condition) -> Compiled``.  For a condition without date tests, ``test(values, t)``
answers it for a contact's fields or an activity's attributes (``t`` is ignored).  For one with date tests
(``timed``), ``bind(values)`` reads the dates once and returns ``(test_at, flips)``: ``test_at(t)`` answers
at epoch second ``t`` and ``flips`` lists the moments at which a date test can change its answer.

Semantics, shared by every rule kind:

* Text tests ignore case and surrounding spaces unless ``case_sensitive: true``.
* Every test except ``missing`` is false on an empty field (``None``, ``""`` or only spaces), ``not_in``
  included; wrap a test in ``not:`` to count empty fields in.
* ``gte`` reads a range's low end, ``lte`` its high end, ``between`` needs all of it inside
  (see ``scoring.numbers``); a value that holds no number makes them false.
* ``contains_word`` matches whole words or phrases: ``vp`` matches "VP Sales", not "MVP".
* Field values longer than ``MAX_TEXT`` characters are cut to that length before text tests.
* ``email_domain`` is the part of ``email`` after the last ``@`` (a field of that name wins if present).

Each text test remembers its answers for recent short texts (titles, industries, page URLs and form
names repeat across contacts), which makes most tests a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from .freemail import FREE_MAIL_DOMAINS
from .model import Condition
from .numbers import parse_bool, parse_datetime, parse_range
from .patterns import compile_regex

Test = Callable[[Mapping[str, Any], float], bool]
TestAt = Callable[[float], bool]
Bind = Callable[[Mapping[str, Any]], tuple[TestAt, list[float]]]
Getter = Callable[[Mapping[str, Any]], Any]

MAX_TEXT: Final = 10_000
DAY: Final = 86400.0
# Activities and dates up to this far in the future count as "now" (clocks disagree a little).
CLOCK_SKEW_SECONDS: Final = 300.0
_MEMO_SIZE: Final = 4096  # answers remembered per text test
_MEMO_MAX_LEN: Final = 200  # longer texts are tested without remembering
_WORD_RE: Final = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Compiled:
    test: Test  # for conditions without date tests
    timed: bool
    bind: Bind  # for conditions with date tests


def to_text(value: Any) -> str | None:
    """A field value as text for text tests, or ``None`` when empty.  Never raises."""
    cls = type(value)
    if cls is str:
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
        return text if text and not text.isspace() else None
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
    return text if text and not text.isspace() else None


@lru_cache(maxsize=_MEMO_SIZE)
def _domain_of(text: str) -> str | None:
    if "@" not in text:
        return None
    domain = text.rpartition("@")[2].strip().strip(">.").lower()
    return domain or None


def email_domain(value: Any) -> str | None:
    """The domain of an email address value, lower case, or ``None``."""
    text = to_text(value)
    if text is None:
        return None
    return _domain_of(text) if len(text) <= _MEMO_MAX_LEN else _domain_of.__wrapped__(text)


def _getter(field: str) -> Getter:
    if field == "email_domain":

        def get_domain(values: Mapping[str, Any]) -> Any:
            own = values.get("email_domain")
            return own if own is not None else email_domain(values.get("email"))

        return get_domain
    return lambda values: values.get(field)


def _text_test(field: str, match: Callable[[str], bool]) -> Test:
    """A test that reads ``field`` as text and asks ``match`` (remembered for short texts)."""

    def answer(text: str) -> bool:
        return bool(text) and not text.isspace() and match(text)

    memo = lru_cache(maxsize=_MEMO_SIZE)(answer)
    get = _getter(field)

    def test_other(value: Any) -> bool:
        text = to_text(value)
        if text is None:
            return False
        return memo(text) if len(text) <= _MEMO_MAX_LEN else answer(text)

    if field == "email_domain":
        return lambda values, t: test_other(get(values))

    def test(values: Mapping[str, Any], t: float) -> bool:
        value = values.get(field)
        if type(value) is str and len(value) <= _MEMO_MAX_LEN:
            return memo(value)
        return test_other(value)

    return test


def _never_timed(values: Mapping[str, Any]) -> tuple[TestAt, list[float]]:
    raise AssertionError("bind() is only for conditions with date tests")


def compile_condition(condition: Condition) -> Compiled:
    op = condition.operator
    if op in ("all", "any", "not"):
        return _compile_group(condition, op)
    if op == "free_mail":
        want_free = bool(condition.free_mail)

        def test_free_mail(values: Mapping[str, Any], t: float) -> bool:
            domain = email_domain(values.get("email"))
            return domain is not None and (domain in FREE_MAIL_DOMAINS) is want_free

        return Compiled(test_free_mail, False, _never_timed)
    assert condition.field is not None
    if op in ("within_days", "older_than_days"):
        return _compile_date(condition, op, _getter(condition.field))
    return Compiled(_compile_leaf(condition, op, condition.field), False, _never_timed)


def _compile_group(condition: Condition, op: str) -> Compiled:
    children = (
        [compile_condition(condition.not_)]
        if op == "not" and condition.not_ is not None
        else [compile_condition(child) for child in condition._value(op)]
    )
    timed = any(child.timed for child in children)
    if op == "not":
        inner = children[0]
        inner_test = inner.test

        def test_not(values: Mapping[str, Any], t: float) -> bool:
            return not inner_test(values, t)

        def bind_not(values: Mapping[str, Any]) -> tuple[TestAt, list[float]]:
            inner_at, flips = inner.bind(values)
            return (lambda t: not inner_at(t)), flips

        return Compiled(test_not, timed, bind_not if timed else _never_timed)
    tests = tuple(child.test for child in children)
    want = op == "any"  # "any" stops at the first true child, "all" at the first false one

    def test_group(values: Mapping[str, Any], t: float) -> bool:
        for child_test in tests:
            if child_test(values, t) is want:
                return want
        return not want

    def bind_group(values: Mapping[str, Any]) -> tuple[TestAt, list[float]]:
        bound: list[TestAt] = []
        flips: list[float] = []
        for child in children:
            if child.timed:
                child_at, child_flips = child.bind(values)
                bound.append(child_at)
                flips.extend(child_flips)
            else:
                bound.append(_constant(child.test(values, 0.0)))

        def group_at(t: float) -> bool:
            for child_at in bound:
                if child_at(t) is want:
                    return want
            return not want

        return group_at, flips

    return Compiled(test_group, timed, bind_group if timed else _never_timed)


def _constant(answer: bool) -> TestAt:
    return lambda t: answer


def _compile_date(condition: Condition, op: str, get: Getter) -> Compiled:
    def never(t: float) -> bool:
        return False

    def read(values: Mapping[str, Any]) -> float | None:
        parsed = parse_datetime(get(values))
        if parsed is None:
            return None
        try:
            return parsed.timestamp()
        except (OverflowError, ValueError, OSError):
            return None

    def static_test(values: Mapping[str, Any], t: float) -> bool:
        raise AssertionError("date tests are answered through bind()")

    if op == "within_days":
        assert condition.within_days is not None
        span = condition.within_days * DAY

        def bind_within(values: Mapping[str, Any]) -> tuple[TestAt, list[float]]:
            ts = read(values)
            if ts is None:
                return never, []
            start = ts - CLOCK_SKEW_SECONDS
            return (lambda t: start <= t < ts + span), [start, ts + span]

        return Compiled(static_test, True, bind_within)
    assert condition.older_than_days is not None
    age = condition.older_than_days * DAY

    def bind_older(values: Mapping[str, Any]) -> tuple[TestAt, list[float]]:
        ts = read(values)
        if ts is None:
            return never, []
        return (lambda t: t - ts >= age), [ts + age]

    return Compiled(static_test, True, bind_older)


def _compile_leaf(condition: Condition, op: str, field: str) -> Test:
    case_sensitive = condition.case_sensitive

    def norm(text: str) -> str:
        return text.strip() if case_sensitive else text.strip().lower()

    if op in ("exists", "missing"):
        want = bool(condition.exists) if op == "exists" else not condition.missing
        get = _getter(field)

        def test_exists(values: Mapping[str, Any], t: float) -> bool:
            return (to_text(get(values)) is not None) is want

        return test_exists

    if op in ("gte", "lte", "between"):
        low, high = -float("inf"), float("inf")
        if op == "gte":
            assert condition.gte is not None
            low = condition.gte
        elif op == "lte":
            assert condition.lte is not None
            high = condition.lte
        else:
            assert condition.between is not None
            low, high = condition.between

        def in_range(value: Any) -> bool:
            bounds = parse_range(value)
            return bounds is not None and bounds[0] >= low and bounds[1] <= high

        text_in_range = _text_test(field, in_range)
        get = _getter(field)

        def test_number(values: Mapping[str, Any], t: float) -> bool:
            value = get(values)
            cls = type(value)
            if cls is int or cls is float:
                return low <= value <= high  # NaN compares false
            if cls is str:
                return text_in_range(values, t)
            return in_range(value)

        return test_number

    if op == "regex":
        assert condition.regex is not None
        search = compile_regex(condition.regex, case_sensitive)  # RE2: linear time, whatever the text
        return _text_test(field, lambda text: search(text) is not None)

    if op == "contains":
        needles = tuple(n for n in (norm(needle) for needle in condition.contains or ()) if n)

        def contains(text: str) -> bool:
            folded = text if case_sensitive else text.lower()
            for needle in needles:  # noqa: SIM110 - a plain loop is faster than any() over a generator
                if needle in folded:
                    return True
            return False

        return _text_test(field, contains)

    if op == "contains_word":
        phrases = [norm(needle) for needle in condition.contains_word or ()]
        words = frozenset(p for p in phrases if _WORD_RE.fullmatch(p))
        multi = tuple(
            " " + " ".join(_WORD_RE.findall(p)) + " " for p in phrases if p not in words and _WORD_RE.search(p)
        )

        def contains_word(text: str) -> bool:
            found = _WORD_RE.findall(text if case_sensitive else text.lower())
            if not words.isdisjoint(found):
                return True
            if multi:
                joined = " " + " ".join(found) + " "
                for phrase in multi:
                    if phrase in joined:
                        return True
            return False

        return _text_test(field, contains_word)

    # equals / in / not_in: compare as text, and as a number or a yes/no when the model gives those
    wanted: list[Any] = [condition.equals] if op == "equals" else list(condition._value(op) or [])
    texts = frozenset(norm(v) for v in wanted if isinstance(v, str))
    numbers = frozenset(v for v in wanted if isinstance(v, float) and not isinstance(v, bool))
    flags = frozenset(v for v in wanted if isinstance(v, bool))
    negate = op == "not_in"

    def member(text: str) -> bool:
        found = norm(text) in texts
        if not found and numbers:
            bounds = parse_range(text)
            found = bounds is not None and bounds[0] == bounds[1] and bounds[0] in numbers
        if not found and flags:
            found = parse_bool(text) in flags
        return found is not negate

    return _text_test(field, member)
