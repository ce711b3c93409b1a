"""A small SOQL parser for the Salesforce sandbox: the subset leadsync's adapter and tests send.

Supported::

    SELECT field, Relationship.Field, ... | SELECT COUNT()
    FROM Object
    [WHERE cond]            cond: AND / OR / NOT, parentheses,
                            field (= != <> < <= > >=) literal, field [NOT] IN (literal, ...),
                            field [NOT] LIKE 'pattern',
                            field [NOT] IN (SELECT field FROM Object [WHERE cond])   (semi-/anti-join)
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
    [LIMIT n] [OFFSET n]

Literals: 'strings' (with backslash escapes), numbers, true/false, null, datetimes
(``2024-01-01T00:00:00Z``, ``...+02:00``, optional fraction) and dates (``2024-01-01``).
Anything else raises ``SoqlError``, which the sandbox turns into Salesforce's 400 ``MALFORMED_QUERY``.
Keywords are case-insensitive, as in SOQL.  Date literals such as ``TODAY`` are not supported.

Semi-joins (``IN (SELECT ...)``) and anti-joins (``NOT IN (SELECT ...)``) follow the vendor's restrictions
(docs/crm-api/salesforce.md 3.3): at most two per WHERE clause, only at its top level (the WHERE itself or a part of its
top-level AND: never under OR or NOT); the subquery selects one Id or reference field of its own object (no
relationship path), has no ORDER BY, LIMIT, OFFSET or COUNT(), no semi-join of its own, is not on the outer
query's object, and is not on an object SOQL refuses in subqueries (ActivityHistory, Attachment, Event, Note,
OpenActivity, Task and the tag objects).
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


@dataclass(frozen=True, slots=True)
class SemiJoin:
    field: str  # the outer query's Id or reference field
    subquery: Query
    negate: bool = False  # NOT IN: an anti-join


Condition = Compare | InList | BoolOp | Not | SemiJoin

MAX_SEMI_JOINS = 2
# objects SOQL does not allow as the subject of a semi-join subquery, and the tag objects (AccountTag, ...)
NO_SUBQUERY_OBJECTS = frozenset({"activityhistory", "attachment", "event", "note", "openactivity", "task"})
NESTED_SEMI_JOIN = (
    "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE expressions."
)


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

    def subquery(self) -> Query:
        """``SELECT field FROM Object [WHERE cond]`` inside ``IN ( ... )``."""
        self.expect_keyword("SELECT")
        if self.at_keyword("COUNT"):
            raise SoqlError("COUNT() is not allowed in a semi-join sub-select")
        selected = self.field_name()
        if (tok := self.peek()) is not None and tok.text == ",":
            raise SoqlError("a semi-join sub-select can select only one field")
        self.expect_keyword("FROM")
        sobject = self.field_name()
        where = None
        if self.at_keyword("WHERE"):
            self.next()
            where = self.condition()
        if self.at_keyword("ORDER", "LIMIT", "OFFSET"):
            raise SoqlError("ORDER BY, LIMIT and OFFSET are not allowed in a semi-join sub-select")
        if "." in selected:
            raise SoqlError("semi-join sub-selects cannot select a relationship field")
        if sobject.lower() in NO_SUBQUERY_OBJECTS or sobject.lower().endswith("tag"):
            raise SoqlError(f"Entity '{sobject}' is not supported for semi join inner selects")
        if semi_joins(where):
            raise SoqlError(NESTED_SEMI_JOIN)
        return Query((selected,), sobject, where)

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
                subquery = self.subquery()
                self.expect_punct(")")
                return SemiJoin(name, subquery, negate)
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
    query = _Parser(soql).query()
    joins = semi_joins(query.where)
    if joins:
        top = query.where.parts if isinstance(query.where, BoolOp) and query.where.op == "AND" else (query.where,)
        if len(joins) != sum(isinstance(part, SemiJoin) for part in top):
            raise SoqlError(NESTED_SEMI_JOIN)
        if len(joins) > MAX_SEMI_JOINS:
            raise SoqlError(f"at most {MAX_SEMI_JOINS} semi join or anti join sub-selects are allowed per WHERE")
        if any(j.subquery.sobject.lower() == query.sobject.lower() for j in joins):
            raise SoqlError("The inner and outer selects should not be on the same object type")
    return query


def semi_joins(cond: Condition | None) -> list[SemiJoin]:
    """Every semi-join or anti-join in a condition, however deep."""
    if cond is None or isinstance(cond, Compare | InList):
        return []
    if isinstance(cond, SemiJoin):
        return [cond]
    if isinstance(cond, Not):
        return semi_joins(cond.part)
    return [j for part in cond.parts for j in semi_joins(part)]


def condition_fields(cond: Condition | None) -> list[str]:
    """Every field a condition refers to (for validation against the object's schema)."""
    if cond is None:
        return []
    if isinstance(cond, Compare | InList | SemiJoin):
        return [cond.field]
    if isinstance(cond, Not):
        return condition_fields(cond.part)
    out: list[str] = []
    for part in cond.parts:
        out.extend(condition_fields(part))
    return out
