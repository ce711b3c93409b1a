"""The sandbox's HubSpot behaviour endpoints answer as docs/crm-api/hubspot.md §2.5 says HubSpot does: forms (read
through ``hubspot-api-client``'s models), form submissions, marketing email events and web analytics events,
with their limits, paging, scopes and the Enterprise-only event analytics API."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.dataset import Dataset, SampleActivity
from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS, HubSpotApi, to_ms
from tests.connectors.samples_hubspot import person
from tests.connectors.test_hubspot_sandbox import client, error_of, snap
from tests.harnesses import NOW, api_of

TOKEN = SANDBOX_CREDENTIALS["private_app_token"]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(crms=("hubspot",))) as sandbox:
        yield sandbox


def get(sandbox: Sandbox, path: str, **query: Any) -> tuple[int, dict[str, Any]]:
    url = sandbox.hubspot_url + path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def behaviour(n: int = 6) -> Dataset:
    """Each person fills the demo form, opens a marketing email and views the pricing page, a minute apart."""
    people = [person(i) for i in range(n)]
    acts: list[SampleActivity] = []
    for i, p in enumerate(people):
        at = NOW - timedelta(days=3, minutes=10 * i)
        acts += [
            SampleActivity(f"{p.key}-f", p.key, "demo_request", at, attributes={"url": "/demo"}),
            SampleActivity(f"{p.key}-o", p.key, "email_open", at + timedelta(minutes=1), "Spring launch"),
            SampleActivity(f"{p.key}-v", p.key, "page_view", at + timedelta(minutes=2), "Pricing", {"url": "/pricing"}),
        ]
    acts.append(SampleActivity("unsub", people[0].key, "unsubscribe", NOW - timedelta(days=1), "", {"campaign": "x"}))
    return Dataset(people=people, activities=acts)


def test_forms_list_reads_through_the_official_client_and_pages(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    api.load(behaviour())
    api.add_activity(api.load(Dataset(people=[person(50)]))["p000050"], "webinar_registration")
    forms_api = client(sb).marketing.forms.forms_api
    first = forms_api.get_page(limit=1)
    assert [f.name for f in first.results] == ["Request a demo"] and first.results[0].form_type == "hubspot"
    assert first.results[0].field_groups[0].fields[0].name == "email"
    second = forms_api.get_page(limit=1, after=first.paging.next.after)
    assert [f.name for f in second.results] == ["Webinar registration"] and second.paging is None
    status, body, _ = error_of(lambda: forms_api.get_page(limit=101))
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    api.scopes = api.scopes - {"forms"}
    status, body, _ = error_of(lambda: forms_api.get_page())
    assert status == 403 and body["errors"][0]["context"]["requiredGranularScopes"] == ["forms"]
    assert snap(sb) == {"hubspot.forms.list": {200: 2, 400: 1, 403: 1}}


def test_submissions_newest_first_in_pages_of_at_most_50(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(behaviour(60))
    guid = client(sb).marketing.forms.forms_api.get_page().results[0].id
    path = f"/form-integrations/v1/submissions/forms/{guid}"
    status, page = get(sb, path, limit=50)
    assert status == 200 and len(page["results"]) == 50
    first = page["results"][0]
    assert set(first) == {"conversionId", "submittedAt", "values", "pageUrl"}
    assert first["submittedAt"] == to_ms(NOW - timedelta(days=3)) and first["pageUrl"].endswith("/demo")
    assert {"name": "email", "value": person(0).email, "objectTypeId": "0-1"} in first["values"]
    status, rest = get(sb, path, limit=50, after=page["paging"]["next"]["after"])
    assert len(rest["results"]) == 10 and "paging" not in rest
    times = [r["submittedAt"] for r in page["results"] + rest["results"]]
    assert times == sorted(times, reverse=True) and len(set(times)) == 60
    assert get(sb, path, limit=51)[0] == 400
    assert get(sb, "/form-integrations/v1/submissions/forms/no-such-form")[0] == 404
    assert len(ids) == 60


def test_email_events_by_window_newest_first_with_offset_paging(sb: Sandbox) -> None:
    api_of(sb, HubSpotApi).load(behaviour(6))
    start, end = to_ms(NOW - timedelta(days=3, minutes=29)), to_ms(NOW - timedelta(days=3, minutes=9))
    status, page = get(sb, "/email/public/v1/events", startTimestamp=start, endTimestamp=end, limit=2)
    assert status == 200 and page["hasMore"] is True and len(page["events"]) == 2
    opened = page["events"][0]
    assert opened["type"] == "OPEN" and opened["recipient"] == person(1).email
    assert {"id", "created", "portalId", "appId", "emailCampaignId", "sentBy"} <= set(opened)
    _, rest = get(sb, "/email/public/v1/events", startTimestamp=start, endTimestamp=end, limit=2, offset=page["offset"])
    # opens at -3d+1m-10m*i for i = 1..3 fall in the window (both ends inclusive)
    assert [e["recipient"] for e in page["events"] + rest["events"]] == [person(i).email for i in (1, 2, 3)]
    assert rest["hasMore"] is False
    _, unsub = get(sb, "/email/public/v1/events", eventType="STATUSCHANGE")
    assert unsub["events"][0]["portalSubscriptionStatus"] == "UNSUBSCRIBED"
    assert get(sb, "/email/public/v1/events", limit=1001)[0] == 400
    _, mine = get(sb, "/email/public/v1/events", recipient=person(4).email.upper())
    assert [e["type"] for e in mine["events"]] == ["OPEN"]


def test_web_events_need_an_enterprise_portal(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(behaviour(3))
    events_api = client(sb).events.events_api
    page = events_api.get_page(object_type="contact", event_type="e_visited_page", sort=["ASCENDING"], limit=2)
    assert [e.object_id for e in page.results] == [ids["p000002"], ids["p000001"]]
    assert page.results[0].properties["hs_url"].endswith("/pricing") and page.paging.next.after
    one = events_api.get_page(object_type="contact", object_id=int(ids["p000000"]))
    assert [e.event_type for e in one.results] == ["e_visited_page"]
    api.portal_tier = "professional"
    status, body, _ = error_of(lambda: events_api.get_page(object_type="contact"))
    assert status == 403 and "Enterprise" in body["message"]
    with pytest.raises(ValueError):
        api.portal_tier = "platinum"


def test_tier_comes_from_the_sandbox_config() -> None:
    with Sandbox(SandboxConfig(crms=("hubspot",), limits={"hubspot": {"portal_tier": "Starter"}})) as sandbox:
        api = sandbox.apis["hubspot"]
        assert isinstance(api, HubSpotApi) and api.portal_tier == "starter"
        assert get(sandbox, "/events/v3/events")[0] == 403


def test_activities_go_where_hubspot_keeps_them_and_move_the_rollups(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    cid = api.load(Dataset(people=[person(1)]))["p000001"]
    before = api.record(cid)["properties"]
    sb.clock.advance(60)
    conversion = api.add_activity(cid, "demo_request")
    after = api.record(cid)["properties"]
    assert after["lastmodifieddate"] > before["lastmodifieddate"]
    assert after["recent_conversion_event_name"] == "Request a demo" and after["recent_conversion_date"]
    guid = client(sb).marketing.forms.forms_api.get_page().results[0].id
    _, page = get(sb, f"/form-integrations/v1/submissions/forms/{guid}")
    assert [r["conversionId"] for r in page["results"]] == [conversion]
    note = api.add_activity(cid, "note", subject="Called about pricing")
    body = client(sb).crm.objects.basic_api.get_by_id("notes", note, properties=["hs_note_body"])
    assert body.properties["hs_note_body"] == "Called about pricing"  # a plain note, no activity label
