"""Reading the dirty numbers, dates and flags that CRM fields hold, without ever raising.

CRM fields are typed by whoever filled in the form: an employee count arrives as ``250``, ``"1,000"``,
``"100-500"``, ``"1000+"``, ``"2.5k"`` or ``"n/a"``.  The scoring rules compare against ranges:

* ``parse_range(value) -> (low, high) | None``: ``"100-500"`` is ``(100, 500)``, ``"1000+"`` is
  ``(1000, inf)``, ``"<50"`` is ``(-inf, 50)``, a plain number ``x`` is ``(x, x)``.  A ``gte`` rule tests
  ``low >= bound`` and a ``lte`` rule tests ``high <= bound``, so a range only matches when all of it does.
* ``parse_number(value) -> float | None``: one representative value: a plain number as is, the midpoint of a
  closed range, and the known end of an open one (``"1000+"`` is 1000).
* ``parse_datetime(value) -> datetime | None``: ISO 8601 strings, dates, ``"2024-05-01 10:00:00"``,
  epoch seconds or milliseconds (HubSpot sends milliseconds as strings); naive values are taken as UTC.
* ``parse_bool(value) -> bool | None``: true/false, yes/no, 1/0, on/off, y/n, checked/unchecked.

Anything that cannot be read (``None``, ``""``, ``"n/a"``, ``"unknown"``, ``NaN``, nonsense) gives
``None``: the rule that asked does not fire.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Final

INF: Final = math.inf

# Longer values are cut before parsing: no CRM number or date needs more, and it bounds the work.
_MAX_NUMBER_TEXT: Final = 64
_MAX_DATE_TEXT: Final = 64

_MULTIPLIERS: Final[dict[str, float]] = {
    "": 1.0,
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "mn": 1e6,
    "mio": 1e6,
    "million": 1e6,
    "millions": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "billions": 1e9,
}

# A number as people type it: digits with optional grouping, decimals and a multiplier suffix.
_SUFFIX = r"k|thousand|mm|mn|mio|millions?|m|bn|billions?|b"
_NUMBER_RE: Final = re.compile(
    rf"(?P<sign>[-+]?)\s*(?P<num>\d+(?:[,.'\u00a0\u202f ]\d+)*|\.\d+)(?:\s*(?P<suffix>{_SUFFIX})(?![a-z]))?"
)
_RANGE_SEP_RE: Final = re.compile(r"^\s*(?:-|\u2013|\u2014|to|and|\.\.|~)\s*")
_CURRENCY_RE: Final = re.compile(r"[$\u20ac\u00a3\u00a5\u20b9]|\b(?:usd|eur|gbp|chf|inr|aud|cad)\b")
_LOWER_BOUND_PREFIX: Final = re.compile(r"^(?:>=?|\u2265|over|above|more than|at least|min(?:imum)?\.?)\s*")
_UPPER_BOUND_PREFIX: Final = re.compile(
    r"^(?:<=?|\u2264|under|below|less than|fewer than|up to|at most|max(?:imum)?\.?)\s*"
)
_APPROX_PREFIX: Final = re.compile(r"^(?:~|approx\.?|approximately|about|around|ca\.?|circa|between)\s*")
_PLUS_SUFFIX: Final = re.compile(r"^\s*(?:\+|or more|and more|and above|and up|plus)")


def _is_finite(x: float) -> bool:
    return x == x and x not in (INF, -INF)


def _group_number(text: str) -> float | None:
    """Read digits with thousands separators and a decimal mark, e.g. ``1,000.5``, ``1.000.000``, ``2,5``."""
    digits = text.strip().replace("\u00a0", " ").replace("\u202f", " ").replace("'", ",")
    if " " in digits:
        if not re.fullmatch(r"\d{1,3}(?: \d{3})+(?:[.,]\d+)?", digits):
            return None
        digits = digits.replace(" ", "")
    commas, dots = digits.count(","), digits.count(".")
    if commas and dots:
        # Both marks: the last one is the decimal mark ("1,234.5" or "1.234,5").
        if digits.rfind(",") > digits.rfind("."):
            whole, _, frac = digits.rpartition(",")
            grouped, sep = whole, "."
        else:
            whole, _, frac = digits.rpartition(".")
            grouped, sep = whole, ","
        if not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(sep)}\d{{3}})*", grouped) or not frac.isdigit():
            return None
        return float(grouped.replace(sep, "") + "." + frac)
    if commas:
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits):
            return float(digits.replace(",", ""))
        if commas == 1 and re.fullmatch(r"\d+,\d+", digits):
            return float(digits.replace(",", "."))  # a decimal comma: "2,5"
        return None
    if dots > 1:
        if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", digits):
            return float(digits.replace(".", ""))
        return None
    if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", digits):
        return float(digits)
    return None


def _read_number(text: str, pos: int) -> tuple[float, int] | None:
    """Read one number (with sign and multiplier) at ``text[pos:]``; return it and the end position."""
    match = _NUMBER_RE.match(text, pos)
    if match is None:
        return None
    value = _group_number(match.group("num"))
    if value is None:
        return None
    value *= _MULTIPLIERS[match.group("suffix") or ""]
    if match.group("sign") == "-":
        value = -value
    return value, match.end()


def _clean_text(value: str) -> str:
    text = value[:_MAX_NUMBER_TEXT].strip().lower()
    text = _CURRENCY_RE.sub("", text).strip()
    return text


def parse_range(value: Any) -> tuple[float, float] | None:
    """The ``(low, high)`` range a field value stands for, or ``None`` when it holds no number.

    Never raises.  Booleans are not numbers here (``True`` would otherwise read as 1 employee).
    """
    if value is None or value is True or value is False:
        return None
    cls = type(value)
    if cls is int:
        number = float(value) if -1e300 < value < 1e300 else None
        return None if number is None else (number, number)
    if cls is float:
        return (value, value) if _is_finite(value) else None
    if cls is not str:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            try:
                number = float(value)
            except (OverflowError, ValueError):
                return None
            return (number, number) if _is_finite(number) else None
        return None
    if len(value) > _MAX_NUMBER_TEXT:
        return _parse_range_str.__wrapped__(value[:_MAX_NUMBER_TEXT])
    return _parse_range_str(value)


@lru_cache(maxsize=4096)
def _parse_range_str(value: str) -> tuple[float, float] | None:
    # Remembered: CRM number fields repeat the same few strings ("100-500", "1,000") across contacts.
    try:
        # The common case: a clean number in a string ("250").  float() also reads "1_000" and " 12 ".
        number = float(value)
    except (ValueError, OverflowError):
        return _parse_range_text(value)
    if _is_finite(number):
        return (number, number)
    return None


def _parse_range_text(value: str) -> tuple[float, float] | None:
    text = _clean_text(value)
    if not text or not any(ch.isdigit() for ch in text):
        return None
    lower_only = upper_only = False
    stripped = _LOWER_BOUND_PREFIX.sub("", text, count=1)
    if stripped != text:
        lower_only, text = True, stripped
    else:
        stripped = _UPPER_BOUND_PREFIX.sub("", text, count=1)
        if stripped != text:
            upper_only, text = True, stripped
        else:
            text = _APPROX_PREFIX.sub("", text, count=1)
    first = _read_number(text, 0)
    if first is None:
        return None
    low, pos = first
    rest = text[pos:]
    high = low
    if not (lower_only or upper_only):
        sep = _RANGE_SEP_RE.match(rest)
        if sep is not None:
            second = _read_number(rest, sep.end())
            if second is not None:
                high, end = second
                rest = rest[end:]
                if high < low:
                    low, high = high, low
        plus = _PLUS_SUFFIX.match(rest)
        if plus is not None and high == low:
            lower_only = True
            rest = rest[plus.end() :]
    if any(ch.isdigit() for ch in rest):
        return None  # more digits or symbols we do not understand ("12/05/2024", "3 of 4")
    if lower_only:
        high = INF
    elif upper_only:
        low, high = -INF, low
    if not (_is_finite(low) or _is_finite(high)):
        return None
    if (low == low) and (high == high):
        return (low, high)
    return None


def parse_number(value: Any) -> float | None:
    """One number for a field value: the value itself, a range's midpoint, an open range's known end.

    ``"1,000"`` -> 1000, ``"100-500"`` -> 300, ``"1000+"`` -> 1000, ``"<50"`` -> 50, ``"2.5M"`` -> 2500000,
    ``"n/a"`` -> None.  Never raises.
    """
    bounds = parse_range(value)
    if bounds is None:
        return None
    low, high = bounds
    if low == high:
        return low
    if low == -INF:
        return high
    if high == INF:
        return low
    return (low + high) / 2


_TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "1", "on", "checked", "x"})
_FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "0", "off", "unchecked"})


def parse_bool(value: Any) -> bool | None:
    """A yes/no field value as a bool, or ``None`` when it is neither.  Never raises."""
    if value is True or value is False:
        return bool(value)
    if type(value) is str:
        word = value[:16].strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        return None
    if type(value) in (int, float):
        if value == 1:
            return True
        if value == 0:
            return False
    return None


# Epoch values above this are milliseconds (1e11 seconds is the year 5138; 1e11 ms is 1973).
_MILLIS_THRESHOLD: Final = 1e11
_MIN_EPOCH: Final = -62135596800.0  # 0001-01-01
_MAX_EPOCH: Final = 253402300799.0  # 9999-12-31 23:59:59
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NUMERIC_RE: Final = re.compile(r"[-+]?\d+(?:\.\d+)?")
_SALESFORCE_OFFSET_RE: Final = re.compile(r"([+-]\d{2})(\d{2})$")


def _from_epoch(number: float) -> datetime | None:
    if not _is_finite(number):
        return None
    if abs(number) >= _MILLIS_THRESHOLD:
        number /= 1000.0
    if not (_MIN_EPOCH <= number <= _MAX_EPOCH):
        return None
    try:
        return _EPOCH + timedelta(seconds=number)
    except (OverflowError, ValueError):
        return None


def parse_datetime(value: Any) -> datetime | None:
    """A field value as an aware datetime (UTC when the value carries no offset), or ``None``.

    Reads datetimes, dates (midnight UTC), epoch seconds or milliseconds (numbers or numeric strings), ISO
    8601 strings with ``Z``, ``+02:00`` or ``+0200`` offsets, and ``"2024-05-01 10:00:00"``.  Never raises.
    """
    if value is None or value is True or value is False:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if isinstance(value, int | float):
        try:
            return _from_epoch(float(value))
        except (OverflowError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value[:_MAX_DATE_TEXT].strip()
    if not text:
        return None
    if text.isdigit() or _NUMERIC_RE.fullmatch(text):
        if len(text) == 8 and text.isdigit():
            # Compact dates (20240501) rather than an epoch value in 1970.
            try:
                return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
            except ValueError:
                return None
        try:
            return _from_epoch(float(text))
        except (OverflowError, ValueError):
            return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _parse_loose(text)
        if parsed is None:
            return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return parsed


def _parse_loose(text: str) -> datetime | None:
    """ISO-like text that ``fromisoformat`` refuses: ``z`` suffixes, ``+0000`` offsets, a space separator."""
    candidate = text.replace(" ", "T", 1) if len(text) > 10 and text[10] == " " else text
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    if "T" in candidate:
        candidate = _SALESFORCE_OFFSET_RE.sub(r"\1:\2", candidate)
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None
