"""Hypothesis strategies: random but valid models, contacts and activity histories."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from connectors.records import Activity, Contact
from scoring import Model

from .conftest import NOW

TYPES = ("page_view", "demo_request", "email_open", "form_submission", "unsubscribe", "meeting")
POSITIVE_ONLY_TYPES = ("demo_request", "form_submission", "meeting")  # never in a negative or low-intent rule
URLS = ("https://x.io/pricing", "https://x.io/careers", "https://x.io/blog", None)
DAY = 86400

nice_days = st.sampled_from([0.5, 1, 2, 2.5, 7, 10, 30, 90])
points = st.sampled_from([0, 1, 2.5, 5, 10, 25, 40, 0.3])
negative_points = st.sampled_from([-1, -2.5, -5, -10, -40])
decays = st.one_of(
    st.none(),
    nice_days.map(lambda d: {"half_life_days": d}),
    nice_days.map(lambda d: {"expire_days": d}),
)
rule_decays = st.one_of(st.none(), st.just("none"), decays.filter(lambda d: d is not None))


@st.composite
def engagement_rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "activity": draw(st.sampled_from([*POSITIVE_ONLY_TYPES, "page_view", "email_open"])),
        "points": draw(points),
    }
    if draw(st.booleans()):
        rule["where"] = {"field": "url", "contains": "/pricing"}
    for key, strategy in (
        ("max_points", st.sampled_from([1, 5, 12, 30])),
        ("max_times", st.integers(1, 3)),
        ("within_days", nice_days),
        ("decay", rule_decays),
    ):
        value = draw(st.one_of(st.none(), strategy))
        if value is not None:
            rule[key] = value
    return rule


@st.composite
def negative_rules(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["activity", "careers", "free_mail", "inactive", "dated"]))
    rule: dict[str, Any] = {"points": draw(negative_points)}
    if kind == "activity":
        rule["activity"] = "unsubscribe"
        if draw(st.booleans()):
            rule["max_times"] = 1
    elif kind == "careers":
        rule.update(activity="page_view", where={"field": "url", "contains": "/careers"})
        for key, strategy in (("within_days", nice_days), ("decay", decays), ("max_points", st.just(7))):
            value = draw(st.one_of(st.none(), strategy))
            if value is not None:
                rule[key] = value
    elif kind == "free_mail":
        rule["when"] = {"free_mail": True}
        rule["applies_to"] = draw(st.sampled_from(["fit", "engagement", "total"]))
    elif kind == "inactive":
        rule["inactive_days"] = draw(nice_days)
    else:
        rule["when"] = {"field": "last_seen", "within_days": draw(nice_days)}
        rule["applies_to"] = draw(st.sampled_from(["fit", "engagement", "total"]))
    return rule


@st.composite
def model_dicts(draw: st.DrawFn, *, time_sensitive_negatives: bool = True, stagnation: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "random"}
    decay = draw(decays)
    if decay is not None:
        data["decay"] = decay
    data["scale"] = {"max": draw(st.sampled_from([100, 60, 7]))}
    if draw(st.booleans()):
        data["scale"].update(combine="weighted", weights={"fit": 0.3, "engagement": 0.9})
    fit = [{"when": {"field": "title", "contains_word": ["vp"]}, "points": draw(points)}]
    if draw(st.booleans()):
        fit.append({"when": {"field": "signup", "within_days": draw(nice_days)}, "points": draw(points)})
    data["fit"] = {"rules": [dict(rule, id=f"fit{i}") for i, rule in enumerate(fit)]}
    data["engagement"] = {
        "rules": [dict(rule, id=f"eng{i}") for i, rule in enumerate(draw(st.lists(engagement_rules(), max_size=4)))]
    }
    data["properties"] = {"rules": [{"id": "views", "when": {"field": "views", "gte": 10}, "points": draw(points)}]}
    negatives = draw(st.lists(negative_rules(), max_size=3))
    if not time_sensitive_negatives:
        negatives = [
            {k: v for k, v in rule.items() if k not in ("within_days", "decay")}
            for rule in negatives
            if "inactive_days" not in rule and "within_days" not in rule.get("when", {})
        ]
    data["negative"] = {"rules": [dict(rule, id=f"neg{i}") for i, rule in enumerate(negatives)]}
    if stagnation and draw(st.booleans()):
        data["stagnation"] = {
            "after_days": draw(nice_days),
            "low_intent": ["page_view", "email_open"],
            "high_intent": ["demo_request"],
            "points": draw(negative_points),
            "min_actions": draw(st.integers(1, 3)),
        }
    if draw(st.booleans()):
        data["tiers"] = [
            {"tier": "P1", "activity": "demo_request", "within": "24h", "respond_within": "10m"},
            {"tier": "P2", "activity": "form_submission", "within": "2d", "respond_within": "48h", "min_total": 5},
        ]
    return data


def build_model(data: dict[str, Any]) -> Model:
    return Model.model_validate(data)


def models(**options: bool) -> st.SearchStrategy[Model]:
    return model_dicts(**options).map(build_model)


@st.composite
def contacts(draw: st.DrawFn) -> Contact:
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["title"] = draw(st.sampled_from(["VP Sales", "Engineer", "", None]))
    if draw(st.booleans()):
        fields["email"] = draw(st.sampled_from(["a@gmail.com", "b@acme.com"]))
    if draw(st.booleans()):
        fields["views"] = draw(st.sampled_from(["12", "3", "n/a", 40]))
    for name in ("signup", "last_seen"):
        if draw(st.booleans()):
            fields[name] = (NOW - timedelta(seconds=draw(st.integers(-2 * DAY, 100 * DAY)))).isoformat()
    if draw(st.booleans()):
        fields["created_at"] = (NOW - timedelta(days=draw(st.integers(0, 300)))).isoformat()
    return Contact(id="c", updated_at=NOW, fields=fields)


@st.composite
def activity_lists(draw: st.DrawFn, types: tuple[str, ...] = TYPES, past_only: bool = False) -> list[Activity]:
    count = draw(st.integers(0, 7))
    earliest = 0 if past_only else -2 * DAY
    out = []
    for index in range(count):
        age = draw(st.one_of(st.integers(earliest, 120 * DAY), st.sampled_from([0, DAY, 7 * DAY, 30 * DAY])))
        url = draw(st.sampled_from(URLS))
        out.append(
            Activity(
                id=f"a{index}",
                contact_id="c",
                type=draw(st.sampled_from(types)),
                occurred_at=NOW - timedelta(seconds=age, microseconds=draw(st.sampled_from([0, 0, 250_000]))),
                attributes={"url": url} if url else {},
            )
        )
    return out
