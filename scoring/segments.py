"""A model's ``segments:`` compiled for the engine: which audiences a scored contact belongs to, and why.

``compile_segments(model, slot_for)`` turns each segment (``scoring.segment_lang``) into small objects.
Field and score tests become a ``Condition`` (so they mean what they mean in fit rules) answered over the
contact's fields with the score's names laid on top (``score``/``total``, ``fit``, ``engagement``,
``grade``, ``stage``, ``label``, ``matrix``, ``tier``: these win over a CRM field of the same name).
Activity tests read the engine's slot for their types (``slot_for``), so the activities are sorted once.

``evaluate`` answers every segment at epoch second ``t`` and says when an answer could next change through
time alone (an activity leaving its window or arriving, a date test flipping), so ``next_change_at`` covers
segments too.  ``explain`` gives each segment's answer with the tests behind it.  Pure: no I/O, no clock.
Compiled with mypyc with the engine (``scoring/_native.py``): it runs once per contact of a model with segments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .conditions import CLOCK_SKEW_SECONDS, compile_condition
from .explain import format_age
from .model import Condition, Model
from .segment_lang import SCORE_NAMES, ActivityTest, Group, Node, Test, parse_segment

INF: Final = math.inf
Item = tuple[float, Any]  # (epoch seconds, activity), as the engine's slots hold them
ItemsOf = Callable[["_Activity"], Sequence[Item] | None]


@dataclass(frozen=True, slots=True)
class SegmentAnswer:
    """One segment for one contact: whether the contact is in it, and the tests that decided."""

    name: str
    matched: bool
    why: str


def _shown(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Field:
    """A test on fields and score names: a compiled ``Condition``."""

    __slots__ = ("compiled", "names", "text")

    def __init__(self, condition: Condition, text: str) -> None:
        self.compiled = compile_condition(condition)
        self.names = tuple(dict.fromkeys(condition.fields_used()))
        self.text = text

    def answer(self, values: Mapping[str, Any], items_of: ItemsOf, t: float) -> bool:
        if self.compiled.timed:
            return self.compiled.bind(values)[0](t)
        return self.compiled.test(values, t)

    def flips(self, values: Mapping[str, Any], items_of: ItemsOf, t: float, out: list[float]) -> None:
        if self.compiled.timed:
            out.extend(self.compiled.bind(values)[1])

    def why(self, values: Mapping[str, Any], items_of: ItemsOf, t: float) -> tuple[bool, str]:
        shown = ", ".join(f"{name} is {_shown(values.get(name))}" for name in self.names)
        return self.answer(values, items_of, t), f"{self.text} ({shown})" if shown else self.text


class _Activity:
    """``no|any TYPES [in DURATION]``: activities count from ``CLOCK_SKEW_SECONDS`` before they happen."""

    __slots__ = ("slot", "text", "types", "want_none", "window")

    def __init__(self, test: ActivityTest, slot: int) -> None:
        self.want_none, self.types, self.text, self.slot = test.want_none, test.types, test.text, slot
        self.window = test.seconds if test.seconds is not None else INF

    def counted(self, items: Sequence[Item] | None, t: float) -> Item | None:
        """The newest activity that counts at ``t``, if any."""
        best: Item | None = None
        for item in items or ():
            ts = item[0]
            if ts - CLOCK_SKEW_SECONDS <= t and t - ts < self.window and (best is None or ts > best[0]):
                best = item
        return best

    def answer(self, values: Mapping[str, Any], items_of: ItemsOf, t: float) -> bool:
        return (self.counted(items_of(self), t) is None) is self.want_none

    def flips(self, values: Mapping[str, Any], items_of: ItemsOf, t: float, out: list[float]) -> None:
        for ts, _ in items_of(self) or ():
            if ts - CLOCK_SKEW_SECONDS > t:
                out.append(ts - CLOCK_SKEW_SECONDS)  # arrives
            elif self.window < INF:
                out.append(ts + self.window)  # leaves the window

    def why(self, values: Mapping[str, Any], items_of: ItemsOf, t: float) -> tuple[bool, str]:
        items = items_of(self)
        newest = self.counted(items, t)
        if newest is None:
            past = [item for item in items or () if item[0] - CLOCK_SKEW_SECONDS <= t]
            newest = max(past, key=lambda item: item[0]) if past else None
        if newest is None:
            seen = "none"
        else:
            age = format_age(max(t - newest[0], 0.0))
            seen = f"last {getattr(newest[1], 'type', 'activity')} {'just now' if age == 'now' else age + ' ago'}"
        return self.answer(values, items_of, t), f"{self.text} ({seen})"


class _Group:
    __slots__ = ("children", "op")

    def __init__(self, op: str, children: Sequence[_Part]) -> None:
        self.op, self.children = op, tuple(children)

    def answer(self, values: Mapping[str, Any], items_of: ItemsOf, t: float) -> bool:
        if self.op == "not":
            return not self.children[0].answer(values, items_of, t)
        want = self.op == "any"
        for child in self.children:
            if child.answer(values, items_of, t) is want:
                return want
        return not want

    def flips(self, values: Mapping[str, Any], items_of: ItemsOf, t: float, out: list[float]) -> None:
        for child in self.children:
            child.flips(values, items_of, t, out)

    def why(self, values: Mapping[str, Any], items_of: ItemsOf, t: float) -> tuple[bool, str]:
        parts = [child.why(values, items_of, t) for child in self.children]
        if self.op == "not":
            inner, text = parts[0]
            return not inner, f"not {text}" if isinstance(self.children[0], _Field | _Activity) else f"not ({text})"
        want = self.op == "any"
        answer = any(p[0] for p in parts) if want else all(p[0] for p in parts)
        # what decided: the tests that agree with the answer; one is enough for a match of any or a miss of all
        deciding = [text for matched, text in parts if matched is answer]
        if answer is want:
            deciding = deciding[:1]
        return answer, "; ".join(deciding)


_Part = _Field | _Activity | _Group


def _names(part: _Part) -> Iterable[str]:
    """The names a compiled segment reads (fields and score names)."""
    if isinstance(part, _Group):
        for child in part.children:
            yield from _names(child)
    elif isinstance(part, _Field):
        yield from part.names


def _condition(test: Test) -> Condition:
    name, op, values = test.name, test.op, list(test.values)
    spec: dict[str, Any]
    if op == "==":
        spec = {"field": name, "equals": values[0]}
    elif op == "!=":
        spec = {"not": {"field": name, "equals": values[0]}}
    elif op == ">=":
        spec = {"field": name, "gte": values[0]}
    elif op == "<=":
        spec = {"field": name, "lte": values[0]}
    elif op in ("<", ">"):  # a value that holds no number is neither above nor below
        bound = "gte" if op == "<" else "lte"
        spec = {"all": [{"field": name, "exists": True}, {"not": {"field": name, bound: values[0]}}]}
    elif op in ("in", "not_in"):
        spec = {"field": name, op: values}
    elif op == "contains":
        spec = {"field": name, "contains": [str(values[0])]}
    elif name in SCORE_NAMES:
        spec = {"field": name, "exists": True}  # `tier` alone: the contact has a tier
    else:
        spec = {"field": name, "equals": True}  # `unsubscribed` alone: a yes/no field that says yes
    return Condition.model_validate(spec)


def _compile(node: Node, slot_for: Callable[[Iterable[str], Condition | None], int]) -> _Part:
    if isinstance(node, Group):
        return _Group(node.op, [_compile(child, slot_for) for child in node.children])
    if isinstance(node, ActivityTest):
        return _Activity(node, slot_for(node.types, None))
    return _Field(_condition(node), node.text)


class CompiledSegments:
    """Every segment of a model, in model order."""

    def __init__(self, model: Model, slot_for: Callable[[Iterable[str], Condition | None], int]) -> None:
        entries: list[tuple[str, _Part]] = []
        for name, spec in model.segments.items():
            if isinstance(spec, Condition):
                part: _Part = _Field(spec, "condition")
            else:
                part = _compile(parse_segment(name, spec), slot_for)
            entries.append((name, part))
        self.entries = tuple(entries)
        reads: dict[str, None] = {}
        for _, part in entries:
            for name in _names(part):
                reads.update(dict.fromkeys(("email_domain", "email") if name in ("email", "email_domain") else (name,)))
        self.reads = tuple(name for name in reads if name not in SCORE_NAMES)

    def values(self, fields: Mapping[str, Any], scores: Mapping[str, Any]) -> dict[str, Any]:
        """The fields the segments read, with the score's names on top (a copy of those fields only)."""
        values = {name: fields.get(name) for name in self.reads}
        values.update(scores)
        return values

    def evaluate(
        self, fields: Mapping[str, Any], scores: Mapping[str, Any], slots: Sequence[Sequence[Item] | None], t: float
    ) -> tuple[tuple[str, ...], float]:
        """The names of the segments the contact is in, and the first moment after ``t`` one could change."""
        values = self.values(fields, scores)

        def items_of(part: _Activity) -> Sequence[Item] | None:
            return slots[part.slot]

        names = tuple(name for name, part in self.entries if part.answer(values, items_of, t))
        moments: list[float] = []
        for _, part in self.entries:
            part.flips(values, items_of, t, moments)
        return names, min((m for m in moments if m > t), default=INF)

    def explain(
        self, fields: Mapping[str, Any], scores: Mapping[str, Any], activities: Iterable[Any], t: float
    ) -> list[SegmentAnswer]:
        """Each segment's answer for the contact at ``t``, with the tests that decided it."""
        values = self.values(fields, scores)
        timed: list[Item] = []
        for activity in activities:
            try:
                timed.append((activity.occurred_at.timestamp(), activity))
            except (AttributeError, TypeError, ValueError, OverflowError):
                continue  # a record the engine's sanitizer would drop

        def items_of(part: _Activity) -> Sequence[Item] | None:
            return [item for item in timed if getattr(item[1], "type", None) in part.types]

        answers = []
        for name, part in self.entries:
            matched, why = part.why(values, items_of, t)
            answers.append(SegmentAnswer(name, matched, why))
        return answers


def score_values(result: Any) -> dict[str, Any]:
    """The score's names as segment tests read them, from a ``ScoreResult``."""
    return {
        "score": result.total,
        "total": result.total,
        "fit": result.fit,
        "engagement": result.engagement,
        "grade": result.grade,
        "stage": result.stage,
        "label": result.label,
        "matrix": result.matrix,
        "tier": result.tier,
    }


def explain_segments(model: Model, contact: Any, activities: Iterable[Any], result: Any) -> list[SegmentAnswer]:
    """Each of the model's segments for a scored contact (``result`` from ``score``), with why; [] without any."""
    from .engine import compile_model  # the engine compiles segments: imported late, as it imports this module

    compiled = compile_model(model).segments
    if compiled is None:
        return []
    fields = contact.fields if isinstance(contact.fields, Mapping) else {}
    return compiled.explain(fields, score_values(result), activities, math.floor(result.scored_at.timestamp()))
