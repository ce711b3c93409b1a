"""The ``regex:`` test's regular expressions, run by RE2 (``google-re2``): time linear in the text, always.

Python's ``re`` backtracks: ``^(\\w+\\s?)+$`` against a long title that ends in ``!`` takes longer than the age
of the universe, and a model file is input that a CRM export or a careless edit can bring.  RE2 cannot
backtrack, so it does not offer what needs backtracking (back-references such as ``\\1``, look-ahead and
look-behind ``(?=...)``, ``(?<=...)``, possessive or atomic groups) and refuses them when the model is
validated, with the file, line and field.  Its ``\\w``, ``\\d``, ``\\s`` and ``\\b`` are ASCII; ``\\pL`` is any
letter.  Case-insensitive matching (the default) folds Unicode case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

Search = Callable[[str], Any]  # text -> a match or None


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False  # the error goes to the user as a located sentence, not to stderr
    return options


def compile_regex(pattern: str, case_sensitive: bool) -> Search:
    """The search function of ``pattern``; ``ValueError`` with a sentence when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _options(case_sensitive)).search
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        if "invalid perl operator" in text or "invalid escape sequence" in text:
            hint = (
                "; look-ahead, look-behind and back-references are not supported "
                "(regular expressions here run in linear time)"
            )
        else:
            hint = ""
        raise ValueError(f"invalid regular expression: {text}{hint}") from None
