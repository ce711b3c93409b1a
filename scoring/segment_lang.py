"""The ``segments:`` of a model file: audiences named by a short expression over the score and the contact.

    segments:
      nurture: stage == lead and not unsubscribed and no unsubscribe
      hot_not_contacted: label == hot and no call in 7d
      big_accounts: {field: employees, gte: 1000}     # or a condition, as in fit rules

An expression combines tests with ``and``, ``or``, ``not`` and parentheses:

* ``NAME OP VALUE`` with ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in [a, b]``, ``not in [a, b]`` or
  ``contains VALUE``.  ``NAME`` is a score name (``score`` or ``total``, ``fit``, ``engagement``, ``grade``,
  ``stage``, ``label``, ``matrix``, ``tier``) or a contact field; a field test means what the same test
  means in a fit rule (text ignores case, ``"1,000"`` reads as a number, an empty field fails every test).
* ``NAME`` alone: a yes/no field that says yes (a score name: one that is set, e.g. ``tier``).
* ``no TYPE in DURATION`` / ``any TYPE in DURATION``: no (or at least one) activity of that canonical type
  (or ``[type, type]``) in the last ``DURATION`` (``7d``, ``24h``); without ``in DURATION``: ever.

``parse_segment`` turns the text into a small tree (``Node``) and refuses bad syntax; ``check_segment``
refuses names and values the model cannot produce (a label it has no cut for, an unknown activity type).
Each error is a sentence naming the segment.  ``scoring.segments`` compiles the tree.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .model_values import KNOWN_ACTIVITY_TYPES, MAX_DAYS, STAGES, duration_seconds
from .yamlfile import unknown_key_message

NUMERIC_NAMES: Final = ("score", "total", "fit", "engagement")
TEXT_NAMES: Final = ("grade", "stage", "label", "matrix", "tier")
SCORE_NAMES: Final = (*NUMERIC_NAMES, *TEXT_NAMES)
MAX_SEGMENTS: Final = 50  # each is an option of a multi-select field in the CRM
MAX_EXPRESSION: Final = 2000  # characters
MAX_NESTING: Final = 32
SEGMENT_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

_TOKEN_RE: Final = re.compile(
    r"""\s*(?:(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)|(?P<quoted>"[^"]*"|'[^']*')|(?P<word>[^\s()\[\],=!<>"']+))"""
)
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "no", "any", "contains"})
_COMPARE: Final = ("==", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class Test:
    """``name op value``: op is one of ``_COMPARE``, ``in``, ``not_in``, ``contains`` or ``truthy``."""

    name: str
    op: str
    values: tuple[str | float | bool, ...]
    text: str  # as written, for explanations


@dataclass(frozen=True, slots=True)
class ActivityTest:
    """``no|any TYPES [in DURATION]``: ``seconds`` is ``None`` for ever."""

    want_none: bool
    types: tuple[str, ...]
    seconds: float | None
    text: str


@dataclass(frozen=True, slots=True)
class Group:
    """``all`` (and), ``any`` (or) of ``children``, or ``not`` of its single child."""

    op: str
    children: tuple[Node, ...]


Node = Test | ActivityTest | Group


def _shown(text: str, limit: int = 60) -> str:
    """A fragment of the expression fit for a one-line error (a 2,000-character word is cut, not echoed)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Parser:
    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
        position = 0
        stripped = text.rstrip()
        while position < len(stripped):
            match = _TOKEN_RE.match(stripped, position)
            if match is None or match.end() == position:
                self.fail(f"cannot read {stripped[position:].strip()[:20]!r}")
            assert match is not None
            kind = match.lastgroup or "word"
            token = match.group(kind)
            if kind == "quoted":
                token = token[1:-1]
            self.tokens.append((kind, token, match.start(kind)))
            position = match.end()
        self.index = 0
        self.depth = 0

    def fail(self, problem: str) -> None:
        raise ValueError(f"segment '{self.name}': {problem}")

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def is_word(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token[0] == "word" and token[1].lower() == word

    def is_op(self, op: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "op" and token[1] == op

    def take(self, what: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.fail(f"expected {what} at the end")
        assert token is not None
        self.index += 1
        return token

    def source(self, start: int) -> str:
        """The text of the tokens from ``start`` to the current one, as written."""
        first = self.tokens[start][2]
        last_kind, last_text, last_pos = self.tokens[self.index - 1]
        end = last_pos + len(last_text) + (2 if last_kind == "quoted" else 0)
        return self.text[first:end].strip()

    def parse(self) -> Node:
        if not self.tokens:
            self.fail("the expression is empty; write e.g. `score < 40 and not unsubscribed`")
        node = self.expression()
        if self.peek() is not None:
            token = self.peek()
            assert token is not None
            self.fail(f"unexpected {_shown(token[1])!r} at character {token[2] + 1}; join tests with `and` or `or`")
        return node

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"tests nest at most {MAX_NESTING} levels deep")
        children = [self.conjunction()]
        while self.is_word("or"):
            self.index += 1
            children.append(self.conjunction())
        self.depth -= 1
        return children[0] if len(children) == 1 else Group("any", tuple(children))

    def conjunction(self) -> Node:
        children = [self.unary()]
        while self.is_word("and"):
            self.index += 1
            children.append(self.unary())
        return children[0] if len(children) == 1 else Group("all", tuple(children))

    def unary(self) -> Node:
        if self.is_word("not"):
            self.index += 1
            self.depth += 1
            if self.depth > MAX_NESTING:
                self.fail(f"tests nest at most {MAX_NESTING} levels deep")
            negated = Group("not", (self.unary(),))
            self.depth -= 1
            return negated
        if self.is_op("("):
            self.index += 1
            node = self.expression()
            if not self.is_op(")"):
                self.fail("a `(` is never closed")
            self.index += 1
            return node
        if (self.is_word("no") or self.is_word("any")) and self.peek(1) is not None:
            return self.activity()
        return self.test()

    def activity(self) -> ActivityTest:
        start = self.index
        want_none = self.take("no or any")[1].lower() == "no"
        types = tuple(str(v) for v in self.values("an activity type", numbers=False))
        seconds: float | None = None
        if self.is_word("in"):
            self.index += 1
            kind, word, _ = self.take("a duration such as 7d")
            try:
                seconds = duration_seconds(word) if kind == "word" else None
            except ValueError:
                seconds = None
            if seconds is None or seconds <= 0 or seconds > MAX_DAYS * 86400:
                self.fail(f"expected a duration such as 7d, 24h or 2w after `in`, not {_shown(word)!r}")
        return ActivityTest(want_none, types, seconds, self.source(start))

    def test(self) -> Test:
        start = self.index
        kind, name, position = self.take("a test")
        if kind != "word" or name.lower() in _KEYWORDS:
            self.fail(f"expected a score name or a field at character {position + 1}, found {_shown(name)!r}")
        if name.lower() in SCORE_NAMES:
            name = name.lower()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in _COMPARE:
            self.index += 1
            op = token[1]
            value = self.value()
            return Test(name, op, (value,), self.source(start))
        if self.is_word("in"):
            self.index += 1
            return Test(name, "in", self.values("a value"), self.source(start))
        if self.is_word("not") and self.is_word("in", 1):
            self.index += 2
            return Test(name, "not_in", self.values("a value"), self.source(start))
        if self.is_word("contains"):
            self.index += 1
            return Test(name, "contains", (str(self.value()),), self.source(start))
        return Test(name, "truthy", (), self.source(start))

    def value(self) -> str | float | bool:
        kind, word, position = self.take("a value")
        if kind == "op":
            self.fail(f"expected a value at character {position + 1}, found {_shown(word)!r}")
        if kind == "quoted":
            return word
        lowered = word.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        try:
            number = float(word.replace(",", ""))
        except ValueError:
            return word
        return number if number == number and abs(number) != float("inf") else word

    def values(self, what: str, numbers: bool = True) -> tuple[str | float | bool, ...]:
        if not self.is_op("["):
            if numbers:
                self.fail(f"expected a list such as [a, b] after `in`, found {self.describe_next()}")
            kind, word, position = self.take(what)
            if kind != "word":
                self.fail(f"expected {what} at character {position + 1}, found {_shown(word)!r}")
            return (word,)
        self.index += 1
        found: list[str | float | bool] = []
        while True:
            found.append(self.value() if numbers else self.take(what)[1])
            if self.is_op(","):
                self.index += 1
                continue
            if self.is_op("]"):
                self.index += 1
                return tuple(found)
            self.fail(f"expected `,` or `]` in a list, found {self.describe_next()}")

    def describe_next(self) -> str:
        token = self.peek()
        return "the end" if token is None else repr(token[1])


def parse_segment(name: str, text: str) -> Node:
    """The tree of a segment's expression; ``ValueError`` names the segment and the problem."""
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"segment '{name}': an expression has at most {MAX_EXPRESSION} characters")
    return _Parser(name, text).parse()


def walk(node: Node) -> Iterator[Test | ActivityTest]:
    """The tests of a tree, left to right."""
    if isinstance(node, Group):
        for child in node.children:
            yield from walk(child)
    else:
        yield node


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the model's score names can take, to refuse a segment that can never match as written."""

    grades: Sequence[str]
    labels: Sequence[str] | None  # None: the model has no labels: block
    cells: Sequence[str]
    tiers: Sequence[str]


def check_segment(name: str, node: Node, words: Vocabulary) -> None:
    """Refuse score names compared in ways or with values the model cannot produce, and unknown activity types."""
    allowed: Mapping[str, Sequence[str] | None] = {
        "grade": words.grades,
        "stage": STAGES,
        "label": words.labels,
        "matrix": words.cells,
        "tier": words.tiers,
    }
    for test in walk(node):
        if isinstance(test, ActivityTest):
            for activity_type in test.types:
                if activity_type not in KNOWN_ACTIVITY_TYPES:
                    hint = unknown_key_message(activity_type, KNOWN_ACTIVITY_TYPES)
                    raise ValueError(f"segment '{name}': {hint.replace('unknown key', 'unknown activity type')}")
            continue
        if test.name in NUMERIC_NAMES:
            if test.op == "contains" or any(isinstance(v, str | bool) for v in test.values):
                raise ValueError(
                    f"segment '{name}': {test.name} is a number; `{_shown(test.text)}` compares it with text"
                )
            continue
        if test.name not in TEXT_NAMES:
            if test.op in ("<", "<=", ">", ">=") and not all(isinstance(v, float) for v in test.values):
                raise ValueError(f"segment '{name}': `{_shown(test.text)}` needs a number after {test.op}")
            continue
        if test.op in ("<", "<=", ">", ">=", "contains"):
            raise ValueError(
                f"segment '{name}': {test.name} is a name; compare it with ==, !=, in or not in, not `{test.op}`"
            )
        known = allowed[test.name]
        if known is None:
            raise ValueError(f"segment '{name}': the model has no labels: block, so a contact never has a label")
        folded = {k.lower(): k for k in known}
        for value in test.values:
            if str(value).strip().lower() not in folded:
                choices = ", ".join(known) if known else "none (the model has no tiers)"
                raise ValueError(f"segment '{name}': {test.name} is one of {choices}; {str(value)!r} is none of them")


def matrix_cells(grades: Sequence[str], levels: int, cells: Mapping[str, str]) -> list[str]:
    """Every cell name the matrix can produce: grade + level, or the name the model gives the cell."""
    return [cells.get(f"{grade}{level}", f"{grade}{level}") for grade in grades for level in range(1, levels + 1)]
