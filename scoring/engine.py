"""The scoring engine: a validated ``Model`` is compiled once into plain functions and tuples, then
``score(model, contact, activities, now)`` runs without pydantic, I/O or a clock of its own.

How a score is made (``docs/model.md`` has the user's view):

* ``now`` is read to the whole second: ages are ``floor(now) - occurred_at`` in seconds.
* Fit is the sum of the fit rules that match (plus negative field rules aimed at fit), clamped to
  ``0..fit_max`` and rounded half up.  Engagement is the sum of engagement, property, negative activity,
  inactivity and stagnation points, clamped and rounded the same way.  The total combines the two integers
  (sum, or weights), adds the points of rules aimed at the total, and is clamped to ``0..max``.
* An activity counts once it is no more than ``CLOCK_SKEW_SECONDS`` in the future; later ones are ignored
  (with a warning) until their time comes.
* ``next_change_at`` is the first whole second after ``now`` at which fit, engagement, the total
  adjustment, the tier or the SLA due time would differ through time alone.  Events (a window closing, a
  future activity arriving, stagnation or inactivity starting, a date test flipping, a tier expiring) are
  checked by rescoring at that second; between events ``scoring.timing`` finds where the decaying
  engagement crosses a rounding boundary.  Near ties are confirmed by rescoring.  If the search gives up
  (more than ``_MAX_EVENTS`` events without a change) it answers early, never late: rescoring is harmless.

Two paths give the same results (``==``, to the last bit of every decay factor): ``score`` takes the fast
one (static field rules that read the same fields answered by one remembered lookup per text value, and
half-life rules without a window summed in a tight loop once every activity has happened), and
``CompiledModel.score_reference`` the plain one, which also handles every input the fast one does not
expect.  ``tests/scoring/test_speed_equivalence.py`` holds them equal.

Bad data never raises: the fast path assumes clean records and, at the first surprise (a naive or
missing timestamp, a non-mapping ``fields``, duplicate activity ids, ...), the contact is rescored from
sanitized copies of its records (``scoring.sanitize``), with a warning for each repair.  Only a naive
``now`` raises ``ValueError``: that is a programming error, not data.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, Final, NamedTuple, cast

from connectors.records import Activity, Contact

from .conditions import CLOCK_SKEW_SECONDS, DAY, Compiled, Test, TestAt, compile_condition, email_domain
from .model import KNOWN_ACTIVITY_TYPES, Condition, Decay, Model, cut_name, duration_seconds
from .numbers import parse_datetime
from .result import (
    Counted,
    Decayed,
    Evidence,
    PendingField,
    PendingReason,
    Reason,
    Reasons,
    ScoreResult,
    make_reason,
    make_result,
)
from .sanitize import sanitize, text_id
from .timing import Term, first_crossing

INF: Final = math.inf
SKEW: Final = CLOCK_SKEW_SECONDS
LN2: Final = math.log(2.0)
MAX_WARNINGS: Final = 20
_MAX_EVENTS: Final = 48  # events examined by next_change_at before it settles for an earlier answer
_KNOWN_TYPES: Final = frozenset(KNOWN_ACTIVITY_TYPES)
# Types that show the contact is active, for inactivity rules that do not list their own.
INACTIVITY_DEFAULT_TYPES: Final = tuple(
    t for t in KNOWN_ACTIVITY_TYPES if t not in ("email_sent", "note", "bounce", "unsubscribe", "other")
)
Item = tuple[float, Activity]  # (occurred_at as epoch seconds, activity)
_by_ts: Final = itemgetter(0)
_first: Final = itemgetter(0)
_evidence: Final = tuple.__new__  # Evidence is a NamedTuple: build it straight from a tuple


_NATIVE: Final = not __file__.endswith(".py")  # this module runs as a mypyc-compiled extension
_LAST_SECOND: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()  # later changes: never
_UNREAD: Final[Any] = object()  # created_at not parsed yet (only inactivity rules without activities read it)


class _Dirty(Exception):
    """The fast path met data it does not handle; rescore from sanitized copies."""


def _newest(items: list[Item]) -> Item:
    """The first item with the latest time (``max(items, key=...)``, as a loop the compiled engine runs fast)."""
    best = items[0]
    best_ts = best[0]
    for item in items:
        if item[0] > best_ts:
            best, best_ts = item, item[0]
    return best


# ---------------------------------------------------------------------------------------------------------
# Compiled rules


# Points as written in the model: an int stays an int (annotated so, a compiled build would make it a float)
Points = int | float


def _nice(points: float) -> Points:
    """Points as given in the file: whole numbers stay whole (``25`` rather than ``25.0`` in reasons)."""
    if float(points).is_integer() and abs(points) < 1e15:
        return int(points)
    return points


def _round(value: float, cap: int) -> int:
    """Clamp to ``0..cap`` and round half up."""
    if value <= 0.0:
        return 0
    if value >= cap:
        return cap
    return math.floor(value + 0.5)


class _FieldRule:
    """A rule over contact fields (fit, property or negative ``when:``)."""

    __slots__ = (
        "applies_to",
        "bind",
        "component",
        "condition",
        "fields",
        "label",
        "points",
        "rule_id",
        "test",
        "timed",
    )

    def __init__(
        self, rule_id: str, label: str, component: str, applies_to: str, points: float, condition: Condition
    ) -> None:
        compiled: Compiled = compile_condition(condition)
        self.rule_id, self.label, self.component, self.applies_to = rule_id, label, component, applies_to
        self.points = _nice(points)
        self.test: Test = compiled.test
        self.timed = compiled.timed
        self.bind = compiled.bind
        self.condition = condition
        self.fields = tuple(dict.fromkeys(condition.fields_used()))

    def reason(self, values: Mapping[str, Any]) -> Reason:
        return self.reason_from(self.pending(values)[1])

    def pending(self, values: Mapping[str, Any]) -> PendingField:
        """This rule's reason for these fields, to build when read: the values it shows, taken now."""
        fields = self.fields
        if len(fields) == 1:
            return (self, (values.get(fields[0]),))
        return (self, tuple([values.get(name) for name in fields]))

    def reason_from(self, shown: tuple[Any, ...]) -> Reason:
        """The reason, from the values of ``self.fields`` (``pending``)."""
        points = self.points
        evidence = tuple(
            [
                _evidence(Evidence, (None, None, 1.0, points, name, value))
                for name, value in zip(self.fields, shown, strict=True)
            ]
        )
        return make_reason(self.rule_id, self.label, self.component, points, evidence, self.applies_to, False)


class _ActivityRule:
    """Points per matching activity, decayed, windowed and capped (engagement or negative)."""

    __slots__ = (
        "cap",
        "component",
        "kind",
        "label",
        "max_times",
        "points",
        "rate",
        "rule_id",
        "show_age",
        "slot",
        "weight",
        "window",
    )

    def __init__(
        self,
        rule_id: str,
        label: str,
        component: str,
        points: float,
        decay: Decay | None,
        within_days: float | None,
        max_points: float | None,
        max_times: int | None,
        slot: int,
    ) -> None:
        self.rule_id, self.label, self.component = rule_id, label, component
        self.points = _nice(points)
        self.weight = float(points)  # the same points as a float: what the arithmetic uses (x * 5 == x * 5.0)
        self.slot = slot
        self.window = within_days * DAY if within_days is not None else INF
        self.cap = max_points if max_points is not None else INF
        self.max_times = max_times or 0
        kind = decay.kind if decay is not None else "none"
        if kind == "half_life":
            assert decay is not None and decay.half_life_days is not None
            self.kind, self.rate = 1, LN2 / (decay.half_life_days * DAY)
        elif kind == "linear":
            assert decay is not None and decay.expire_days is not None
            self.kind, self.rate = 2, 1.0 / (decay.expire_days * DAY)
        else:
            self.kind, self.rate = 0, 0.0
        self.show_age = self.kind != 0 or within_days is not None


class _Inactivity:
    __slots__ = ("after", "label", "points", "rule_id", "slot")

    def __init__(self, rule_id: str, label: str, points: Points, after: float, slot: int) -> None:
        self.rule_id, self.label, self.points, self.after, self.slot = rule_id, label, points, after, slot


class _Stagnation:
    __slots__ = ("after", "high_slot", "label", "low_slot", "min_actions", "points", "rule_id")

    def __init__(
        self, rule_id: str, label: str, points: Points, after: float, min_actions: int, low_slot: int, high_slot: int
    ) -> None:
        self.rule_id, self.label, self.points, self.after = rule_id, label, points, after
        self.min_actions, self.low_slot, self.high_slot = min_actions, low_slot, high_slot


class _Tier:
    __slots__ = ("min_total", "name", "respond", "slot", "within")

    def __init__(self, name: str, slot: int, within: float, respond: timedelta, min_total: float | None) -> None:
        self.name, self.slot, self.within, self.respond, self.min_total = name, slot, within, respond, min_total


def _reads(condition: Condition) -> tuple[str, ...]:
    """Every key a compiled condition reads from its mapping (``email_domain`` reads ``email`` too)."""
    op = condition.operator
    if op in ("all", "any"):
        return tuple(dict.fromkeys(name for child in condition._value(op) for name in _reads(child)))
    if op == "not":
        assert condition.not_ is not None
        return _reads(condition.not_)
    if op == "free_mail":
        return ("email",)
    assert condition.field is not None
    return ("email_domain", "email") if condition.field == "email_domain" else (condition.field,)


# a static rule that fired: (position among the static rules, 0 fit / 1 engagement / 2 total, points, rule)
Fired = tuple[int, int, Points, "_FieldRule"]


class _Group(NamedTuple):
    """Static field rules that read the same fields, with their answers remembered per text values."""

    reads: tuple[str, ...]
    members: tuple[tuple[int, int, _FieldRule], ...]  # (position, target, rule)
    memo: dict[Any, tuple[Fired, ...]]
    by_domain: bool  # the rules read the email only through its domain: remembered per domain


_MEMO_LIMIT: Final = 4096  # entries per fast-path memo; cleared when full


def _domain_only(condition: Condition) -> bool:
    """Whether the condition reads nothing but the email domain (the field, or the email address's)."""
    op = condition.operator
    if op in ("all", "any"):
        return all(_domain_only(child) for child in condition._value(op))
    if op == "not":
        return condition.not_ is not None and _domain_only(condition.not_)
    return op == "free_mail" or condition.field == "email_domain"


def _memo_key(values: Mapping[str, Any], reads: tuple[str, ...], by_domain: bool = False) -> tuple[Any, bool]:
    """The values read, as a memo key, and whether answers for them may be remembered (only text or None:
    equal keys of other types, such as ``1`` and ``True``, can read differently)."""
    # a plain dict is read with dict operations (compiled, much cheaper than a generic Mapping's .get)
    plain = cast("dict[str, Any]", values) if type(values) is dict else dict(values)
    if by_domain:  # the email_domain field, and the domain of the email address
        own = plain.get("email_domain")
        return (own, email_domain(plain.get("email"))), own is None or type(own) is str
    if len(reads) == 1:
        value = plain.get(reads[0])
        return value, value is None or type(value) is str
    key = tuple([plain.get(name) for name in reads])
    for value in key:
        if value is not None and type(value) is not str:
            return key, False
    return key, True


class _TypePlan:
    """Where the activities of one type go: slots every one joins, and slots behind a ``where:`` test.

    The tests' answers are remembered per attribute values (text or nothing) when no test reads a date,
    so an activity whose url or form was seen before costs one lookup, not one call per test.
    """

    always: tuple[int, ...]
    tests: tuple[tuple[int, Test], ...]
    reads: tuple[str, ...]
    memo: dict[Any, tuple[int, ...]] | None

    __slots__ = ("always", "memo", "reads", "tests")

    def __init__(self, slots: tuple[tuple[int, Condition | None], ...]) -> None:
        self.always = tuple(slot for slot, where in slots if where is None)
        compiled = [(slot, compile_condition(where)) for slot, where in slots if where is not None]
        self.tests = tuple((slot, condition.test) for slot, condition in compiled)
        self.reads = tuple(dict.fromkeys(name for _, where in slots if where is not None for name in _reads(where)))
        self.memo = None if any(condition.timed for _, condition in compiled) else {}

    def targets(self, values: Mapping[str, Any], t: float) -> tuple[int, ...]:
        """The slots an activity with these attributes goes to at ``t``."""
        memo = self.memo
        key: Any = None
        keep = False
        if memo is not None:
            key, keep = _memo_key(values, self.reads)
            if keep:
                hit = memo.get(key)
                if hit is not None:
                    return hit
        found = self.always + tuple([slot for slot, test in self.tests if test(values, t)])
        if keep and memo is not None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = found
        return found


# ---------------------------------------------------------------------------------------------------------
# Per-contact state and one evaluation


class _State:
    """What one contact's records say, whatever the moment: matched activities and static rules."""

    bound: list[TestAt]
    contact_id: Any
    created_ts: Any  # float | None once read, _UNREAD before
    eng_static: float
    eng_static_reasons: list[Reason | PendingReason]
    fields: Mapping[str, Any]
    fit_static: float
    fit_static_reasons: list[Reason | PendingReason]
    flips: list[float]
    latest_ts: float
    slots: list[list[Item] | None]
    total_static: float
    total_static_reasons: list[Reason | PendingReason]
    warnings: list[str]

    __slots__ = (
        "bound",
        "contact_id",
        "created_ts",
        "eng_static",
        "eng_static_reasons",
        "fields",
        "fit_static",
        "fit_static_reasons",
        "flips",
        "latest_ts",
        "slots",
        "total_static",
        "total_static_reasons",
        "warnings",
    )


class _Eval:
    """The contact at one moment: scores, tier, reasons and what its next change depends on."""

    adjust: float
    base: float
    due: datetime | None
    eng_i: int
    eng_raw: float
    fit_i: int
    fit_raw: float
    next_event: float
    reasons: list[Reason | PendingReason]
    terms: list[Term]
    tier: str | None
    total: int

    __slots__ = (
        "adjust",
        "base",
        "due",
        "eng_i",
        "eng_raw",
        "fit_i",
        "fit_raw",
        "next_event",
        "reasons",
        "terms",
        "tier",
        "total",
    )

    def observable(self) -> tuple[Any, ...]:
        """What ``ScoreResult.observable()`` shows: grade, label, cell and stage follow from these."""
        return (self.total, self.fit_i, self.eng_i, self.tier, self.due)


class CompiledModel:
    """A model compiled for scoring.  Build with ``compile_model(model)``; cached per model object."""

    def __init__(self, model: Model) -> None:
        self.version = model.version
        self.name = model.name
        self._last_now: tuple[datetime | None, float] = (None, 0.0)  # the last `now` scored at, and its second
        scale = model.scale
        self.total_max = scale.max
        self.fit_max = scale.fit_max or scale.max
        self.eng_max = scale.engagement_max or scale.max
        self.weights: tuple[float, float] | None = None
        if scale.combine == "weighted" and scale.weights is not None:
            self.weights = (scale.weights.fit, scale.weights.engagement)
        self._tables(model)

        fit_rules = [_FieldRule(r.id, r.label, "fit", "fit", r.points, r.when) for r in model.fit.rules]
        eng_rules = [
            _FieldRule(r.id, r.label, "property", "engagement", r.points, r.when) for r in model.properties.rules
        ]
        total_rules: list[_FieldRule] = []
        for rule in model.negative.rules:
            if rule.kind == "field":
                assert rule.when is not None
                target = {"fit": fit_rules, "engagement": eng_rules, "total": total_rules}[rule.target]
                target.append(_FieldRule(rule.id, rule.label, "negative", rule.target, rule.points, rule.when))
        # rules worth 0 points never change a score or a reason: leave them out
        fit_rules = [r for r in fit_rules if r.points]
        eng_rules = [r for r in eng_rules if r.points]
        total_rules = [r for r in total_rules if r.points]
        self.fit_static = tuple(r for r in fit_rules if not r.timed)
        self.eng_static = tuple(r for r in eng_rules if not r.timed)
        self.total_static = tuple(r for r in total_rules if not r.timed)
        # rules with date tests, in the order their points are added: fit, engagement, total
        self.timed = tuple(r for r in (*fit_rules, *eng_rules, *total_rules) if r.timed)

        specs: list[tuple[tuple[str, ...], Condition | None]] = []
        spec_index: dict[tuple[str, ...], int] = {}

        def slot_for(types: Iterable[str], where: Condition | None) -> int:
            """The slot holding the activities of these types that pass ``where`` (shared when possible)."""
            key = tuple(dict.fromkeys(types))
            if where is None and key in spec_index:
                return spec_index[key]
            specs.append((key, where))
            if where is None:
                spec_index[key] = len(specs) - 1
            return len(specs) - 1

        activity_rules: list[_ActivityRule] = []
        for erule in model.engagement.rules:
            decay = erule.decay if erule.decay is not None else model.decay
            activity_rules.append(
                _ActivityRule(
                    erule.id,
                    erule.label,
                    "engagement",
                    erule.points,
                    decay,
                    erule.within_days,
                    erule.max_points,
                    erule.max_times,
                    slot_for(erule.activity, erule.where),
                )
            )
        inactivity: list[_Inactivity] = []
        for nrule in model.negative.rules:
            if nrule.kind == "activity":
                assert nrule.activity is not None
                activity_rules.append(
                    _ActivityRule(
                        nrule.id,
                        nrule.label,
                        "negative",
                        nrule.points,
                        nrule.decay,
                        nrule.within_days,
                        nrule.max_points,
                        nrule.max_times,
                        slot_for(nrule.activity, nrule.where),
                    )
                )
            elif nrule.kind == "inactivity":
                assert nrule.inactive_days is not None
                slot = slot_for(nrule.activity or INACTIVITY_DEFAULT_TYPES, None)
                inactivity.append(
                    _Inactivity(nrule.id, nrule.label, _nice(nrule.points), nrule.inactive_days * DAY, slot)
                )
        self.activity_rules = tuple(r for r in activity_rules if r.points)
        self.inactivity = tuple(inactivity)
        self.stagnation: _Stagnation | None = None
        if model.stagnation is not None:
            stag = model.stagnation
            self.stagnation = _Stagnation(
                stag.id,
                stag.text,
                _nice(stag.points),
                stag.after_days * DAY,
                stag.min_actions,
                slot_for(stag.low_intent, None),
                slot_for(stag.high_intent, None),
            )
        self.tiers = tuple(
            _Tier(
                tier.tier,
                slot_for(tier.activity, tier.where),
                duration_seconds(tier.within),
                timedelta(seconds=duration_seconds(tier.respond_within)),
                tier.min_total,
            )
            for tier in model.tiers
        )
        self.slot_count = len(specs)
        by_type: dict[str, list[int]] = {}
        for slot, (types, _) in enumerate(specs):
            for activity_type in types:
                by_type.setdefault(activity_type, []).append(slot)
        # activity type -> the slots its activities go to (after the `where:` tests of some)
        self.type_plans = {
            key: _TypePlan(tuple((slot, specs[slot][1]) for slot in value)) for key, value in by_type.items()
        }
        # slots whose rule counts only the N most recent activities: kept newest first
        self.sorted_slots = frozenset(r.slot for r in activity_rules if r.max_times)
        self._fast_tables()

    def _tables(self, model: Model) -> None:
        """Grade, label, matrix level and stage for every possible integer score, looked up by index."""
        self.grade_by_fit = tuple(cut_name(dict(model.grades), f) for f in range(self.fit_max + 1))
        levels = model.matrix.engagement_levels
        self.level_by_eng = tuple(
            next((i + 1 for i, minimum in enumerate(levels) if e >= minimum), len(levels))
            for e in range(self.eng_max + 1)
        )
        self.cells = dict(model.matrix.cells)
        self.label_basis = model.labels.based_on if model.labels else "total"
        largest = max(self.fit_max, self.eng_max, self.total_max)
        self.label_by_score: tuple[str, ...] | None = (
            tuple(cut_name(dict(model.labels.cuts), v) for v in range(largest + 1)) if model.labels else None
        )
        mql, sql = model.stages.mql, model.stages.sql
        self.stage_by_total = tuple(
            "sql" if v >= sql else "mql" if v >= mql else "lead" for v in range(self.total_max + 1)
        )

    def _fast_tables(self) -> None:
        """The static field rules grouped by the fields they read, for the fast path (``_prepare_fast``)."""
        # static field rules grouped by the fields they read: one memo lookup answers the whole group; the
        # rules that read the email only through its domain form one group, remembered per domain
        groups: dict[tuple[bool, tuple[str, ...]], list[tuple[int, int, _FieldRule]]] = {}
        position = 0
        for target, rules in enumerate((self.fit_static, self.eng_static, self.total_static)):
            for rule in rules:
                key = (True, ()) if _domain_only(rule.condition) else (False, _reads(rule.condition))
                groups.setdefault(key, []).append((position, target, rule))
                position += 1
        self.static_groups = tuple(
            _Group(reads, tuple(members), {}, by_domain) for (by_domain, reads), members in groups.items()
        )

    # -----------------------------------------------------------------------------------------------------

    def score(self, contact: Contact, activities: Iterable[Activity], now: datetime) -> ScoreResult:
        """The fast path: ``fast=True`` below.  Equal to ``score_reference`` for every input (see
        ``tests/scoring/test_speed_equivalence.py``); anything unusual is left to the reference path."""
        if not isinstance(activities, list | tuple):  # other iterables can be read once: the reference reads them
            return self.score_reference(contact, activities, now)
        last_now, t = self._last_now
        if now is not last_now:  # a batch scores at one `now`: work out its whole second once
            t = float(math.floor(now.timestamp()))
            self._last_now = (now, t)
        return self._score_at(contact, activities, t, now)

    def _score_at(
        self, contact: Contact, activities: list[Activity] | tuple[Activity, ...], t: float, now: datetime
    ) -> ScoreResult:
        """``score`` with ``t``, the whole second of ``now``, worked out by the caller (once for a batch)."""
        try:
            return self._result(self._prepare(contact, activities, t, None, True), t, now, True)
        except Exception:  # bad data: the reference path rescores from sanitized copies
            return self.score_reference(contact, activities, now)

    def score_reference(self, contact: Contact, activities: Iterable[Activity], now: datetime) -> ScoreResult:
        """The reference path: the plain engine that the fast path must match result for result."""
        t = float(math.floor(now.timestamp()))
        try:
            return self._result(self._prepare(contact, activities, t, None), t, now)
        except Exception:  # bad data: rescore from sanitized copies (see the module docstring)
            clean_contact, clean_activities, warnings = sanitize(contact, activities)
            return self._result(self._prepare(clean_contact, clean_activities, t, warnings), t, now)

    def _prepare(
        self,
        contact: Contact,
        activities: Iterable[Activity],
        t: float,
        warnings: list[str] | None,
        fast: bool = False,
    ) -> _State:
        state = _State()
        state.warnings = warnings if warnings is not None else []
        fields = contact.fields
        if type(fields) is not dict and not isinstance(fields, Mapping):  # (the ABC check is slow: dicts skip it)
            raise _Dirty
        state.contact_id = contact.id
        state.fields = fields
        if fast:
            self._static_grouped(state, fields, t)
        else:
            state.fit_static, state.fit_static_reasons = _static_points(self.fit_static, fields, t)
            state.eng_static, state.eng_static_reasons = _static_points(self.eng_static, fields, t)
            state.total_static, state.total_static_reasons = _static_points(self.total_static, fields, t)
        bound: list[TestAt] = []
        flips: list[float] = []
        for rule in self.timed:
            test_at, rule_flips = rule.bind(fields)
            bound.append(test_at)
            flips.extend(rule_flips)
        state.bound = bound
        state.flips = flips

        if type(activities) is not list:
            activities = list(activities)  # (a list is iterated fastest, compiled)
        listed = cast("list[Activity]", activities)
        # one pass: each activity goes, in input order, to every slot whose types and `where:` it matches
        slots: list[list[Item] | None] = [None] * self.slot_count
        plans = self.type_plans
        seen: set[Any] = set()
        limit = t + SKEW
        latest = -INF
        unknown = False
        for activity in listed:
            seen.add(activity.id)
            occurred = activity.occurred_at
            if occurred.tzinfo is None:
                raise _Dirty
            ts = occurred.timestamp()
            if ts > latest:
                latest = ts
            plan = plans.get(activity.type)
            if plan is None:
                unknown = unknown or activity.type not in _KNOWN_TYPES
                continue
            item = (ts, activity)
            for slot in plan.targets(activity.attributes, t) if plan.tests else plan.always:
                items = slots[slot]
                if items is None:
                    slots[slot] = [item]
                else:
                    items.append(item)
        if len(seen) != len(activities):
            raise _Dirty  # duplicate activity ids: the sanitized copy drops them
        for slot in self.sorted_slots:
            items = slots[slot]
            if items is not None and len(items) > 1:
                slots[slot] = sorted(items, key=_by_ts, reverse=True)
        state.slots = slots
        state.created_ts = _UNREAD
        state.latest_ts = latest
        if latest > limit or unknown:
            _activity_warnings(state.warnings, activities, limit)
        return state

    def _static_grouped(self, state: _State, fields: Mapping[str, Any], t: float) -> None:
        """The three ``_static_points`` sums and reasons, with each group of rules that read the same fields
        answered by one memo lookup when those fields hold text (or nothing)."""
        fired: list[Fired] = []
        for reads, members, memo, by_domain in self.static_groups:
            key, keep = _memo_key(fields, reads, by_domain)
            hit = memo.get(key) if keep else None
            if hit is None:
                hit = tuple(
                    [
                        (position, target, rule.points, rule)
                        for position, target, rule in members
                        if rule.test(fields, t)
                    ]
                )
                if keep:
                    if len(memo) >= _MEMO_LIMIT:
                        memo.clear()
                    memo[key] = hit
            if hit:
                fired.extend(hit)
        static = [0.0, 0.0, 0.0]
        static_reasons: tuple[list[Reason | PendingReason], ...] = ([], [], [])
        if len(fired) > 1:
            fired.sort(key=_first)  # back to rule order: points add up in the order _static_points adds them
        for _, target, points, rule in fired:
            static[target] += points
            static_reasons[target].append(rule.pending(fields))  # built when read (Reasons)
        state.fit_static, state.eng_static, state.total_static = static
        state.fit_static_reasons, state.eng_static_reasons, state.total_static_reasons = static_reasons

    def _evaluate(self, state: _State, t: float, collect: bool, fast: bool = False) -> _Eval:
        """Score ``state`` at epoch second ``t``; ``collect`` builds the reasons too.

        ``fast`` takes the common rule (a half-life, no window) through a tight loop once no activity is
        still to come: the same operations in the same order, without the tests that cannot fire."""
        past = fast and state.latest_ts <= t  # every activity has happened: no age below 0
        ev = _Eval()
        reasons: list[Reason | PendingReason] = []  # activity rules' reasons are built when read (Reasons)
        next_event = INF
        fit_raw = state.fit_static
        eng_raw = state.eng_static
        adjust = state.total_static
        if collect:
            reasons.extend(state.fit_static_reasons)
            reasons.extend(state.eng_static_reasons)
            reasons.extend(state.total_static_reasons)
        if self.timed:
            fields = state.fields
            for rule, test_at in zip(self.timed, state.bound, strict=True):
                if test_at(t):
                    if rule.applies_to == "fit":
                        fit_raw += rule.points
                    elif rule.applies_to == "engagement":
                        eng_raw += rule.points
                    else:
                        adjust += rule.points
                    if collect:
                        reasons.append(rule.pending(fields))
            for flip in state.flips:
                if t < flip < next_event:
                    next_event = flip

        terms: list[Term] = []
        decaying = 0.0  # what the decaying terms add now (engagement minus this is the constant part)
        slots = state.slots
        for act in self.activity_rules:
            items = slots[act.slot]
            if items is None:
                continue
            kind, rate, window, points, limit = act.kind, act.rate, act.window, act.weight, act.max_times
            if past and kind == 1 and window == INF:
                # every activity counts (the N newest when limited), with factor exp(-rate * age)
                if limit and len(items) > limit:
                    items = items[:limit]
                neg_rate = -rate
                moving = 0.0
                for ts, _ in items:
                    moving += points * math.exp(neg_rate * (t - ts))
                value = moving + 0.0
                cap = act.cap
                if value > cap:
                    value = cap
                elif value < -cap:
                    value = -cap
                terms.append((1, 0.0, moving, rate, cap))
                decaying += value
                eng_raw += value
                if collect and value:
                    # evidence recomputed when read: the same factors, exp(-rate * (t - ts)), to the last bit
                    decayed: Decayed = (items, neg_rate, t, points)
                    reasons.append((act.rule_id, act.label, act.component, value, decayed, "engagement", act.show_age))
                continue
            moving = fixed = 0.0  # the part that decays from now on, and the part that holds until an event
            oldest = INF
            count = moving_count = 0
            evidence: list[Counted] = []
            for ts, activity in items:
                age = t - ts
                if age < 0.0:
                    if age < -SKEW:
                        if ts - SKEW < next_event:
                            next_event = ts - SKEW
                        continue
                    if ts < next_event:  # slightly in the future: full points until it happens
                        next_event = ts
                    fixed += points
                    factor = 1.0
                elif age >= window:
                    continue
                elif kind == 1:
                    factor = math.exp(-rate * age)
                    moving += points * factor
                    moving_count += 1
                elif kind == 2:
                    factor = 1.0 - rate * age
                    if factor <= 0.0:
                        continue
                    moving += points * factor
                    moving_count += 1
                    end = ts + 1.0 / rate - 1.0  # where the line reaches zero (a second early is safe)
                    if end < next_event:
                        next_event = end
                else:
                    factor = 1.0
                    fixed += points
                if ts < oldest:
                    oldest = ts
                count += 1
                if collect:
                    evidence.append((activity, factor, points * factor))
                if count == limit:
                    break
            if count == 0:
                continue
            if oldest + window < next_event:
                next_event = oldest + window
            value = moving + fixed
            cap = act.cap
            if value > cap:
                value = cap
            elif value < -cap:
                value = -cap
            if moving_count:
                slope = rate if kind == 1 else -points * rate * moving_count
                terms.append((kind, fixed, moving, slope, cap))
                decaying += value
            eng_raw += value
            if collect and value:
                reasons.append((act.rule_id, act.label, act.component, value, evidence, "engagement", act.show_age))

        for inactive in self.inactivity:
            last = -INF
            latest: Activity | None = None
            items = slots[inactive.slot]
            if items is not None:
                newest = _newest(items) if _NATIVE else max(items, key=_by_ts)
                if newest[0] - SKEW <= t:  # nothing in the future: the newest is the last activity
                    last, latest = newest
                else:
                    for ts, activity in items:
                        if ts - SKEW > t:
                            if ts - SKEW < next_event:
                                next_event = ts - SKEW
                        elif ts > last:
                            last, latest = ts, activity
            if t - last >= inactive.after:
                # no activity lately; a contact created less than `after` ago is not inactive yet
                if state.created_ts is _UNREAD:
                    state.created_ts = _created_ts(state.fields)
                if state.created_ts is not None and state.created_ts > last:
                    last, latest = state.created_ts, None
            if t - last >= inactive.after:
                eng_raw += inactive.points
                if collect:
                    if latest is not None:
                        proof = _evidence(Evidence, (latest.id, latest.occurred_at, 1.0, inactive.points, None, None))
                    else:
                        created = state.fields.get("created_at") if last > -INF else None
                        proof = _evidence(Evidence, (None, None, 1.0, inactive.points, "created_at", created))
                    reasons.append(
                        make_reason(
                            inactive.rule_id, inactive.label, "negative", inactive.points, (proof,), "engagement", False
                        )
                    )
            elif last + inactive.after < next_event:
                next_event = last + inactive.after

        stag = self.stagnation
        if stag is not None:
            high = -INF
            items = slots[stag.high_slot]
            if items is not None:
                newest_ts = (_newest(items) if _NATIVE else max(items, key=_by_ts))[0]
                if newest_ts - SKEW <= t:
                    high = newest_ts
                else:
                    for ts, _ in items:
                        if ts - SKEW > t:
                            if ts - SKEW < next_event:
                                next_event = ts - SKEW
                        elif ts > high:
                            high = ts
            items = slots[stag.low_slot]
            if items is not None:
                first = INF
                first_activity: Activity | None = None
                count = 0
                # (compiled, the loop below is the faster way to the same answer)
                if not _NATIVE and max(items, key=_by_ts)[0] - SKEW <= t:
                    later = [item for item in items if item[0] > high]
                    count = len(later)
                    if count:
                        first, first_activity = min(later, key=_by_ts)
                else:
                    for ts, activity in items:
                        if ts - SKEW > t:
                            if ts - SKEW < next_event:
                                next_event = ts - SKEW
                        elif ts > high:
                            count += 1
                            if ts < first:
                                first, first_activity = ts, activity
                if count >= stag.min_actions:
                    if t - first >= stag.after:
                        eng_raw += stag.points
                        if collect and first_activity is not None:
                            proof = _evidence(
                                Evidence, (first_activity.id, first_activity.occurred_at, 1.0, stag.points, None, None)
                            )
                            reasons.append(
                                make_reason(
                                    stag.rule_id, stag.label, "stagnation", stag.points, (proof,), "engagement", False
                                )
                            )
                    elif first + stag.after < next_event:
                        next_event = first + stag.after

        fit_i = _round(fit_raw, self.fit_max)
        eng_i = _round(eng_raw, self.eng_max)
        total = self._total(fit_i, eng_i, adjust)
        tier: str | None = None
        due: datetime | None = None
        if self.tiers:
            for spec in self.tiers:
                items = slots[spec.slot]
                if items is None:
                    continue
                trigger: Activity | None = None
                trigger_ts = INF
                for ts, activity in items:
                    age = t - ts
                    if age < -SKEW:
                        if ts - SKEW < next_event:
                            next_event = ts - SKEW
                        continue
                    if age >= spec.within:
                        continue
                    if ts + spec.within < next_event:
                        next_event = ts + spec.within
                    if ts < trigger_ts:
                        trigger, trigger_ts = activity, ts
                if trigger is not None and tier is None and (spec.min_total is None or total >= spec.min_total):
                    tier = spec.name
                    try:
                        due = trigger.occurred_at + spec.respond
                    except OverflowError:
                        due = None
        ev.fit_raw, ev.eng_raw, ev.adjust, ev.fit_i, ev.eng_i = fit_raw, eng_raw, adjust, fit_i, eng_i
        ev.total = total
        ev.tier, ev.due, ev.reasons, ev.next_event = tier, due, reasons, next_event
        ev.terms, ev.base = terms, eng_raw - decaying
        return ev

    def _total(self, fit: int, engagement: int, adjust: float) -> int:
        """Fit and engagement (integers) combined, plus the points of rules that apply to the total."""
        if self.weights is None:
            return _round(fit + engagement + adjust, self.total_max)
        return _round(self.weights[0] * fit + self.weights[1] * engagement + adjust, self.total_max)

    def _result(self, state: _State, t: float, now: datetime, fast: bool = False) -> ScoreResult:
        ev = self._evaluate(state, t, True, fast)
        fit, engagement, total = ev.fit_i, ev.eng_i, ev.total
        grade = self.grade_by_fit[fit]
        label: str | None = None
        if self.label_by_score is not None:
            basis = self.label_basis
            label = self.label_by_score[total if basis == "total" else fit if basis == "fit" else engagement]
        cell = f"{grade}{self.level_by_eng[engagement]}"
        if self.cells:
            cell = self.cells.get(cell, cell)
        change = self._next_change(state, t, ev, fast)
        warnings = state.warnings
        if len(warnings) > MAX_WARNINGS:
            warnings = [*warnings[: MAX_WARNINGS - 1], f"... and {len(warnings) - MAX_WARNINGS + 1} more warnings"]
        contact_id = state.contact_id
        return make_result(
            contact_id if type(contact_id) is str else text_id(contact_id),
            total,
            fit,
            engagement,
            grade,
            label,
            cell,
            self.stage_by_total[total],
            ev.tier,
            ev.due,
            Reasons(ev.reasons),
            self.version,
            now,
            datetime.fromtimestamp(change, UTC) if change is not None and change <= _LAST_SECOND else None,
            tuple(warnings) if warnings else (),
        )

    def _next_change(self, state: _State, t: float, first: _Eval, fast: bool) -> float | None:
        """The first whole second after ``t`` at which the observable result differs (see module docstring)."""
        target = first.observable()
        rounded = first.eng_i
        low = rounded - 0.5 if rounded > 0 else -INF
        high = rounded + 0.5 if rounded < self.eng_max else INF
        current, at = first, t
        for _ in range(_MAX_EVENTS):
            event = current.next_event
            event_second = INF
            if event < INF:
                event_second = float(math.ceil(event))
                if event_second <= at:
                    event_second = at + 1.0
            if current.terms:
                found = first_crossing(current.base, current.terms, low, high, event_second - at)
                if found is not None:
                    offset, tight = found
                    second = at + offset
                    if not tight:
                        return second
                    check = self._evaluate(state, second, False, fast)
                    if check.observable() == target:
                        current, at = check, second
                        continue
                    for _ in range(4):  # a near tie: make sure the second before has not changed already
                        if (
                            second - 1.0 <= at
                            or self._evaluate(state, second - 1.0, False, fast).observable() == target
                        ):
                            break
                        second -= 1.0
                    return second
            if event_second == INF:
                return None
            current, at = self._evaluate(state, event_second, False, fast), event_second
            if current.observable() != target:
                return at
        return at if at > t else t + 1.0


def _static_points(
    rules: tuple[_FieldRule, ...], fields: Mapping[str, Any], t: float
) -> tuple[float, list[Reason | PendingReason]]:
    points = 0.0
    reasons: list[Reason | PendingReason] = []
    for rule in rules:
        if rule.test(fields, t):
            points += rule.points
            reasons.append(rule.reason(fields))
    return points, reasons


def _created_ts(fields: Mapping[str, Any]) -> float | None:
    created = parse_datetime(fields.get("created_at"))
    if created is None:
        return None
    try:
        return created.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def _activity_warnings(warnings: list[str], activities: Sequence[Activity], limit: float) -> None:
    for activity in activities:
        if activity.occurred_at.timestamp() > limit:
            warnings.append(
                f"activity {activity.id}: occurred_at {activity.occurred_at.isoformat()} is in the future; "
                "ignored until then"
            )
        if activity.type not in _KNOWN_TYPES:
            warnings.append(f"activity {activity.id}: unknown type {str(activity.type)[:40]!r}; no rule counts it")


# ---------------------------------------------------------------------------------------------------------
# Public entry points


_COMPILED: dict[int, CompiledModel] = {}


def compile_model(model: Model) -> CompiledModel:
    """The compiled form of ``model`` (compiled on first use, then cached for the model's lifetime)."""
    compiled = _COMPILED.get(id(model))
    if compiled is None:
        if not isinstance(model, Model):
            raise TypeError(f"expected a scoring Model, got {type(model).__name__}")
        compiled = CompiledModel(model)
        _COMPILED[id(model)] = compiled
        weakref.finalize(model, _COMPILED.pop, id(model), None)
    return compiled


def _check_now(now: datetime) -> None:
    if type(now) is datetime and now.tzinfo is UTC:  # the usual case, without asking the zone for its offset
        return
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime, e.g. datetime.now(UTC)")


def score(model: Model, contact: Contact, activities: Iterable[Activity], now: datetime) -> ScoreResult:
    """Score one contact and its activities at ``now`` (timezone-aware).  Pure: no I/O, no clock."""
    _check_now(now)
    return compile_model(model).score(contact, activities, now)


def score_many(
    model: Model, items: Iterable[tuple[Contact, Sequence[Activity]]], now: datetime
) -> Iterator[ScoreResult]:
    """Score many ``(contact, activities)`` pairs at the same ``now``, lazily."""
    _check_now(now)
    compiled = compile_model(model)
    t = float(math.floor(now.timestamp()))
    for contact, activities in items:
        if isinstance(activities, list | tuple):
            yield compiled._score_at(contact, activities, t, now)
        else:
            yield compiled.score(contact, activities, now)
