"""The neutral table calibration works on, and how a CSV export becomes that table.

A ``CalibrationRow`` is one contact with its activities and what happened to it (won or not, and when).
The sync builds rows from adapter reads; ``rows_from_csv`` builds the same rows from a CRM export, so
everything downstream (evaluate, propose, drift, report) has one input shape.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.records import Activity, Contact, FieldValue

# Form placeholders that mean "not answered"; compared after stripping, case-insensitively.
DEFAULT_PLACEHOLDERS: frozenset[str] = frozenset({"", "select", "n/a", "null", "-", "--", "nan"})

_WON = frozenset({"1", "true", "yes", "y", "won", "closed won", "converted", "customer"})
_LOST = frozenset({"0", "false", "no", "n", "lost", "closed lost", "not converted"})
_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})
# Characters a YAML file cannot hold (C0/C1 controls but tab and line breaks, DEL, surrogates, U+FFFE/U+FFFF).
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
# A column is read as numbers when at least this share of its answered cells (or all but one) parse as
# numbers; the remaining cells are reported as problems rather than turning the whole column into text.
_NUMERIC_SHARE = 0.95


class CalibrationError(ValueError):
    """Calibration cannot start: the message says what is wrong with the input and how to fix it."""


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """One contact's history: who they are, what they did, and whether they became a customer."""

    contact: Contact
    activities: tuple[Activity, ...] = ()
    won: bool = False
    closed_at: datetime | None = None
    # fields taken back to their value at ``closed_at`` from CRM field history; None: no history was read
    rewound: tuple[str, ...] | None = None

    @property
    def created_at(self) -> datetime | None:
        """When the lead came in, from the contact's ``created_at`` field, if it holds a date."""
        return parse_datetime(self.contact.get("created_at"))

    @property
    def date(self) -> datetime | None:
        """The date a time-based split and drift windows sort on: creation, else the close date."""
        return self.created_at or self.closed_at


@dataclass(frozen=True, slots=True)
class ColumnRoles:
    """What the special columns of a CSV export are; every other column becomes a contact field.

    ``rename`` maps a CSV column to the field name the model uses (``{"Lead Source": "lead_source"}``);
    columns not renamed keep their CSV names.  ``exclude`` lists columns to leave out entirely (identity
    columns, and any column written after the outcome was known, which would leak it).
    """

    id_column: str | None = None
    created_column: str | None = None
    closed_column: str | None = None
    exclude: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    placeholders: frozenset[str] = DEFAULT_PLACEHOLDERS


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """A cell or line that could not be read; the run goes on without it."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


class CsvRows(list[CalibrationRow]):
    """The rows read from a CSV file, plus the problems met on the way and the field names kept."""

    def __init__(self, rows: Iterable[CalibrationRow], problems: Sequence[CsvProblem], fields: Sequence[str]) -> None:
        super().__init__(rows)
        self.problems: list[CsvProblem] = list(problems)
        self.fields: list[str] = list(fields)


def check_names(given: Iterable[str], known: Collection[str], option: str) -> None:
    """Raise with a did-you-mean when a name given in ``option`` is none of ``known``."""
    for name in given:
        if name in known:
            continue
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise CalibrationError(
            f"{option} {name!r} names no column or field in this history.{hint} "
            f"The names are: {', '.join(sorted(known)[:60])}{' ...' if len(known) > 60 else ''}."
        )


def parse_datetime(value: FieldValue | datetime) -> datetime | None:
    """An aware datetime from an ISO string, a datetime or epoch seconds/milliseconds; naive means UTC."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = value.strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # A date written without a zone in an export is taken as UTC, the zone every record is normalized to.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_outcome(value: str) -> bool | None:
    text = value.strip().lower()
    if text in _WON:
        return True
    if text in _LOST:
        return False
    return None


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def rows_from_csv(
    path: str | Path,
    outcome_column: str,
    *,
    now: datetime,
    roles: ColumnRoles | None = None,
) -> CsvRows:
    """Read a CRM export into calibration rows.

    Each line is one contact; ``outcome_column`` says whether it was won (1/0, yes/no, true/false,
    won/lost).  Placeholders such as ``Select`` become empty fields.  A column whose answers are numbers is
    read as numbers; a column of only yes/no answers is read as booleans.  A line whose outcome cannot be
    read is skipped and reported; a cell that cannot be read is left empty and reported; the run goes on.
    Lines without a creation date in ``roles.created_column`` carry no date (``now`` stamps ``updated_at``).
    """
    roles = roles or ColumnRoles()
    if now.tzinfo is None:
        raise CalibrationError("now must be a timezone-aware datetime")
    source = Path(path)
    try:
        handle = source.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CalibrationError(f"Cannot open {source}: {exc.strerror or exc}. Check the --csv path.") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise CalibrationError(f"{source} is empty: expected a header line and one line per contact.") from None
        except csv.Error as exc:
            raise CalibrationError(f"{source}, line 1: not readable as CSV ({exc}).") from exc
        header = [name.strip() for name in header]
        if outcome_column not in header:
            raise CalibrationError(
                f"{source} has no column {outcome_column!r} for the outcome; its columns are: "
                + ", ".join(header)
                + ". Pass the right one with --outcome-column."
            )
        check_names(roles.exclude, [*header, *roles.rename.values()], "--exclude")
        check_names(roles.rename, header, "--map")
        for role, column in (
            ("id", roles.id_column),
            ("created", roles.created_column),
            ("closed", roles.closed_column),
        ):
            if column and column not in header:
                raise CalibrationError(f"{source} has no column {column!r} (given as the {role} column).")
        lines: list[tuple[int, list[str]]] = []
        problems: list[CsvProblem] = []
        try:
            for cells in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    problems.append(
                        CsvProblem(line, "", f"has {len(cells)} cells where the header has {len(header)}; skipped")
                    )
                    continue
                for column, cell in zip(header, cells, strict=True):
                    found = _UNWRITABLE.findall(cell)
                    if found:
                        shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in found}))
                        problems.append(CsvProblem(line, column, f"holds a control character ({shown}); removed"))
                cells = [_UNWRITABLE.sub("", cell) for cell in cells]
                lines.append((line, cells))
        except csv.Error as exc:
            problems.append(CsvProblem(reader.line_num, "", f"not readable as CSV ({exc}); reading stopped here"))

    special = {outcome_column, roles.id_column, roles.created_column, roles.closed_column}
    field_columns = [
        (i, name)
        for i, name in enumerate(header)
        if name not in special and name not in roles.exclude and roles.rename.get(name) not in roles.exclude
    ]
    placeholders = {p.lower() for p in roles.placeholders}

    def answered(text: str) -> str | None:
        stripped = text.strip()
        return None if stripped.lower() in placeholders else stripped

    kinds = {i: _column_kind([answered(cells[i]) for _, cells in lines]) for i, _ in field_columns}
    index = {name: i for i, name in enumerate(header)}
    outcome_at = index[outcome_column]

    rows: list[CalibrationRow] = []
    for line, cells in lines:
        won = parse_outcome(cells[outcome_at])
        if won is None:
            problems.append(
                CsvProblem(line, outcome_column, f"{cells[outcome_at]!r} is not an outcome (1/0, yes/no); skipped")
            )
            continue
        values: dict[str, FieldValue] = {}
        for i, name in field_columns:
            text = answered(cells[i])
            if text is None:
                continue
            value = _convert(text, kinds[i])
            if value is None:
                problems.append(CsvProblem(line, name, f"{text!r} is not a {kinds[i]}; left empty"))
                continue
            values[roles.rename.get(name, name)] = value
        created = _date_cell(cells, index, roles.created_column, line, problems)
        if created is not None:
            values["created_at"] = created.isoformat()
        closed = _date_cell(cells, index, roles.closed_column, line, problems)
        contact_id = cells[index[roles.id_column]].strip() if roles.id_column else ""
        contact = Contact(id=contact_id or f"line-{line}", updated_at=created or now, fields=values)
        rows.append(CalibrationRow(contact=contact, won=won, closed_at=closed))
    fields = [roles.rename.get(name, name) for _, name in field_columns]
    problems.sort(key=lambda problem: problem.line)
    return CsvRows(rows, problems, fields)


def _date_cell(
    cells: Sequence[str], index: Mapping[str, int], column: str | None, line: int, problems: list[CsvProblem]
) -> datetime | None:
    if not column:
        return None
    text = cells[index[column]].strip()
    if not text:
        return None
    parsed = parse_datetime(text)
    if parsed is None:
        problems.append(CsvProblem(line, column, f"{text!r} is not a date (use ISO 8601, 2024-05-31); left empty"))
    return parsed


def _column_kind(values: Sequence[str | None]) -> str:
    answered = [v for v in values if v is not None]
    if not answered:
        return "text"
    lowered = {v.lower() for v in answered}
    if lowered <= _TRUE | _FALSE:
        return "yes/no answer"
    numbers = sum(_number(v) is not None for v in answered)
    others = len(answered) - numbers
    if numbers > others and others <= max(1, (1 - _NUMERIC_SHARE) * len(answered)):
        return "number"
    return "text"


def _convert(text: str, kind: str) -> FieldValue:
    if kind == "yes/no answer":
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    if kind == "number":
        return _number(text)
    return text
