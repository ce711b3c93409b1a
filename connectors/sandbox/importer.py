"""Load a CSV export into a sandbox ``Dataset`` through a mapping file: ``from_csv(path, mapping, now)``.

The mapping (YAML, or the same structure as a dict) says which column is the id, which columns fill
person fields and extra CRM fields, how columns become activities and the outcome, and which values mean
"empty".  ``connectors/sandbox/mappings/x_education.yaml`` is the worked example::

    id: Prospect ID                    # required; unique per row
    placeholders: [Select]             # values treated as empty (besides "")
    seed: 7                            # synthetic timestamps and names are seeded from (seed, id)
    window_days: 180                   # activities fall in the last N days before ``now``
    synthesize_names: true             # the export has no names/emails: make them up from the id
    owners: 4                          # sample owners to create and assign (0: none)
    fields:                            # person field <- column; a list takes the first non-empty column
      lead_source: [Lead Source, Lead Origin]
      do_not_email: {column: Do Not Email, true: ["Yes"]}
    extra: {specialization: Specialization}      # extra CRM field <- column
    rollups:                           # person rollups <- a number column (optionally times another)
      visits: TotalVisits
      page_views: {column: TotalVisits, times: Page Views Per Visit}
    activities:
      - {type: page_view, count: TotalVisits}     # that many activities, spread over the window
      - {type: unsubscribe, when: {Do Not Email: "Yes"}}
      - {type: form_submission, when: {Lead Origin: [Landing Page Submission]},
         attributes: {form: {column: Lead Origin}}}
    outcome: {column: Converted, won: ["1"], lost: ["0"]}
    forbidden: [Tags, Lead Quality]    # columns that leak the outcome: a mapping that reads one is refused

Rollups not mapped are counted from the activities (``page_views``: page_view activities, ...).
A bad row never stops the import: each problem becomes one sentence naming the file, the line and the
column in ``Dataset.warnings`` (and the log), and the row is skipped or imported without that value.
A bad mapping raises ``MappingError`` naming the mapping file and key.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from connectors.records import ActivityType
from connectors.sandbox.samples import Dataset, SampleActivity, SampleOutcome, SamplePerson
from connectors.sandbox.seed import FIRST_NAMES, FREE_MAIL, LAST_NAMES, make_owners

log = logging.getLogger(__name__)

_STRING_FIELDS = frozenset(
    f.name for f in fields(SamplePerson) if f.type in ("str", "str | None") and f.name not in ("key",)
)
_BOOL_FIELDS = frozenset({"converted", "do_not_email"})
_ROLLUPS = frozenset({"page_views", "visits", "email_opens", "email_clicks", "form_submissions"})
_TIME_FIELDS = frozenset({"created_at"})
MAX_COUNT = 10_000  # more activities than this from one cell is a data error, not a busy lead


class MappingError(ValueError):
    """The mapping file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class _Condition:
    column: str
    values: frozenset[str]


@dataclass(frozen=True)
class _ActivityRule:
    type: str
    count: str | None  # column holding how many activities to make
    when: tuple[_Condition, ...]
    attributes: Mapping[str, str | tuple[str]]  # literal value, or (column,)
    subject: str = ""


@dataclass(frozen=True)
class _Rollup:
    column: str
    times: str | None = None


@dataclass(frozen=True)
class _Outcome:
    column: str
    won: frozenset[str]
    lost: frozenset[str]
    stage_won: str | None = None


@dataclass
class _Mapping:
    where: str
    id_column: str
    placeholders: frozenset[str]
    seed: int = 7
    window_days: float = 180.0
    synthesize_names: bool = True
    owners: int = 0
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bool_fields: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    time_fields: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    rollups: dict[str, _Rollup] = field(default_factory=dict)
    activities: list[_ActivityRule] = field(default_factory=list)
    outcome: _Outcome | None = None
    forbidden: frozenset[str] = frozenset()

    def columns(self) -> dict[str, str]:
        """Every column the mapping reads -> the mapping key that reads it (for messages)."""
        used: dict[str, str] = {self.id_column: "id"}
        for name, cols in self.fields.items():
            used.update({c: f"fields.{name}" for c in cols})
        used.update({c: f"fields.{n}" for n, (c, _) in self.bool_fields.items()})
        used.update({c: f"fields.{n}" for n, c in self.time_fields.items()})
        used.update({c: f"extra.{n}" for n, c in self.extra.items()})
        for name, r in self.rollups.items():
            used[r.column] = f"rollups.{name}"
            if r.times:
                used[r.times] = f"rollups.{name}.times"
        for i, rule in enumerate(self.activities):
            if rule.count:
                used[rule.count] = f"activities[{i}].count"
            used.update({c.column: f"activities[{i}].when" for c in rule.when})
            used.update({v[0]: f"activities[{i}].attributes" for v in rule.attributes.values() if isinstance(v, tuple)})
        if self.outcome:
            used[self.outcome.column] = "outcome.column"
        return used


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str | int | float):
        return (str(value),)
    if isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v) for v in value)
    raise MappingError(f"{where}: expected a column name or a list of them, got {value!r}")


def load_mapping(mapping: Mapping[str, Any] | str | Path) -> _Mapping:
    """Parse and check a mapping (a YAML path or a dict)."""
    if isinstance(mapping, str | Path):
        where = str(mapping)
        try:
            raw = yaml.safe_load(Path(mapping).read_text(encoding="utf-8"))
        except OSError as exc:
            raise MappingError(f"cannot read the mapping file {where}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise MappingError(f"{where} is not valid YAML: {exc}") from exc
    else:
        where, raw = "mapping", dict(mapping)
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a YAML mapping at the top level")
    known = {
        "id",
        "placeholders",
        "seed",
        "window_days",
        "synthesize_names",
        "owners",
        "fields",
        "extra",
        "rollups",
        "activities",
        "outcome",
        "forbidden",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    if not raw.get("id"):
        raise MappingError(f"{where}: 'id' (the column holding each row's unique id) is required")
    m = _Mapping(
        where=where,
        id_column=str(raw["id"]),
        placeholders=frozenset(_strs(raw.get("placeholders") or [""], f"{where}: placeholders")) | {""},
        seed=int(raw.get("seed", 7)),
        window_days=float(raw.get("window_days", 180)),
        synthesize_names=bool(raw.get("synthesize_names", True)),
        owners=int(raw.get("owners", 0)),
        forbidden=frozenset(_strs(raw.get("forbidden") or [""], f"{where}: forbidden")) - {""},
    )
    for name, spec in (raw.get("fields") or {}).items():
        key = f"{where}: fields.{name}"
        if name in _BOOL_FIELDS:
            if not isinstance(spec, dict) or "column" not in spec:
                raise MappingError(f"{key}: a yes/no field needs {{column: ..., true: [values meaning yes]}}")
            m.bool_fields[name] = (str(spec["column"]), frozenset(_strs(spec.get("true", ["Yes"]), key)))
        elif name in _TIME_FIELDS:
            m.time_fields[name] = _strs(spec, key)[0]
        elif name in _STRING_FIELDS:
            m.fields[name] = _strs(spec, key)
        else:
            allowed = sorted(_STRING_FIELDS | _BOOL_FIELDS | _TIME_FIELDS)
            raise MappingError(f"{key}: not a person field; use one of {', '.join(allowed)} (or put it under extra)")
    for name, column in (raw.get("extra") or {}).items():
        m.extra[str(name)] = _strs(column, f"{where}: extra.{name}")[0]
    for name, spec in (raw.get("rollups") or {}).items():
        key = f"{where}: rollups.{name}"
        if name not in _ROLLUPS:
            raise MappingError(f"{key}: unknown rollup; use one of {', '.join(sorted(_ROLLUPS))}")
        if isinstance(spec, dict):
            m.rollups[name] = _Rollup(str(spec["column"]), str(spec["times"]) if spec.get("times") else None)
        else:
            m.rollups[name] = _Rollup(_strs(spec, key)[0])
    types = {t.value for t in ActivityType}
    for i, spec in enumerate(raw.get("activities") or []):
        key = f"{where}: activities[{i}]"
        if not isinstance(spec, dict) or spec.get("type") not in types:
            raise MappingError(f"{key}: needs a 'type', one of {', '.join(sorted(types))}")
        when = tuple(
            _Condition(str(col), frozenset(_strs(vals, f"{key}.when.{col}")))
            for col, vals in (spec.get("when") or {}).items()
        )
        attrs: dict[str, str | tuple[str]] = {}
        for attr, value in (spec.get("attributes") or {}).items():
            attrs[str(attr)] = (str(value["column"]),) if isinstance(value, dict) else str(value)
        count = str(spec["count"]) if spec.get("count") else None
        if count is None and not when:
            raise MappingError(f"{key}: give a 'count' column or a 'when' condition (else every row gets one)")
        m.activities.append(_ActivityRule(str(spec["type"]), count, when, attrs, str(spec.get("subject", ""))))
    if raw.get("outcome"):
        spec = raw["outcome"]
        key = f"{where}: outcome"
        if not isinstance(spec, dict) or "column" not in spec:
            raise MappingError(f"{key}: needs {{column: ..., won: [values], lost: [values]}}")
        m.outcome = _Outcome(
            str(spec["column"]),
            frozenset(_strs(spec.get("won", ["1"]), key)),
            frozenset(_strs(spec.get("lost", ["0"]), key)),
            str(spec["stage_won"]) if spec.get("stage_won") else None,
        )
    leaking = sorted(c for c in m.columns() if c in m.forbidden)
    if leaking:
        used = m.columns()
        detail = ", ".join(f"{c!r} ({used[c]})" for c in leaking)
        raise MappingError(f"{where}: reads column(s) listed as forbidden (they leak the outcome): {detail}")
    return m


def _count(text: str, where: str, problems: list[str], what: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{where}: expected a whole number, got {text!r}; {what}")
        return None
    if value < 0 or value != int(value) or value > MAX_COUNT:
        problems.append(f"{where}: expected a whole number between 0 and {MAX_COUNT}, got {text!r}; {what}")
        return None
    return int(value)


def from_csv(path: str | Path, mapping: Mapping[str, Any] | str | Path, now: datetime) -> Dataset:
    """Load a CSV export into a ``Dataset`` (bad rows are reported in ``Dataset.warnings``)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    m = load_mapping(mapping)
    now = now.astimezone(UTC).replace(microsecond=0)
    path = Path(path)
    name = path.name
    dataset = Dataset(owners=make_owners(m.owners, m.seed) if m.owners else [], source=f"csv: {path}")
    owner_keys = [o.key for o in dataset.owners if o.active]
    warnings = dataset.warnings
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            warnings.append(f"{name} is empty: no header line, nothing imported")
            return dataset
        missing = sorted(c for c in m.columns() if c not in header)
        if missing:
            used = m.columns()
            detail = ", ".join(f"{c!r} ({used[c]})" for c in missing)
            raise MappingError(f"{m.where}: column(s) not in {name}: {detail}; its columns are {', '.join(header)}")
        seen: dict[str, int] = {}
        for values in reader:
            line = reader.line_num
            if not values or values == [""]:
                continue
            if len(values) != len(header):
                warnings.append(f"{name} line {line}: expected {len(header)} columns, found {len(values)}; row skipped")
                continue
            row = {
                col: ("" if v.strip() in m.placeholders else v.strip()) for col, v in zip(header, values, strict=True)
            }
            record_id = row[m.id_column]
            if not record_id:
                warnings.append(f"{name} line {line}, column {m.id_column!r}: the id is empty; row skipped")
                continue
            if record_id in seen:
                warnings.append(
                    f"{name} line {line}, column {m.id_column!r}: id {record_id!r} already used on line "
                    f"{seen[record_id]}; row skipped"
                )
                continue
            seen[record_id] = line
            problems: list[str] = []
            _import_row(m, row, f"{name} line {line}", now, owner_keys, dataset, problems)
            warnings.extend(problems)
    for message in warnings:
        log.warning("%s", message)
    return dataset


def _import_row(
    m: _Mapping,
    row: Mapping[str, str],
    where: str,
    now: datetime,
    owner_keys: Sequence[str],
    dataset: Dataset,
    problems: list[str],
) -> None:
    key = row[m.id_column]
    rng = random.Random(f"{m.seed}/{key}")
    window = timedelta(days=m.window_days)
    values: dict[str, Any] = {}
    if m.synthesize_names:
        first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        suffix = "".join(ch for ch in key.lower() if ch.isalnum())[:8]
        domain = rng.choices([d for d, _ in FREE_MAIL], [w for _, w in FREE_MAIL])[0]
        values.update(
            first_name=first_name, last_name=last_name, email=f"{first_name}.{last_name}.{suffix}@{domain}".lower()
        )
    for name, columns in m.fields.items():
        values[name] = next((row[c] for c in columns if row[c]), "")
    for name, (column, truthy) in m.bool_fields.items():
        values[name] = row[column] in truthy
    created = now - window * rng.random()
    for column in m.time_fields.values():
        stamp = row[column]
        if not stamp:
            continue
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where}, column {column!r}: expected an ISO 8601 date-time, got {stamp!r}; made one up")
            continue
        created = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    created = created.replace(microsecond=0)
    extra = {name: row[column] for name, column in m.extra.items() if row[column]}

    # activities, spread over the window (never before the person was created)
    start = max(created, now - window)
    span = max((now - start).total_seconds(), 1.0)
    made: list[tuple[datetime, str, str, dict[str, str]]] = []
    for rule in m.activities:
        if not all(row[c.column] in c.values for c in rule.when):
            continue
        n = 1
        if rule.count is not None:
            text = row[rule.count]
            if not text:
                continue
            counted = _count(text, f"{where}, column {rule.count!r}", problems, f"no {rule.type} activities made")
            if counted is None:
                continue
            n = counted
        attrs = {a: (row[v[0]] if isinstance(v, tuple) else v) for a, v in rule.attributes.items()}
        attrs = {a: v for a, v in attrs.items() if v}
        for _ in range(n):
            at = start + timedelta(seconds=int(span * rng.random()))
            made.append((at, rule.type, rule.subject, dict(attrs)))
    made.sort(key=lambda item: item[0])
    activities = [
        SampleActivity(f"{key}-{j}", key, kind, at, subject, attrs) for j, (at, kind, subject, attrs) in enumerate(made)
    ]

    rollups: dict[str, int] = {
        "page_views": sum(1 for a in activities if a.type == "page_view"),
        "email_opens": sum(1 for a in activities if a.type == "email_open"),
        "email_clicks": sum(1 for a in activities if a.type == "email_click"),
        "form_submissions": sum(1 for a in activities if a.type in ("form_submission", "demo_request")),
    }
    rollups["visits"] = len({a.occurred_at.date() for a in activities if a.type == "page_view"})
    for name, spec in m.rollups.items():
        text = row[spec.column]
        if not text:
            rollups[name] = 0
            continue
        what = f"the {name} rollup is counted from the activities instead"
        base = _count(text, f"{where}, column {spec.column!r}", problems, what)
        if base is None:
            continue
        factor = 1.0
        if spec.times and row[spec.times]:
            try:
                factor = float(row[spec.times])
            except ValueError:
                problems.append(f"{where}, column {spec.times!r}: expected a number, got {row[spec.times]!r}; {what}")
                continue
        rollups[name] = round(base * factor)
    views = [a.occurred_at for a in activities if a.type == "page_view"]

    outcome: SampleOutcome | None = None
    if m.outcome is not None:
        text = row[m.outcome.column]
        if text in m.outcome.won or text in m.outcome.lost:
            last = activities[-1].occurred_at if activities else created
            closed = min(now, last + timedelta(seconds=int(rng.uniform(86400, 14 * 86400))))
            outcome = SampleOutcome(key, text in m.outcome.won, closed, 0.0, "Imported outcome")
        elif text:
            expected = " or ".join(
                [f"{v} (won)" for v in sorted(m.outcome.won)] + [f"{v} (lost)" for v in sorted(m.outcome.lost)]
            )
            problems.append(f"{where}, column {m.outcome.column!r}: expected {expected}, got {text!r}; no outcome")
    if outcome is not None and outcome.won and m.outcome is not None and m.outcome.stage_won:
        values.setdefault("lifecycle_stage", m.outcome.stage_won)
    changed = max([created, *(a.occurred_at for a in activities[-1:]), *([outcome.closed_at] if outcome else [])])
    if owner_keys and "owner_key" not in values:
        values["owner_key"] = rng.choice(owner_keys)
    values = {k: v for k, v in values.items() if not (k in ("lifecycle_stage", "owner_key") and v == "")}
    person = SamplePerson(
        key=key,
        first_name=values.pop("first_name", ""),
        last_name=values.pop("last_name", ""),
        email=values.pop("email", ""),
        title=values.pop("title", ""),
        company=values.pop("company", ""),
        industry=values.pop("industry", ""),
        employees=values.pop("employees", ""),
        country=values.pop("country", ""),
        city=values.pop("city", ""),
        phone=values.pop("phone", ""),
        lead_source=values.pop("lead_source", ""),
        created_at=created,
        updated_at=changed,
        page_views=rollups["page_views"],
        visits=rollups["visits"],
        email_opens=rollups["email_opens"],
        email_clicks=rollups["email_clicks"],
        form_submissions=rollups["form_submissions"],
        last_visit_at=max(views) if views else None,
        extra=extra,
        **values,
    )
    dataset.people.append(person)
    dataset.activities.extend(activities)
    if outcome is not None:
        dataset.outcomes.append(outcome)
