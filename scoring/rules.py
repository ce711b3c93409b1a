"""A validated ``Model`` compiled into plain objects for the engine: ``RuleSet(model)``.

Field rules carry their compiled test; activity rules their decay, window and cap; every activity rule,
inactivity rule, stagnation check and tier reads a *slot*, the list of a contact's activities of its types
that pass its ``where:`` test (rules with the same types and no ``where:`` share a slot).  ``RuleSet`` also
holds the lookup tables (grade, label, matrix level and stage for every possible integer score) and the
static field rules grouped by the fields they read, for the fast path.  ``scoring.engine.CompiledModel``
is a ``RuleSet`` that scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import timedelta
from operator import itemgetter
from typing import Any, Final, NamedTuple, cast

from .conditions import DAY, Compiled, Test, compile_condition, email_domain
from .model import KNOWN_ACTIVITY_TYPES, Condition, Decay, Model, cut_name, duration_seconds
from .result import Evidence, PendingField, PendingReason, Reason, make_reason
from .segments import CompiledSegments
from .state import _State

INF: Final = math.inf
LN2: Final = math.log(2.0)
# Types that show the contact is active, for inactivity rules that do not list their own.
INACTIVITY_DEFAULT_TYPES: Final = tuple(
    t for t in KNOWN_ACTIVITY_TYPES if t not in ("email_sent", "note", "bounce", "unsubscribe", "other")
)
_evidence: Final = tuple.__new__  # Evidence is a NamedTuple: build it straight from a tuple
_first: Final = itemgetter(0)


# Points as written in the model: an int stays an int (annotated so, a compiled build would make it a float)
Points = int | float


def _nice(points: float) -> Points:
    """Points as given in the file: whole numbers stay whole (``25`` rather than ``25.0`` in reasons)."""
    if float(points).is_integer() and abs(points) < 1e15:
        return int(points)
    return points


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


class RuleSet:
    """A model's rules, slots and tables, compiled once (see the module docstring)."""

    def __init__(self, model: Model) -> None:
        self.version = model.version
        self.name = model.name
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
        # segments read their activity types through slots too (scoring.segments)
        self.segments: CompiledSegments | None = CompiledSegments(model, slot_for) if model.segments else None
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
