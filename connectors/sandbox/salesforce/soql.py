"""A small SOQL parser for the Salesforce sandbox: the subset leadsync's adapter and tests send.

Supported::

    SELECT field, Relationship.Field, ... | SELECT COUNT()
    FROM Object
    [WHERE cond]            cond: AND / OR / NOT, parentheses,
                            field (= != <> < <= > >=) literal, field [NOT] IN (literal, ...),
                            field [NOT] LIKE 'pattern'
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
    [LIMIT n] [OFFSET n]

Literals: 'strings' (with backslash escapes), numbers, true/false, null, datetimes
(``2024-01-01T00:00:00Z``, ``...+02:00``, optional fraction) and dates (``2024-01-01``).
Anything else raises ``SoqlError``, which the sandbox turns into Salesforce's 400 ``MALFORMED_QUERY``.
Keywords are case-insensitive, as in SOQL.  Date literals such as ``TODAY`` and semi-joins are not supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

# Salesforce's own text format for datetimes in API responses (milliseconds always .000 on most fields).
SF_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000+0000"


class SoqlError(ValueError):
    """The query is not valid SOQL (or not in the sandbox's subset)."""


@dataclass(frozen=True, slots=True)
class DateTimeLiteral:
    value: str  # normalized to SF_DATETIME_FORMAT, UTC


@dataclass(frozen=True, slots=True)
class DateLiteral:
    value: str  # YYYY-MM-DD


Literal = str | int | float | bool | None | DateTimeLiteral | DateLiteral


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    op: str  # = != < <= > >= LIKE
    value: Literal
    negate: bool = False  # NOT LIKE


@dataclass(frozen=True, slots=True)
class InList:
    field: str
    values: tuple[Literal, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # AND | OR
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition


Condition = Compare | InList | BoolOp | Not


@dataclass(frozen=True, slots=True)
class OrderBy:
    field: str
    descending: bool = False
    nulls_last: bool | None = None  # None: SOQL default (NULLS FIRST for ASC, LAST for DESC)


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: Condition | None = None
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "TRUE",
    "FALSE",
    "NULL",
    "COUNT",
}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            # SOQL keeps \% and \_ escaped so LIKE can tell a literal wildcard from a pattern one.
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def normalize_datetime(text: str) -> str:
    """Any ISO-8601 datetime with an offset -> Salesforce's UTC text form (``...000+0000``)."""
    value = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SoqlError(f"invalid datetime literal {text}") from exc
    if parsed.tzinfo is None:
        raise SoqlError(f"datetime literal {text} needs a time zone")
    return parsed.astimezone(UTC).strftime(SF_DATETIME_FORMAT)


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def _tokenize(soql: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(soql):
        m = _TOKEN.match(soql, pos)
        if m is None:
            raise SoqlError(f"unexpected character {soql[pos]!r} at position {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, soql: str):
        self.soql = soql
        self.tokens = _tokenize(soql)
        self.i = 0

    # -- token helpers -----------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def next(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise SoqlError("unexpected end of query")
        self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "ident" and tok.upper in words

    def expect_keyword(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "ident" or tok.upper != word:
            raise SoqlError(f"unexpected token: '{tok.text}' (expected {word})")

    def expect_punct(self, ch: str) -> None:
        tok = self.next()
        if tok.text != ch:
            raise SoqlError(f"unexpected token: '{tok.text}' (expected '{ch}')")

    def field_name(self) -> str:
        tok = self.next()
        if tok.kind != "ident" or tok.upper in _KEYWORDS - {"FIRST", "LAST"}:
            raise SoqlError(f"unexpected token: '{tok.text}' (expected a field name)")
        return tok.text

    # -- grammar -----------------------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        count_only = False
        fields: list[str] = []
        if self.at_keyword("COUNT") and (nxt := self.peek(1)) is not None and nxt.text == "(":
            self.next()
            self.expect_punct("(")
            self.expect_punct(")")
            count_only = True
        else:
            fields.append(self.field_name())
            while (tok := self.peek()) is not None and tok.text == ",":
                self.next()
                fields.append(self.field_name())
        self.expect_keyword("FROM")
        sobject = self.field_name()
        where = None
        if self.at_keyword("WHERE"):
            self.next()
            where = self.condition()
        order: list[OrderBy] = []
        if self.at_keyword("ORDER"):
            self.next()
            self.expect_keyword("BY")
            order.append(self.order_item())
            while (tok := self.peek()) is not None and tok.text == ",":
                self.next()
                order.append(self.order_item())
        limit = offset = None
        if self.at_keyword("LIMIT"):
            self.next()
            limit = self.integer()
        if self.at_keyword("OFFSET"):
            self.next()
            offset = self.integer()
        if (tok := self.peek()) is not None:
            raise SoqlError(f"unexpected token: '{tok.text}'")
        return Query(tuple(fields), sobject, where, tuple(order), limit, offset, count_only)

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise SoqlError(f"unexpected token: '{tok.text}' (expected a non-negative integer)")
        return int(tok.text)

    def order_item(self) -> OrderBy:
        name = self.field_name()
        descending = False
        nulls_last: bool | None = None
        if self.at_keyword("ASC", "DESC"):
            descending = self.next().upper == "DESC"
        if self.at_keyword("NULLS"):
            self.next()
            if not self.at_keyword("FIRST", "LAST"):
                raise SoqlError("expected FIRST or LAST after NULLS")
            nulls_last = self.next().upper == "LAST"
        return OrderBy(name, descending, nulls_last)

    def condition(self) -> Condition:
        parts = [self.conjunction()]
        while self.at_keyword("OR"):
            self.next()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def conjunction(self) -> Condition:
        parts = [self.unary()]
        while self.at_keyword("AND"):
            self.next()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def unary(self) -> Condition:
        if self.at_keyword("NOT"):
            self.next()
            return Not(self.unary())
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.next()
            cond = self.condition()
            self.expect_punct(")")
            return cond
        return self.comparison()

    def comparison(self) -> Condition:
        name = self.field_name()
        negate = False
        if self.at_keyword("NOT"):
            self.next()
            negate = True
            if not self.at_keyword("IN", "LIKE"):
                raise SoqlError("expected IN or LIKE after NOT")
        if self.at_keyword("IN"):
            self.next()
            self.expect_punct("(")
            if self.at_keyword("SELECT"):
                raise SoqlError("semi-join subqueries are not supported by the sandbox")
            values = [self.literal()]
            while (tok := self.peek()) is not None and tok.text == ",":
                self.next()
                values.append(self.literal())
            self.expect_punct(")")
            return InList(name, tuple(values), negate)
        if self.at_keyword("LIKE"):
            self.next()
            value = self.literal()
            if not isinstance(value, str):
                raise SoqlError("LIKE needs a string pattern")
            return Compare(name, "LIKE", value, negate)
        if negate:
            raise SoqlError("expected IN or LIKE after NOT")
        tok = self.next()
        if tok.kind != "op":
            raise SoqlError(f"unexpected token: '{tok.text}' (expected an operator)")
        op = "!=" if tok.text == "<>" else tok.text
        return Compare(name, op, self.literal())

    def literal(self) -> Literal:
        tok = self.next()
        if tok.kind == "string":
            return _unescape(tok.text[1:-1])
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "datetime":
            return DateTimeLiteral(normalize_datetime(tok.text))
        if tok.kind == "date":
            return DateLiteral(tok.text)
        if tok.kind == "ident" and tok.upper in ("TRUE", "FALSE"):
            return tok.upper == "TRUE"
        if tok.kind == "ident" and tok.upper == "NULL":
            return None
        raise SoqlError(f"unexpected token: '{tok.text}' (expected a literal)")


def parse(soql: str) -> Query:
    """Parse one SOQL statement; raises ``SoqlError`` with a Salesforce-like message."""
    if not soql or not soql.strip():
        raise SoqlError("empty query")
    return _Parser(soql).query()


def condition_fields(cond: Condition | None) -> list[str]:
    """Every field a condition refers to (for validation against the object's schema)."""
    if cond is None:
        return []
    if isinstance(cond, Compare | InList):
        return [cond.field]
    if isinstance(cond, Not):
        return condition_fields(cond.part)
    out: list[str] = []
    for part in cond.parts:
        out.extend(condition_fields(part))
    return out
