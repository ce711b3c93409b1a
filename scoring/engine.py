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

The model's rules, slots and lookup tables are built once by ``scoring.rules`` (``CompiledModel`` is a
``RuleSet``); what one contact's records say lives in ``scoring.state``.

Bad data never raises: the fast path assumes clean records and, at the first surprise (a naive or
missing timestamp, a non-mapping ``fields``, duplicate activity ids, ...), the contact is rescored from
sanitized copies of its records (``scoring.sanitize``), with a warning for each repair.  Only a naive
``now`` raises ``ValueError``: that is a programming error, not data.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Final, cast

from connectors.records import Activity, Contact

from .conditions import CLOCK_SKEW_SECONDS, TestAt
from .model import KNOWN_ACTIVITY_TYPES, Model
from .result import Counted, Decayed, Evidence, PendingReason, Reason, Reasons, ScoreResult, make_reason, make_result
from .rules import RuleSet, _evidence, _static_points
from .sanitize import sanitize, text_id
from .state import _UNREAD, Item, _activity_warnings, _created_ts, _Dirty, _Eval, _State
from .timing import Term, first_crossing

INF: Final = math.inf
SKEW: Final = CLOCK_SKEW_SECONDS
MAX_WARNINGS: Final = 20
_MAX_EVENTS: Final = 48  # events examined by next_change_at before it settles for an earlier answer
_KNOWN_TYPES: Final = frozenset(KNOWN_ACTIVITY_TYPES)
_by_ts: Final = itemgetter(0)


_NATIVE: Final = not __file__.endswith(".py")  # this module runs as a mypyc-compiled extension
_LAST_SECOND: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()  # later changes: never


def _newest(items: list[Item]) -> Item:
    """The first item with the latest time (``max(items, key=...)``, as a loop the compiled engine runs fast)."""
    best = items[0]
    best_ts = best[0]
    for item in items:
        if item[0] > best_ts:
            best, best_ts = item, item[0]
    return best


# ---------------------------------------------------------------------------------------------------------
# Scoring


def _round(value: float, cap: int) -> int:
    """Clamp to ``0..cap`` and round half up."""
    if value <= 0.0:
        return 0
    if value >= cap:
        return cap
    return math.floor(value + 0.5)


class CompiledModel(RuleSet):
    """A model compiled for scoring.  Build with ``compile_model(model)``; cached per model object."""

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self._last_now: tuple[datetime | None, float] = (None, 0.0)  # the last `now` scored at, and its second

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
        segments: tuple[str, ...] = ()
        if self.segments is not None:
            scores = {"score": total, "total": total, "fit": fit, "engagement": engagement, "grade": grade}
            scores.update({"stage": self.stage_by_total[total], "label": label, "matrix": cell, "tier": ev.tier})
            segments, flip = self.segments.evaluate(state.fields, scores, state.slots, t)
            if flip < INF:  # a segment test turns with time alone: rescore then too
                flip_second = max(float(math.ceil(flip)), t + 1.0)
                change = flip_second if change is None or flip_second < change else change
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
            segments,
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
