"""``HubSpotAdapter`` against the sandbox over real HTTP, through ``hubspot-api-client``.

Each test states the exact requests it expects (``sandbox.counters``).  The adapter sleeps by moving the
sandbox clock (see the harness), so pacing, retries and token expiry cost no wall-clock time.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.errors import AuthError, ConfigurationError, QuotaExhausted
from connectors.http import Action, Exchange
from connectors.hubspot import HubSpotAdapter, HubSpotConfig
from connectors.hubspot.client import classify
from connectors.records import FieldSpec, FieldUpdate, WriteStatus
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.dataset import Dataset, generate
from tests.connectors.samples_hubspot import dataset, person
from tests.harnesses import NOW, HubSpotHarness, make_harness


def _sandbox(**config: Any) -> Iterator[HubSpotHarness]:
    with Sandbox(SandboxConfig(crms=("hubspot",), **config)) as sandbox:
        yield make_harness("hubspot", sandbox)


@pytest.fixture
def h() -> Iterator[HubSpotHarness]:
    yield from _sandbox()


def snap(h: HubSpotHarness) -> dict[str, dict[int, int]]:
    return dict(h.sandbox.counters.snapshot())


def ids_of(pages: Any) -> list[str]:
    return [c.id for page in pages for c in page.contacts]


# -- backfill and incremental reads ------------------------------------------------------------------------------
def test_backfill_lists_every_contact_once_in_pages_of_page_size(h: HubSpotHarness) -> None:
    ids = h.load(dataset(250, activities=False))
    pages = list(h.adapter(page_size=100).read_contacts(None))
    assert [len(p.contacts) for p in pages] == [100, 100, 50] and pages[-1].done
    assert sorted(ids_of(pages)) == sorted(ids.values())
    c = next(c for c in pages[0].contacts if c.id == ids["p000001"])
    assert c.fields["employees"] == "100-500" and c.fields["title"] == "Engineer"  # messy strings as given
    assert c.fields["hs_analytics_num_page_views"] == 1 and c.updated_at.tzinfo is not None
    assert c.updated_at == NOW - timedelta(days=30, seconds=1)
    assert snap(h) == {"hubspot.contacts.list": {200: 3}}
    # a page's cursor resumes the listing; the last one hands over to incremental reads
    rest = list(h.adapter(page_size=100).read_contacts(pages[0].cursor))
    assert ids_of(rest) == ids_of(pages[1:])
    assert json.loads(pages[-1].cursor or "")["id"] == "0"


def test_backfill_by_search_costs_half_the_calls(h: HubSpotHarness) -> None:
    ids = h.load(dataset(450, activities=False))
    pages = list(h.adapter(backfill="search").read_contacts(None))
    got = ids_of(pages)
    assert sorted(got) == sorted(ids.values()) and len(got) == len(set(got))
    assert [c.updated_at for p in pages for c in p.contacts] == sorted(c.updated_at for p in pages for c in p.contacts)
    assert snap(h) == {"hubspot.contacts.search": {200: 3}}


def test_incremental_reads_changes_once_at_equal_timestamps(h: HubSpotHarness) -> None:
    ids = h.load(dataset(700, activities=False))
    adapter = h.adapter(page_size=1000)
    start = adapter.cursor_at(NOW)
    same = NOW + timedelta(minutes=5)
    tie_ids = [ids[f"p{i:06d}"] for i in range(0, 450)]  # 450 at one millisecond: more than two pages
    h.api.set_modified(tie_ids, same)
    pair_ids = [ids[f"p{i:06d}"] for i in range(450, 600)]  # 150 more, in pairs of equal timestamps
    for n, cid in enumerate(pair_ids):
        h.api.set_modified([cid], same + timedelta(seconds=1 + n // 2))
    pages = list(adapter.read_contacts(start))
    got = ids_of(pages)
    assert len(got) == len(set(got)) == 600 and set(got) == set(tie_ids + pair_ids)
    keys = [(c.updated_at, int(c.id)) for p in pages for c in p.contacts]
    assert keys == sorted(keys)  # oldest change first, ties by id: the cursor is exact
    # 1 page of the tie group, 3 walking it by id, 1 for the pairs (+1 record re-read at the end of none)
    assert snap(h) == {"hubspot.contacts.search": {200: 5}}
    again = list(adapter.read_contacts(pages[-1].cursor))
    # nothing new: the same position (its ``checked`` may only move forward)
    before, after = json.loads(pages[-1].cursor or ""), json.loads(again[-1].cursor or "")
    assert ids_of(again) == [] and (after["ts"], after["id"]) == (before["ts"], before["id"])
    assert after.get("checked", 0) >= before.get("checked", 0)


def test_incremental_held_group_spanning_pages_is_read_once(h: HubSpotHarness) -> None:
    ids = h.load(dataset(500, activities=False))
    adapter = h.adapter()
    start = adapter.cursor_at(NOW)
    # groups of contacts at one millisecond each; the page boundaries (200, 400) fall inside groups
    for g, (lo, hi) in enumerate([(0, 130), (130, 230), (230, 350), (350, 500)]):
        h.api.set_modified([ids[f"p{i:06d}"] for i in range(lo, hi)], NOW + timedelta(minutes=g))
    pages = list(adapter.read_contacts(start))
    got = ids_of(pages)
    assert len(got) == len(set(got)) == 500
    assert snap(h) == {"hubspot.contacts.search": {200: 3}}  # 200 new contacts per call, none re-read


def test_cursor_is_monotonic_across_runs_and_sees_touches_and_activities(h: HubSpotHarness) -> None:
    ids = h.load(dataset(30))
    adapter = h.adapter()
    cursor = adapter.cursor_at(NOW - timedelta(days=60))
    first = list(adapter.read_contacts(cursor))
    assert len(ids_of(first)) == 30
    positions = [tuple(json.loads(first[-1].cursor or "").values())]
    h.sandbox.clock.advance(5)
    h.touch(ids["p000003"], lead_status="OPEN")
    h.sandbox.clock.advance(5)
    h.add_activity(ids["p000007"], "meeting")
    h.sandbox.counters.reset()
    second = list(adapter.read_contacts(first[-1].cursor))
    assert ids_of(second) == [ids["p000003"], ids["p000007"]]
    assert second[0].contacts[0].fields["lead_status"] == "OPEN"
    positions.append(tuple(json.loads(second[-1].cursor or "").values()))
    third = list(adapter.read_contacts(second[-1].cursor))
    positions.append(tuple(json.loads(third[-1].cursor or "").values()))
    assert ids_of(third) == []
    ts = [p[1] for p in positions]
    assert ts == sorted(ts) and ts[0] < ts[1]
    assert snap(h) == {"hubspot.contacts.search": {200: 2}}
    assert next(iter(adapter.read_activity_changes(third[-1].cursor))).activities == ()
    # no call: behaviour moves the contact rollups, so the contacts search is the change feed
    assert snap(h) == {"hubspot.contacts.search": {200: 2}}


def test_search_lag_defers_the_latest_changes_and_count_costs_one_call(h: HubSpotHarness) -> None:
    ids = h.load(dataset(20, activities=False))
    adapter = h.adapter(search_lag_seconds=60)
    start = adapter.cursor_at(NOW)
    h.touch(ids["p000001"])  # changed now: inside the lag window
    assert ids_of(adapter.read_contacts(start)) == []
    assert adapter.count_contacts(start) == 0 and adapter.count_contacts(None) == 20  # what a read yields
    h.sandbox.clock.advance(61)
    assert ids_of(adapter.read_contacts(start)) == [ids["p000001"]]
    assert snap(h) == {"hubspot.contacts.search": {200: 4}}


def test_overlap_reads_a_late_indexed_change_then_never_reads_a_matured_window_again(h: HubSpotHarness) -> None:
    ids = h.load(dataset(20, activities=False))
    adapter = h.adapter(search_lag_seconds=60, search_overlap_seconds=300)
    start = adapter.cursor_at(NOW)
    h.sandbox.clock.advance(10)
    h.api.index_delay_seconds = 200  # shows in search 200 s after its change: later than the 60 s lag
    h.touch(ids["p000001"])
    h.api.index_delay_seconds = 0
    h.sandbox.clock.advance(10)
    h.touch(ids["p000002"])
    h.sandbox.clock.advance(100)  # p2 is past the lag and indexed, p1 changed before it is not indexed yet
    first = list(adapter.read_contacts(start))
    assert ids_of(first) == [ids["p000002"]]
    h.sandbox.clock.advance(200)  # p1 is indexed now, behind the cursor: the overlap re-read finds it
    h.sandbox.counters.reset()
    second = list(adapter.read_contacts(first[-1].cursor))
    assert ids_of(second) == [ids["p000001"], ids["p000002"]]  # p2 again: the sync skips it as processed
    assert snap(h) == {"hubspot.contacts.search": {200: 1}}
    h.sandbox.clock.advance(900)  # the next scheduled sync: read once more, now that the window has matured
    h.sandbox.counters.reset()
    third = list(adapter.read_contacts(second[-1].cursor))
    assert ids_of(third) == [ids["p000001"], ids["p000002"]] and snap(h) == {"hubspot.contacts.search": {200: 1}}
    for _ in range(2):  # then never again: the reads start past the cursor, one call when nothing is new
        h.sandbox.clock.advance(900)
        h.sandbox.counters.reset()
        later = list(adapter.read_contacts(third[-1].cursor))
        assert ids_of(later) == [] and snap(h) == {"hubspot.contacts.search": {200: 1}}
        third = later
    positions = [json.loads(p[-1].cursor or "") for p in (first, second, third)]
    assert [(p["ts"], p["id"]) for p in positions] == [(positions[0]["ts"], positions[0]["id"])] * 3
    assert positions[2]["checked"] > positions[2]["ts"]  # reads now start at ``checked``, past the overlap


def test_config_from_settings() -> None:
    from sync.settings import HubSpotSettings

    section = HubSpotSettings(access_token=SecretStr("pat-x"), base_url="http://127.0.0.1:1")
    config = HubSpotConfig.from_settings(section, extra_fields=["leadsync_score"], page_size=200)
    assert config.base_url == "http://127.0.0.1:1" and config.page_size == 200 and not config.oauth
    assert config.extra_fields[-1] == "leadsync_score" and "hs_analytics_num_page_views" in config.extra_fields
    assert "pat-x" not in repr(config)


def test_get_contacts_batches_and_leaves_unknown_ids_out(h: HubSpotHarness) -> None:
    ids = h.load(dataset(150, activities=False))
    adapter = h.adapter()
    wanted = [*list(ids.values())[:120], "999999"]
    got = adapter.get_contacts(wanted)
    assert sorted(c.id for c in got) == sorted(wanted[:120])
    assert snap(h) == {"hubspot.contacts.batch_read": {200: 1, 207: 1}}


# -- activities ------------------------------------------------------------------------------------------------
def test_activities_map_to_canonical_types_with_minimum_calls(h: HubSpotHarness) -> None:
    ids = h.load(dataset(3, activities=False))
    cid, other = ids["p000000"], ids["p000001"]
    kinds = ["email_open", "email_click", "email_reply", "email_sent", "bounce", "meeting", "call", "page_view",
             "form_submission", "demo_request", "webinar_registration", "content_download",
             "unsubscribe"]  # fmt: skip
    made = {
        h.add_activity(cid, k, NOW - timedelta(hours=n), url="https://x.test/pricing"): k for n, k in enumerate(kinds)
    }
    h.add_activity(other, "call")
    h.sandbox.counters.reset()
    # the activities are dated at NOW, the sandbox clock runs on the wall clock: look back far enough
    acts = h.adapter(behaviour_lookback_days=3650).read_activities([cid, other, ids["p000002"]])
    assert {a.id: a.type for a in acts[cid]} == made
    assert [a.type for a in acts[other]] == ["call"] and acts[ids["p000002"]] == []
    page_view = next(a for a in acts[cid] if a.type == "page_view")
    assert (
        page_view.source_type == "WEB_EVENT:E_VISITED_PAGE" and page_view.attributes["url"] == "https://x.test/pricing"
    )
    assert page_view.occurred_at == NOW - timedelta(hours=7)
    assert [a.occurred_at for a in acts[cid]] == sorted(a.occurred_at for a in acts[cid])
    assert snap(h) == {
        "hubspot.associations.batch_read": {207: 4},  # one per engagement type; p2 has none of any
        "hubspot.emails.batch_read": {200: 1},
        "hubspot.meetings.batch_read": {200: 1},
        "hubspot.calls.batch_read": {200: 1},  # no notes: no behaviour is kept as a note
        # behaviour: the contacts' emails, the forms and one page of each form's submissions, one page of email
        # events, and the event analytics probe then one page of page views
        "hubspot.contacts.batch_read": {200: 1},
        "hubspot.forms.list": {200: 1},
        "hubspot.form_submissions.list": {200: 4},
        "hubspot.email_events.list": {200: 1},
        "hubspot.events.list": {200: 2},
    }


def test_activity_type_map_is_configurable(h: HubSpotHarness) -> None:
    ids = h.load(dataset(1, activities=False))
    h.add_activity(ids["p000000"], "meeting")
    adapter = h.adapter(activity_type_map={"MEETING:COMPLETED": "demo_request"}, engagement_types=("meetings",))
    assert [a.type for a in adapter.read_activities([ids["p000000"]])[ids["p000000"]]] == ["demo_request"]


# -- writes ----------------------------------------------------------------------------------------------------
def test_write_round_trip_in_batches_of_100(h: HubSpotHarness) -> None:
    ids = h.load(dataset(150, activities=False))
    h.create_fields()
    adapter = h.adapter()
    owner = next(o.id for o in adapter.read_owners() if o.active)
    h.sandbox.counters.reset()
    updates = [FieldUpdate(cid, {"leadsync_score": 40 + n % 7, "owner_id": owner, "lead_status": "OPEN"})
               for n, cid in enumerate(ids.values())]  # fmt: skip
    results = adapter.write(updates)
    assert [r.status for r in results] == [WriteStatus.OK] * 150
    assert [r.requested_id for r in results] == [u.contact_id for u in updates]
    cid = ids["p000004"]
    assert h.crm_value(cid, "leadsync_score") == "44" and h.crm_value(cid, "owner_id") == owner
    assert h.crm_value(cid, "lead_status") == "OPEN"
    assert snap(h) == {"hubspot.contacts.batch_update": {200: 2}}
    cleared = adapter.write([FieldUpdate(cid, {"leadsync_score": None})])
    assert cleared[0].ok and h.crm_value(cid, "leadsync_score") is None


def test_207_per_record_failures_map_to_their_records(h: HubSpotHarness) -> None:
    ids = h.load(dataset(5, activities=False))
    h.create_fields()
    h.fail_records(ids["p000001"], ids["p000003"])
    results = h.adapter().write([FieldUpdate(cid, {"leadsync_score": 1}) for cid in ids.values()])
    assert [r.status for r in results] == [WriteStatus.OK, WriteStatus.FAILED] * 2 + [WriteStatus.OK]
    assert results[1].error_code == "INVALID_RECORD" and results[1].contact_id == ids["p000001"]
    assert "failure injected" in results[1].error
    assert snap(h) == {"hubspot.contacts.batch_update": {207: 1}}


def test_write_to_a_merged_id_lands_on_the_survivor(h: HubSpotHarness) -> None:
    ids = h.load(dataset(2, activities=False))
    h.create_fields()
    survivor = h.merge(ids["p000000"], ids["p000001"])
    adapter = h.adapter()
    [result] = adapter.write([FieldUpdate(ids["p000001"], {"leadsync_score": 9})])
    assert result.ok and result.contact_id == survivor and result.requested_id == ids["p000001"]
    assert h.crm_value(survivor, "leadsync_score") == "9"
    [contact] = adapter.get_contacts([ids["p000001"]])
    assert contact.id == survivor and contact.merged_from == (ids["p000001"],)
    assert snap(h) == {"hubspot.contacts.batch_update": {200: 1}, "hubspot.contacts.batch_read": {200: 1}}


def test_lifecycle_moved_back_is_cleared_then_set(h: HubSpotHarness) -> None:
    ids = h.load(dataset(3, activities=False))  # p2 is a customer, p0 a lead
    adapter = h.adapter()
    updates = [FieldUpdate(ids["p000002"], {"lifecycle_stage": "salesqualifiedlead"}),
               FieldUpdate(ids["p000000"], {"lifecycle_stage": "marketingqualifiedlead"})]  # fmt: skip
    results = adapter.write(updates)
    assert [r.status for r in results] == [WriteStatus.OK, WriteStatus.OK]
    assert h.crm_value(ids["p000002"], "lifecycle_stage") == "salesqualifiedlead"
    assert snap(h) == {"hubspot.contacts.batch_update": {207: 1, 200: 2}}  # write, clear, set
    refused = h.adapter(clear_lifecycle_to_move_back=False).write(
        [FieldUpdate(ids["p000002"], {"lifecycle_stage": "lead"})]
    )
    assert refused[0].status is WriteStatus.FAILED and refused[0].error_code == "INVALID_OPTION"


def test_a_bad_value_fails_only_its_record(h: HubSpotHarness) -> None:
    ids = h.load(dataset(8, activities=False))
    h.create_fields()
    updates = [FieldUpdate(cid, {"leadsync_score": 5}) for cid in ids.values()]
    updates[5] = FieldUpdate(updates[5].contact_id, {"lead_status": "NOT_A_STATUS"})
    updates[6] = FieldUpdate(updates[6].contact_id, {"no_such_property": "x"})
    results = h.adapter().write(updates)
    assert [r.status for r in results] == [WriteStatus.OK] * 5 + [WriteStatus.FAILED] * 2 + [WriteStatus.OK]
    assert results[5].error_code == "INVALID_OPTION" and results[6].error_code == "PROPERTY_DOESNT_EXIST"
    # 8 refused (unknown property, named: record 6 fails) -> the other 7 refused (bad option, unnamed) ->
    # halves [0-2] ok | [3,4,5,7] refused -> [3,4] ok | [5,7] refused -> [5] refused alone, [7] ok
    assert snap(h)["hubspot.contacts.batch_update"] == {400: 5, 200: 3}


def test_duplicate_ids_go_to_separate_batches(h: HubSpotHarness) -> None:
    ids = h.load(dataset(1, activities=False))
    h.create_fields()
    cid = ids["p000000"]
    results = h.adapter().write([FieldUpdate(cid, {"leadsync_score": 1}), FieldUpdate(cid, {"leadsync_score": 2})])
    assert all(r.ok for r in results) and h.crm_value(cid, "leadsync_score") == "2"
    assert snap(h) == {"hubspot.contacts.batch_update": {200: 2}}


# -- fields, owners, outcomes -------------------------------------------------------------------------------------
def test_check_fields_creates_once_and_is_idempotent(h: HubSpotHarness) -> None:
    adapter = h.adapter()
    specs = h.writeback_specs
    first = adapter.check_fields(specs)
    assert first.missing == tuple(s.name for s in specs) and "Settings > Properties" in first.instructions
    created = adapter.check_fields(specs, create=True)
    assert created.created == tuple(s.name for s in specs) and created.missing == ()
    again = adapter.check_fields(specs, create=True)
    assert again.present == tuple(s.name for s in specs) and again.created == ()
    assert adapter._create_property(specs[0]) is False  # a 409 means it exists
    assert snap(h) == {
        "hubspot.properties.list": {200: 3},
        "hubspot.property_groups.create": {201: 1},
        "hubspot.properties.create": {201: len(specs), 409: 1},
    }
    mismatch = adapter.check_fields([FieldSpec("leadsync_score", "Score", "string")])
    assert "Type mismatch" in mismatch.instructions


def test_owners_and_outcomes(h: HubSpotHarness) -> None:
    ids = h.load(dataset(3, activities=False))
    adapter = h.adapter()
    owners = adapter.read_owners()
    assert [(o.email, o.active) for o in owners] == [
        ("ada@leadsync-demo.com", True),
        ("bob@leadsync-demo.com", True),
        ("cy@leadsync-demo.com", False),
    ]
    assert owners[0].teams == ("Inbound",) and owners[0].name == "Ada Owner"
    outcomes = sorted(adapter.read_outcomes(), key=lambda o: o.contact_id)
    assert [(o.contact_id, o.won) for o in outcomes] == [(ids["p000000"], True), (ids["p000001"], False)]
    assert outcomes[0].amount == 1200.0 and outcomes[0].closed_at == NOW - timedelta(days=5)
    assert snap(h) == {"hubspot.owners.list": {200: 2}, "hubspot.deals.list": {200: 1}}


# -- pacing, retries, errors ---------------------------------------------------------------------------------------
def test_steady_sync_is_paced_below_the_burst_limit() -> None:
    for h in _sandbox(limits={"hubspot": {"burst_per_10s": 10}}):
        h.load(dataset(3000, activities=False))
        adapter = h.adapter()
        assert len(ids_of(adapter.read_contacts(None))) == 3000
        assert snap(h) == {"hubspot.contacts.list": {200: 30}}  # no 429
        assert adapter.usage().extra["paced_seconds"] > 20  # 30 calls at <= 10 per 10 s


def test_search_is_paced_at_five_per_second() -> None:
    for h in _sandbox():
        h.load(dataset(2000, activities=False))
        pages = list(h.adapter(backfill="search").read_contacts(None))
        assert len(ids_of(pages)) == 2000
        assert snap(h) == {"hubspot.contacts.search": {200: 10}}


def test_transient_failures_are_retried_and_counted(h: HubSpotHarness) -> None:
    h.load(dataset(150, activities=False))
    h.sandbox.faults.configure(rate_5xx=1.0, only={"hubspot"}, endpoints=["hubspot.contacts.list"], max_faults=2)
    adapter = h.adapter()
    assert len(ids_of(adapter.read_contacts(None))) == 150
    listed = snap(h)["hubspot.contacts.list"]
    assert listed[200] == 2 and sum(n for s, n in listed.items() if s >= 500) == 2
    h.sandbox.faults.clear()
    h.api.inject_failures("hubspot.contacts.list", 429, times=1)  # a burst 429 is waited out, then retried
    h.api.inject_failures("hubspot.contacts.list", 477, times=1)
    assert len(ids_of(adapter.read_contacts(None))) == 150
    assert snap(h)["hubspot.contacts.list"][200] == 4
    # a reset connection and a garbled 200 are retried too (the client's own retries are off)
    for kind in ("rate_reset", "rate_malformed"):
        h.sandbox.faults.reset()
        h.sandbox.faults.configure(**{kind: 1.0}, endpoints=["hubspot.contacts.list"], max_faults=1)
        assert len(ids_of(adapter.read_contacts(None))) == 150
        h.sandbox.faults.clear()
    listed = snap(h)["hubspot.contacts.list"]
    assert listed[599] == 1 and listed[200] == 9  # 4 + 2 + 2 good pages and 1 cut in half by the injector
    assert adapter.usage().extra["retries"] == {"contacts.list": 6}


def test_errors_become_typed_sentences() -> None:
    for h in _sandbox(limits={"hubspot": {"daily": 1}}):
        h.load(dataset(1, activities=False))
        adapter = h.adapter()
        list(adapter.read_contacts(None))
        with pytest.raises(QuotaExhausted, match="daily API limit of 1 calls"):
            list(adapter.read_contacts(None))
        assert snap(h) == {"hubspot.contacts.list": {200: 1, 429: 1}}
    for h in _sandbox():
        with pytest.raises(AuthError, match="private-app token") as info:
            h.adapter(access_token=SecretStr("pat-na1-not-the-one")).read_owners()
        assert "pat-na1-not-the-one" not in str(info.value)
        h.api.scopes.discard("crm.objects.owners.read")
        with pytest.raises(AuthError, match=r"lacks the scope crm\.objects\.owners\.read"):
            h.adapter().read_owners()
        assert snap(h) == {"hubspot.owners.list": {401: 1, 403: 1}}  # neither is retried
    with pytest.raises(ConfigurationError, match="credentials are missing"):
        HubSpotAdapter(HubSpotConfig())


def test_classify_table() -> None:
    def verdict(status: int, body: dict[str, Any] | None = None, oauth: bool = False) -> Action:
        return classify(Exchange(status, {}, json.dumps(body or {})), oauth=oauth).action

    assert verdict(207) is Action.OK
    assert verdict(429, {"policyName": "DAILY"}) is Action.QUOTA_EXHAUSTED
    assert verdict(429, {"policyName": "TEN_SECONDLY_ROLLING"}) is Action.RATE_LIMITED
    assert verdict(401, oauth=True) is Action.REFRESH_AUTH and verdict(401) is Action.AUTH_FAILED
    assert verdict(403, {"category": "MISSING_SCOPES"}) is Action.AUTH_FAILED
    assert all(verdict(s) is Action.RETRY for s in (0, 423, 477, 500, 502, 503, 504, 521, 523, 524))
    assert verdict(400) is Action.FATAL and verdict(404) is Action.FATAL and verdict(-1) is Action.FATAL


def test_oauth_refreshes_before_expiry_and_once_on_401(h: HubSpotHarness) -> None:
    h.load(dataset(1, activities=False))
    adapter = h.oauth_adapter()
    adapter.read_owners()
    assert snap(h) == {"hubspot.oauth.token": {200: 1}, "hubspot.owners.list": {200: 2}}
    h.sandbox.clock.advance(1750)  # within a minute of expires_in: refreshed before the call
    adapter.read_owners()
    assert snap(h)["hubspot.oauth.token"] == {200: 2} and snap(h)["hubspot.owners.list"] == {200: 4}
    h.api.revoke_access_tokens()  # a 401 refreshes once, then the call goes through
    adapter.read_owners()
    assert snap(h)["hubspot.oauth.token"] == {200: 3} and snap(h)["hubspot.owners.list"] == {200: 6, 401: 1}
    usage = adapter.usage()
    assert usage.quota_limit is None and usage.calls_by_endpoint["oauth.token"] == 3  # OAuth: no daily limit
    bad = h.oauth_adapter(refresh_token=SecretStr("revoked-refresh-token"))
    with pytest.raises(AuthError, match="BAD_REFRESH_TOKEN") as info:
        bad.read_owners()
    assert "revoked-refresh-token" not in str(info.value)


# -- the whole sync's cost ------------------------------------------------------------------------------------------
def _minimum_calls(h: HubSpotHarness, contacts: int) -> dict[str, int]:
    with h.sandbox.store.read() as conn:
        per_type = dict(conn.execute("SELECT to_type, COUNT(*) FROM hs_assoc GROUP BY to_type").fetchall())
        submissions = [n for (n,) in conn.execute("SELECT COUNT(*) FROM hs_form_submissions GROUP BY form_id")]
        email_events = conn.execute("SELECT COUNT(*) FROM hs_email_events").fetchone()[0]
        page_views = conn.execute("SELECT COUNT(*) FROM hs_web_events").fetchone()[0]
    minimum = {
        "hubspot.contacts.list": math.ceil(contacts / 100),
        "hubspot.associations.batch_read": 4 * math.ceil(contacts / 1000),
        "hubspot.contacts.batch_update": math.ceil(contacts / 100),
    }
    for etype in ("emails", "meetings", "calls", "notes"):
        minimum[f"hubspot.{etype}.batch_read"] = math.ceil(per_type.get(etype, 0) / 100)
    # behaviour, read once for the whole backfill: forms (50 per call) and each one's submissions (50 per
    # call), email events (1,000 per call), the event analytics probe and page views (100 per call)
    minimum["hubspot.forms.list"] = max(1, math.ceil(len(submissions) / 50))
    minimum["hubspot.form_submissions.list"] = sum(max(1, math.ceil(n / 50)) for n in submissions)
    minimum["hubspot.email_events.list"] = max(1, math.ceil(email_events / 1000))
    minimum["hubspot.events.list"] = 1 + max(1, math.ceil(page_views / 100))
    return minimum


def test_backfill_with_activities_and_write_back_then_unchanged_incremental(h: HubSpotHarness) -> None:
    data: Dataset = generate(500, seed=7, now=NOW, activities_per_contact=10.0)
    h.load(data)
    h.create_fields()
    adapter = h.adapter(behaviour_lookback_days=3650)  # every submission and event of the dataset (dated NOW)
    written = 0
    for page in adapter.read_contacts(None):
        acts = adapter.read_activities([c.id for c in page.contacts])
        updates = [FieldUpdate(c.id, {"leadsync_score": len(acts[c.id])}) for c in page.contacts]
        written += sum(r.ok for r in adapter.write(updates))
        cursor = page.cursor
    assert written == 500
    minimum = _minimum_calls(h, 500)
    backfill = {k: sum(v.values()) for k, v in snap(h).items()}
    assert backfill == minimum  # exactly the minimum the API allows
    assert sum(backfill.values()) <= 1.05 * sum(minimum.values())
    # the first incremental re-reads what the write-back changed (200 per search call), then nothing
    h.sandbox.counters.reset()
    first = list(adapter.read_contacts(cursor))
    assert len(ids_of(first)) == 500 and snap(h) == {"hubspot.contacts.search": {200: 3}}
    h.sandbox.counters.reset()
    unchanged = list(adapter.read_contacts(first[-1].cursor))
    list(adapter.read_activity_changes(first[-1].cursor))
    # nothing new: one contacts search; the activity changes need no call (the rollups are contact fields)
    assert ids_of(unchanged) == [] and snap(h) == {"hubspot.contacts.search": {200: 1}}
    usage = adapter.usage()
    assert usage.quota_limit == 250_000 and usage.quota_left is not None
    assert Counter(usage.calls_by_endpoint)["contacts.search"] == 4


def test_harness_contract_members(h: HubSpotHarness) -> None:
    ids = h.load(Dataset(people=[person(0)]))
    cid = ids["p000000"]
    h.touch(cid, lifecycle_stage="opportunity")
    assert h.crm_value(cid, "lifecycle_stage") == "opportunity" and h.crm_value(cid, "lifecyclestage") == "opportunity"
    assert h.add_activity(cid, "email_open")
    assert h.expected_calls("backfill", contacts=250, page_size=100) == {"hubspot.contacts.list": 3}
    assert isinstance(h.adapter(), HubSpotAdapter)
    assert datetime.now(UTC) > NOW
