"""The two nurture destinations: Mailchimp through its official client and ActiveCampaign over requests, against
the sandbox over HTTP (limits, paging, errors), and ActiveCampaign's request shapes pinned with ``responses``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import responses

from connectors.errors import AuthError
from connectors.nurture import ActiveCampaignDestination, MailchimpDestination, Member, Target
from connectors.sandbox import Sandbox
from connectors.sandbox.activecampaign import PAGE_MAX
from connectors.sandbox.mailchimp import API_KEY, LIST_ID, SEGMENT_BATCH_LIMIT
from tests.harnesses import flatten
from tests.nurture_harness import TAG, activecampaign_api, destination, mailchimp_api, nurture_sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with nurture_sandbox() as sb:
        yield sb


def members(n: int, start: int = 0) -> list[Member]:
    return [Member(f"c{i}", f"m{i}@example.com") for i in range(start, start + n)]


def test_mailchimp_check_says_what_is_missing(sandbox: Sandbox) -> None:
    api = mailchimp_api(sandbox)
    saved = api.create_segment("Hot leads", kind="saved")
    mc = destination("mailchimp", sandbox)
    assert mc.check(Target("tag", TAG)) == []
    assert "has no tag 'Nope'" in mc.check(Target("tag", "Nope"))[0]
    assert "saved segment" in mc.check(Target("segment", str(saved)))[0]
    api.role = "viewer"
    assert "viewer role" in " ".join(mc.check(Target("tag", TAG)))
    bad = MailchimpDestination(api_key="0" * 32 + "-us1", list_id=LIST_ID, base_url=sandbox.http_url + "/3.0")
    with pytest.raises(AuthError, match="refused the API key"):
        bad.check(Target("tag", TAG))
    missing = MailchimpDestination(api_key=API_KEY, list_id="nosuchlist", base_url=sandbox.http_url + "/3.0")
    assert "no audience with id 'nosuchlist'" in missing.check(Target("tag", TAG))[0]


def test_mailchimp_tags_go_in_one_batch_and_its_answers_are_read_per_member(sandbox: Sandbox) -> None:
    api = mailchimp_api(sandbox)
    for m in members(30):
        api.add_member(m.email)
    mc = destination("mailchimp", sandbox)
    before = sandbox.counters.snapshot()

    added, _ = mc.apply(Target("tag", TAG), [*members(30), Member("x", "absent@example.com")], [])

    assert [r.ok for r in added] == [True] * 30 + [False]
    assert added[-1].error == "not_a_member"
    calls = flatten(sandbox.counters.delta(before))
    assert calls["mailchimp.batches.start"] == 1 and calls["mailchimp.batches.status"] == 1
    assert api.tagged(TAG) == {m.email for m in members(30)}


def test_mailchimp_batches_split_at_the_configured_size(sandbox: Sandbox) -> None:
    for m in members(25):
        mailchimp_api(sandbox).add_member(m.email)
    mc = destination("mailchimp", sandbox, batch_max_operations=10)
    mc.apply(Target("tag", TAG), members(25), [])
    assert mc.calls()["batches.start"] == 3


def test_a_static_segment_takes_at_most_500_addresses_per_call_each_way(sandbox: Sandbox) -> None:
    api = mailchimp_api(sandbox)
    segment = api.create_segment("Nurture list")
    for m in members(1300):
        api.add_member(m.email)
    mc = destination("mailchimp", sandbox)
    mc.apply(Target("segment", str(segment)), members(1000), [])

    added, removed = mc.apply(Target("segment", str(segment)), members(300, start=1000), members(600))

    assert all(r.ok for r in added + removed)
    assert mc.calls()["lists.segments.members.batch"] == 2 + 2  # 1,000 adds; then 300 adds with 600 removes
    assert api.tagged("Nurture list") == {m.email for m in members(700, start=600)}
    assert SEGMENT_BATCH_LIMIT == 500


def test_activecampaign_reads_tags_past_the_first_page_of_100(sandbox: Sandbox) -> None:
    api = activecampaign_api(sandbox)
    for i in range(PAGE_MAX + 20):
        api.create_tag(f"Cold {i}")  # the search matches them all, and the tag asked for comes last
    late = api.create_tag("Cold")
    ac = destination("activecampaign", sandbox)
    assert ac.tag_id("Cold") == str(late)  # type: ignore[attr-defined]
    assert ac.calls()["tags.list"] == 2


def test_activecampaign_waits_out_its_429_and_every_move_lands(sandbox: Sandbox) -> None:
    api = activecampaign_api(sandbox)
    for m in members(12):
        api.add_contact(m.email)
    # paced far above the documented 5/s, so the sandbox's limit answers 429 with Retry-After
    ac = destination("activecampaign", sandbox, requests_per_second=1000)
    before = sandbox.counters.snapshot()

    added, _ = ac.apply(Target("tag", TAG), members(12), [])

    assert all(r.ok for r in added)
    assert api.tagged(TAG) == {m.email for m in members(12)}
    assert any(429 in by_status for by_status in sandbox.counters.delta(before).values())


def test_activecampaign_unknown_token_is_an_auth_error(sandbox: Sandbox) -> None:
    ac = ActiveCampaignDestination(api_token="wrong-token", base_url=sandbox.http_url)
    with pytest.raises(AuthError, match="refused the API token"):
        ac.check(Target("tag", TAG))


BASE = "https://acct.api-us1.com"


@responses.activate
def test_activecampaign_request_shapes() -> None:
    responses.get(
        f"{BASE}/api/3/tags",
        json={"tags": [{"id": "7", "tag": "Nurture", "tagType": "contact"}], "meta": {"total": "1"}},
    )
    responses.post(f"{BASE}/api/3/contact/sync", json={"contact": {"id": "41", "email": "a@example.com"}}, status=201)
    responses.post(
        f"{BASE}/api/3/contactTags", json={"contactTag": {"id": "900", "contact": "41", "tag": "7"}}, status=201
    )
    responses.post(f"{BASE}/api/3/contactAutomations", json={"contactAutomation": {"id": "5"}}, status=201)
    responses.delete(f"{BASE}/api/3/contactTags/900", json={})
    ac = ActiveCampaignDestination(
        api_token="tok-123456", base_url=BASE, create_contacts=True, automations={"Nurture": "12"}, sleep=lambda s: None
    )

    added, _ = ac.apply(Target("tag", "Nurture"), [Member("c1", "a@example.com")], [])
    _, removed = ac.apply(Target("tag", "Nurture"), [], [Member("c1", "a@example.com", added[0].remote_ref)])

    assert added[0].remote_ref == "41:900" and removed[0].ok
    sent = [(c.request.method, c.request.url.split("?")[0].removeprefix(BASE)) for c in responses.calls]
    assert sent == [
        ("GET", "/api/3/tags"),
        ("POST", "/api/3/contact/sync"),
        ("POST", "/api/3/contactTags"),
        ("POST", "/api/3/contactAutomations"),
        ("DELETE", "/api/3/contactTags/900"),
    ]
    bodies = [json.loads(c.request.body) for c in responses.calls if c.request.body]
    assert bodies == [
        {"contact": {"email": "a@example.com"}},  # the address only
        {"contactTag": {"contact": "41", "tag": "7"}},
        {"contactAutomation": {"contact": "41", "automation": "12"}},
    ]
    assert all(c.request.headers["Api-Token"] == "tok-123456" for c in responses.calls)
    assert "limit=100" in responses.calls[0].request.url and "search=Nurture" in responses.calls[0].request.url


@responses.activate
def test_activecampaign_never_creates_a_contact_unless_allowed() -> None:
    responses.get(f"{BASE}/api/3/tags", json={"tags": [{"id": "7", "tag": "Nurture"}], "meta": {"total": "1"}})
    responses.get(f"{BASE}/api/3/contacts", json={"contacts": [], "meta": {"total": "0"}})
    ac = ActiveCampaignDestination(api_token="tok-123456", base_url=BASE, sleep=lambda s: None)

    added, _ = ac.apply(Target("tag", "Nurture"), [Member("c1", "new@example.com")], [])

    assert added[0].error == "not_a_member"
    assert [c.request.method for c in responses.calls] == ["GET", "GET"], "no contact/sync, no contactTags"
    assert "email=new%40example.com" in responses.calls[1].request.url
