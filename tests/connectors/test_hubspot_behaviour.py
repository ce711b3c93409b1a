"""HubSpot behaviour through the real adapter (``hubspot-api-client`` over HTTP to the sandbox): form
submissions, marketing email events and web analytics events, read where HubSpot keeps them; no notes.

Each test states the requests it expects (``sandbox.counters``); the adapter sleeps on the sandbox clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.errors import AuthError
from connectors.hubspot import HubSpotAdapter
from connectors.hubspot.behaviour import form_activity_type
from connectors.hubspot.config import DEFAULT_FORM_ACTIVITY_MAP
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.dataset import Dataset, SampleActivity
from scoring import STARTER_MODEL_PATH, load_model, score
from tests.connectors.samples_hubspot import person
from tests.harnesses import NOW, HubSpotHarness


class _Harness(HubSpotHarness):
    """The sandbox clock is set back to ``NOW``: the pacers' monotonic clock (the sandbox's seconds, now
    negative) is kept positive so rate windows measure right."""

    def adapter(self, **overrides: Any) -> HubSpotAdapter:
        return super().adapter(**{"monotonic": lambda: self.sandbox.clock.seconds() + 1e9, **overrides})


def _sandbox(**config: Any) -> Iterator[HubSpotHarness]:
    with Sandbox(SandboxConfig(crms=("hubspot",), **config)) as sandbox:
        sandbox.clock.set(NOW)
        yield _Harness(sandbox)


@pytest.fixture
def h() -> Iterator[HubSpotHarness]:
    yield from _sandbox()


def snap(h: HubSpotHarness) -> dict[str, dict[int, int]]:
    return dict(h.sandbox.counters.snapshot())


def requests(h: HubSpotHarness, endpoint: str) -> list[dict[str, list[str]]]:
    """The query of every request the sandbox saw for ``endpoint`` (oldest first)."""
    return [query for name, query in h.api.request_log if name == endpoint]


def quiet_lead(i: int) -> Any:
    """A lead with a good fit and no activity: no tier, stage lead."""
    return person(i, title="VP Marketing", employees="250", lifecycle_stage="lead", page_views=0, visits=0)


# -- the done-when: a demo-form submission makes a P1, with no notes involved --------------------------------------
def test_demo_form_submission_makes_the_contact_p1_without_notes(h: HubSpotHarness) -> None:
    ids = h.load(Dataset(people=[quiet_lead(1), quiet_lead(2)]))
    cid = ids["p000001"]
    model = load_model(STARTER_MODEL_PATH)
    adapter = h.adapter()
    cursor = adapter.cursor_at(NOW - timedelta(minutes=5))
    contact = adapter.get_contacts([cid])[0]
    before = score(model, contact, adapter.read_activities([cid])[cid], NOW)
    assert before.tier is None and not any(r.rule == "demo_request" for r in before.reasons)

    h.sandbox.clock.advance(60)
    conversion = h.add_activity(cid, "demo_request", NOW)  # a submission of the "Request a demo" form
    h.sandbox.counters.reset()
    # the submission moved the contact's conversion rollups: the contacts search returns it, changed
    changed = [c for page in adapter.read_contacts(cursor) for c in page.contacts]
    assert [c.id for c in changed] == [cid] and changed[0].fields["recent_conversion_date"] != contact.fields.get(
        "recent_conversion_date"
    )
    assert [a for page in adapter.read_activity_changes(cursor) for a in page.activities] == []

    acts = adapter.read_activities([cid])[cid]
    demo = [a for a in acts if a.type == "demo_request"]
    assert [a.id for a in demo] == [conversion]
    assert [a.source_type for a in demo] == ["FORM:Request a demo"] and demo[0].attributes["form"] == "Request a demo"
    after = score(model, adapter.get_contacts([cid])[0], acts, NOW + timedelta(minutes=2))
    assert after.tier == "P1"
    assert [round(r.points) for r in after.reasons if r.rule == "demo_request"] == [25]  # decayed 2 minutes
    assert after.engagement - before.engagement >= 25
    assert h.api.count("notes") == 0 and not any(k.startswith("hubspot.notes") for k in snap(h))


# -- request shapes -----------------------------------------------------------------------------------------------
def test_submissions_read_per_form_newest_first_stopping_at_the_window(h: HubSpotHarness) -> None:
    people = [person(i) for i in range(120)]
    acts = [
        SampleActivity(f"{p.key}-d", p.key, "demo_request", NOW - timedelta(days=2 * i + 1))
        for i, p in enumerate(people)
    ]
    acts.append(
        SampleActivity("c", people[0].key, "form_submission", NOW - timedelta(days=1), "", {"form": "Contact us"})
    )
    ids = h.load(Dataset(people=people, activities=acts))
    adapter = h.adapter(behaviour_lookback_days=30)
    got = adapter.read_activities([ids["p000000"], ids["p000014"], ids["p000015"]])
    assert [a.type for a in got[ids["p000000"]]] == ["demo_request", "form_submission"]
    assert [a.type for a in got[ids["p000014"]]] == ["demo_request"]  # 29 days ago: inside the window
    assert got[ids["p000015"]] == []  # 31 days ago: outside
    counts = snap(h)
    # 15 demo submissions in the window: the first page of 50 already reaches past it, so one call per form
    assert counts["hubspot.forms.list"] == {200: 1} and counts["hubspot.form_submissions.list"] == {200: 2}
    assert all(q["limit"] == ["50"] for q in requests(h, "hubspot.form_submissions.list"))
    assert requests(h, "hubspot.forms.list")[0]["limit"] == ["50"]


def test_email_events_read_by_window_with_offset_paging(h: HubSpotHarness) -> None:
    people = [person(i) for i in range(3)]
    acts = [
        SampleActivity(f"o{n}", people[n % 3].key, "email_open", NOW - timedelta(hours=n + 1), "Launch")
        for n in range(2500)
    ]
    acts.append(SampleActivity("u", people[1].key, "unsubscribe", NOW - timedelta(minutes=30)))
    acts.append(SampleActivity("b", people[2].key, "bounce", NOW - timedelta(minutes=20)))
    ids = h.load(Dataset(people=people, activities=acts))
    adapter = h.adapter(behaviour_lookback_days=365)
    got = adapter.read_activities(list(ids.values()))
    assert sum(1 for a in got[ids["p000000"]] if a.type == "email_open") == 834
    assert [a.type for a in got[ids["p000001"]] if a.type != "email_open"] == ["unsubscribe"]
    assert [a.type for a in got[ids["p000002"]] if a.type != "email_open"] == ["bounce"]
    queries = requests(h, "hubspot.email_events.list")
    assert len(queries) == 3 and all(q["limit"] == ["1000"] for q in queries)
    start = int(queries[0]["startTimestamp"][0])
    assert int(queries[0]["endTimestamp"][0]) - start == 365 * 86_400_000
    assert "offset" not in queries[0] and queries[1]["offset"] and queries[2]["offset"] != queries[1]["offset"]


def test_page_views_from_web_events_on_enterprise_and_rollups_below(h: HubSpotHarness) -> None:
    people = [person(i, page_views=7) for i in range(2)]
    acts = [
        SampleActivity(
            f"v{n}", people[0].key, "page_view", NOW - timedelta(hours=n + 1), "Pricing", {"url": "/pricing"}
        )
        for n in range(150)
    ]
    ids = h.load(Dataset(people=people, activities=acts))
    got = h.adapter().read_activities([ids["p000000"]])[ids["p000000"]]
    assert len(got) == 150 and {a.type for a in got} == {"page_view"}
    assert got[0].attributes["url"] == "https://www.leadsync-demo.com/pricing"
    queries = requests(h, "hubspot.events.list")
    assert queries[0]["limit"] == ["1"]  # the probe: does this portal serve the API?
    assert [q["limit"] for q in queries[1:]] == [["100"], ["100"]] and queries[2]["after"]
    assert all(q["eventType"] == ["e_visited_page"] and q["objectType"] == ["contact"] for q in queries)

    h.api.portal_tier = "professional"
    h.sandbox.counters.reset()
    adapter = h.adapter()
    assert adapter.read_activities([ids["p000000"]])[ids["p000000"]] == []
    assert adapter.get_contacts([ids["p000000"]])[0].fields["hs_analytics_num_page_views"] == 7
    assert snap(h)["hubspot.events.list"] == {403: 1}  # asked once per adapter, then the rollups
    adapter.read_activities([ids["p000001"]])
    assert snap(h)["hubspot.events.list"] == {403: 1}
    lines = adapter.behaviour_sources()
    assert any("Enterprise only" in line and "hs_analytics_num_page_views" in line for line in lines)


def test_check_says_where_page_views_come_from(h: HubSpotHarness) -> None:
    h.load(Dataset(people=[person(1)], activities=[SampleActivity("d", "p000001", "demo_request", NOW)]))
    lines = h.adapter(form_activity_map={"demo": "webinar_registration"}).behaviour_sources()
    assert (
        lines[0] == "Form submissions: 1 form(s) read through the Forms API; typed by the form map: "
        "'Request a demo' -> webinar_registration."
    )
    assert any(line.startswith("Page views: read one by one from the event analytics API") for line in lines)


def test_missing_forms_scope_is_one_sentence(h: HubSpotHarness) -> None:
    ids = h.load(Dataset(people=[person(1)]))
    h.api.scopes = h.api.scopes - {"forms"}
    adapter = h.adapter()
    with pytest.raises(AuthError, match="lacks the scope forms"):
        adapter.read_activities([ids["p000001"]])
    lines = adapter.behaviour_sources()
    assert lines[0].startswith("Form submissions: not readable") and "forms" in lines[0]
    assert lines[1].startswith("Marketing email opens")


@pytest.mark.parametrize("kind", ["email_open", "email_click", "bounce", "unsubscribe", "demo_request", "page_view"])
def test_behaviour_reaches_the_sync_through_the_contacts_search_at_no_call_of_its_own(
    h: HubSpotHarness, kind: str
) -> None:
    ids = h.load(Dataset(people=[person(1), person(2)]))
    cid = ids["p000001"]
    adapter = h.adapter()
    cursor = adapter.cursor_at(NOW - timedelta(minutes=5))
    before = adapter.get_contacts([cid])[0]
    first = list(adapter.read_activity_changes(None))
    assert first[-1].done and first[-1].activities == ()
    h.sandbox.clock.advance(60)
    new_id = h.add_activity(cid, kind)
    h.sandbox.counters.reset()
    assert [a for p in adapter.read_activity_changes(first[-1].cursor) for a in p.activities] == []
    assert snap(h) == {}  # the activity-change stream makes no call
    changed = [c for page in adapter.read_contacts(cursor) for c in page.contacts]
    # the contact comes back with a rollup changed: a sync never takes it for an echo of its own write
    assert [c.id for c in changed] == [cid] and changed[0].fields != before.fields
    assert new_id in {a.id for a in adapter.read_activities([cid])[cid]}


@pytest.mark.parametrize(
    ("form_id", "name", "url", "user", "expected"),
    [
        ("g1", "Request a demo", "", {}, "demo_request"),
        ("g1", "Talk to sales", "", {"talk to sales": "demo_request"}, "demo_request"),
        ("g1", "Spring webinar", "", {}, "webinar_registration"),
        ("g1", "Ebook: scoring", "", {}, "content_download"),
        ("g1", "Contact us", "https://x.com/demo/thanks", {}, "demo_request"),  # the page URL names it
        ("g2", "Contact us", "", {"g2": "content_download"}, "content_download"),  # by form id
        ("g1", "Contact us", "", {"contact": "no_such_type"}, "form_submission"),
        ("g1", "Newsletter", "", {}, "form_submission"),
    ],
)
def test_form_map(form_id: str, name: str, url: str, user: dict[str, str], expected: str) -> None:
    assert form_activity_type(form_id, name, url, user, DEFAULT_FORM_ACTIVITY_MAP) == expected
