"""SalesforceAdapter against the sandbox over TLS: reads, cursors, writes, quota, sessions, call counts."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import CRMAdapter
from connectors.errors import AuthError, ConfigurationError, FatalApiError, QuotaExhausted
from connectors.records import ActivityType, FieldSpec, FieldUpdate, WriteStatus
from connectors.salesforce import SalesforceAdapter
from connectors.sandbox import Sandbox
from connectors.sandbox.salesforce import QUEUE_ID, SANDBOX_CREDENTIALS, SalesforceApi
from tests.connectors.samples_salesforce import people_dataset
from tests.harnesses import SalesforceHarness, calls_since, make_harness, salesforce_config

SCORE = "Leadsync_Score__c"


@pytest.fixture
def harness(sandbox: Sandbox) -> SalesforceHarness:
    return make_harness("salesforce", sandbox)


def all_contacts(pages: list[Any]) -> list[Any]:
    return [c for page in pages for c in page.contacts]


def test_adapter_satisfies_the_protocol(harness: SalesforceHarness) -> None:
    assert isinstance(harness.adapter(), CRMAdapter)


def test_backfill_reads_every_lead_once_in_2000_batches(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    ids = harness.load(people_dataset(4500, converted_every=10, same_stamp_every=9))
    adapter = harness.adapter()
    before = sandbox.counters.snapshot()
    pages = list(adapter.read_contacts(None))
    assert calls_since(sandbox, before) == {"salesforce.composite_read": 2, "salesforce.query_more": 2}
    assert harness.expected_calls("backfill", contacts=4500, page_size=2000) == calls_since(sandbox, before)
    contacts = all_contacts(pages)
    assert [len(p.contacts) for p in pages] == [2000, 2000, 500] and [p.done for p in pages] == [False, False, True]
    assert sorted(c.id for c in contacts) == sorted(ids.values())
    assert sum(c.protected for c in contacts) == 450
    first = contacts[0]
    assert first.object_type == "lead" and first.fields["email"] == "person0@example.com"
    assert first.fields["employees"] == 1000 and first.fields["owner_id"].startswith("005")
    assert first.fields["created_at"] == "2024-12-07T09:00:00+00:00" and SCORE in first.fields
    assert first.updated_at.tzinfo is not None
    stamps = [json.loads(p.cursor)["streams"]["Lead"]["ts"] for p in pages]
    assert stamps == sorted(stamps)  # the cursor only moves forward


def test_small_page_size_uses_limit_and_keyset(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    harness.load(people_dataset(120, same_stamp_every=7))
    adapter = harness.adapter(page_size=50)
    before = sandbox.counters.snapshot()
    pages = list(adapter.read_contacts(None))
    assert [len(p.contacts) for p in pages] == [50, 50, 20]
    assert len({c.id for c in all_contacts(pages)}) == 120
    assert calls_since(sandbox, before) == harness.expected_calls("backfill", contacts=120, page_size=50)


def test_incremental_overlap_and_dedupe_at_equal_stamps(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    ids = harness.load(people_dataset(300, same_stamp_every=50))
    adapter = harness.adapter()
    cursor = list(adapter.read_contacts(None))[-1].cursor
    sandbox.clock.freeze()
    harness.touch(ids["p00010"], title="CTO")
    harness.touch(ids["p00020"])
    mid = list(adapter.read_contacts(cursor))
    assert [c.id for c in all_contacts(mid)] == sorted([ids["p00010"], ids["p00020"]])
    assert all_contacts(mid)[0].fields["title"] in ("CTO", "Head of Ops")
    # more changes in the very same second: only those are new; the two above are not read again
    harness.touch(ids["p00030"])
    harness.touch(ids["p00005"])
    before = sandbox.counters.snapshot()
    late = list(adapter.read_contacts(mid[-1].cursor))
    assert sorted(c.id for c in all_contacts(late)) == sorted([ids["p00030"], ids["p00005"]])
    nothing = list(adapter.read_contacts(late[-1].cursor))
    assert all_contacts(nothing) == [] and nothing[-1].done
    assert calls_since(sandbox, before) == {"salesforce.queryAll": 2}
    sandbox.clock.thaw()
    sandbox.clock.advance(5)
    harness.touch(ids["p00010"], title="CEO")  # changed again, later: read again
    assert [c.fields["title"] for c in all_contacts(list(adapter.read_contacts(late[-1].cursor)))] == ["CEO"]


def test_activities_are_mapped_to_canonical_types(harness: SalesforceHarness) -> None:
    kinds = (
        "email_open",
        "email_click",
        "email_sent",
        "email_reply",
        "call",
        "meeting",
        "webinar_registration",
        "webinar_attended",
        "content_download",
        "form_submission",
        "page_view",
        "demo_request",
    )
    ids = harness.load(people_dataset(4, converted_every=2, activities=kinds))
    adapter = harness.adapter()
    list(adapter.read_contacts(None))  # learns which leads are converted (their activities are on the Contact)
    before = harness.sandbox.counters.snapshot()
    found = adapter.read_activities([ids["p00000"], ids["p00001"], "00QSb0000000zzzAAA"])
    assert calls_since(harness.sandbox, before) == {"salesforce.composite_read": 1}
    for key in ("p00000", "p00001"):
        assert Counter(a.type for a in found[ids[key]]) == Counter(kinds)
    assert found["00QSb0000000zzzAAA"] == []
    meeting = next(a for a in found[ids["p00001"]] if a.type == ActivityType.MEETING)
    assert meeting.source_type == "Event:Meeting" and meeting.occurred_at.tzinfo is not None
    webinar = next(a for a in found[ids["p00001"]] if a.type == ActivityType.WEBINAR_ATTENDED)
    assert webinar.attributes["campaign_type"] == "Webinar" and webinar.source_type == "CampaignMember:Webinar/Attended"


def test_activity_changes_cursor_and_unchanged_run(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    ids = harness.load(people_dataset(50, activities=("email_open", "meeting", "webinar_registration")))
    adapter = harness.adapter()
    before = sandbox.counters.snapshot()
    pages = list(adapter.read_activity_changes(None))
    assert sum(len(p.activities) for p in pages) == 150 and pages[-1].done
    assert calls_since(sandbox, before) == {"salesforce.composite_read": 1}
    sandbox.clock.advance(10)
    new = {harness.add_activity(ids["p00003"], "call"), harness.add_activity(ids["p00004"], "webinar_attended")}
    changed = list(adapter.read_activity_changes(pages[-1].cursor))
    assert {a.id for p in changed for a in p.activities} == new
    assert {a.contact_id for p in changed for a in p.activities} == {ids["p00003"], ids["p00004"]}
    again = list(adapter.read_activity_changes(changed[-1].cursor))
    assert [a for p in again for a in p.activities] == []


def test_unchanged_incremental_costs_at_most_three_calls_and_no_writes(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    harness.load(people_dataset(500, activities=("email_open", "call")))
    first = harness.adapter()
    contacts_cursor = list(first.read_contacts(None))[-1].cursor
    activity_cursor = list(first.read_activity_changes(None))[-1].cursor
    before = sandbox.counters.snapshot()
    run = SalesforceAdapter(salesforce_config(sandbox))  # a new process: logs in again
    contacts = all_contacts(list(run.read_contacts(contacts_cursor)))
    activities = [a for p in run.read_activity_changes(activity_cursor) for a in p.activities]
    assert contacts == [] and activities == []
    calls = calls_since(sandbox, before)
    assert calls == {"salesforce.oauth.token": 1, "salesforce.queryAll": 1, "salesforce.composite_read": 1}
    assert run.usage().total_calls == 3 and run.usage().quota_used is not None


def test_write_round_trip_keeps_owner_with_auto_assign_false(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    ids = harness.load(people_dataset(450, converted_every=50))
    api = harness.api
    owner = api.record(ids["p00001"])["OwnerId"]
    adapter = harness.adapter()
    updates = [
        FieldUpdate(i, {SCORE: n % 100, "Leadsync_Tier__c": "A", "Leadsync_Scored_At__c": "2025-06-02T09:30:00Z"})
        for n, i in enumerate(ids.values())
    ]
    before = sandbox.counters.snapshot()
    results = adapter.write(updates)
    assert calls_since(sandbox, before) == {"salesforce.composite": 1}  # 3 collections of <= 200 in one call
    assert harness.expected_calls("write", updates=450) == {"salesforce.composite": 1}
    assert [r.contact_id for r in results] == [u.contact_id for u in updates]
    statuses = Counter(r.status for r in results)
    assert statuses == {WriteStatus.OK: 441, WriteStatus.FAILED: 9}
    failed = next(r for r in results if r.status is WriteStatus.FAILED)
    assert failed.error_code == "CANNOT_UPDATE_CONVERTED_LEAD" and "converted" in failed.error
    assert harness.crm_value(ids["p00001"], SCORE) == 1.0
    assert harness.crm_value(ids["p00001"], "Leadsync_Scored_At__c") == "2025-06-02T09:30:00.000+0000"
    assert harness.crm_value(ids["p00001"], "OwnerId") == owner != QUEUE_ID
    assert set(api.auto_assign_log) == {"FALSE"} and len(api.auto_assign_log) == 3
    # the converted leads are now known: they are skipped without a call
    before = sandbox.counters.snapshot()
    again = adapter.write([FieldUpdate(ids["p00000"], {SCORE: 5}), FieldUpdate(ids["p00001"], {"owner_id": owner})])
    assert [r.status for r in again] == [WriteStatus.SKIPPED, WriteStatus.OK]
    assert calls_since(sandbox, before) == {"salesforce.composite.sobjects": 1}


def test_converted_leads_read_as_protected_are_skipped(harness: SalesforceHarness) -> None:
    ids = harness.load(people_dataset(10, converted_every=5))
    adapter = harness.adapter()
    protected = {c.id for c in all_contacts(list(adapter.read_contacts(None))) if c.protected}
    assert protected == {ids["p00000"], ids["p00005"]}
    before = harness.sandbox.counters.snapshot()
    results = adapter.write([FieldUpdate(i, {SCORE: 1}) for i in sorted(protected)])
    assert {r.status for r in results} == {WriteStatus.SKIPPED}
    assert harness.sandbox.counters.delta(before) == {}


def test_per_record_failures_and_unmapped_fields(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    ids = harness.load(people_dataset(4))
    sandbox.faults.configure(fail_records=[ids["p00000"]], rate_record_failure=1.0, max_faults=2)
    adapter = harness.adapter()
    results = adapter.write(
        [
            FieldUpdate(ids["p00000"], {SCORE: 1}),
            FieldUpdate(ids["p00001"], {SCORE: 2}),
            FieldUpdate(ids["p00002"], {"lifecycle_stage": "customer"}),
            FieldUpdate(ids["p00003"], {}),
            FieldUpdate("001Sb0000000001AAA", {SCORE: 3}),
        ]
    )
    assert [(r.status, r.error_code) for r in results] == [
        (WriteStatus.FAILED, "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        (WriteStatus.RETRY, "UNABLE_TO_LOCK_ROW"),
        (WriteStatus.FAILED, "UNMAPPED_FIELD"),
        (WriteStatus.SKIPPED, ""),
        (WriteStatus.FAILED, "MALFORMED_ID"),  # an Account id: Salesforce says so
    ]
    assert "field_map" in results[2].error
    with pytest.raises(FatalApiError, match="INVALID_FIELD"):
        adapter.write([FieldUpdate(ids["p00001"], {"Missing_Field__c": 1})])


def test_quota_exhausted_stops_the_run_with_pages_delivered(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    harness.load(people_dataset(5000))
    adapter = harness.adapter(page_size=500)
    # 2 Composite calls: the semi-joins and the listing's first batch; then a query-more per page of 500
    sandbox.config.limits["salesforce"] = {"daily_api_requests": 3}
    delivered = []
    with pytest.raises(QuotaExhausted) as info:
        for page in adapter.read_contacts(None):
            delivered.append(page)
    assert len(delivered) == 2 and info.value.status == 403
    assert "REQUEST_LIMIT_EXCEEDED" in str(info.value) and "cursor" in str(info.value)
    assert adapter.usage().quota_used == 3 and adapter.usage().quota_limit == 3
    sandbox.config.limits["salesforce"] = {"daily_api_requests": 15000}
    rest = all_contacts(list(adapter.read_contacts(delivered[-1].cursor)))
    assert len(all_contacts(delivered)) + len(rest) == 5000


def test_expired_session_logs_in_again_once(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    harness.load(people_dataset(10))
    adapter = harness.adapter()
    harness.api.expire_sessions()
    before = sandbox.counters.snapshot()
    assert len(all_contacts(list(adapter.read_contacts(None)))) == 10
    assert sandbox.counters.delta(before) == {  # a refused Composite call is counted under its plain name
        "salesforce.oauth.token": {200: 1},
        "salesforce.composite": {401: 1},
        "salesforce.composite_read": {200: 2},
    }
    assert adapter.logins == 2


def test_session_id_mode_cannot_log_in_again(sandbox: Sandbox) -> None:
    config = salesforce_config(
        sandbox, auth="session", session_id=SANDBOX_CREDENTIALS["session_id"], instance_url=sandbox.salesforce_url
    )
    adapter = SalesforceAdapter(config)
    assert adapter.read_owners()[0].name == "Integration User"
    sandbox.apis["salesforce"].expire_sessions()  # type: ignore[attr-defined]
    with pytest.raises(AuthError, match="session id has expired"):
        adapter.read_owners()


def test_jwt_and_client_credentials_modes(sandbox: Sandbox, tmp_path: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "server.key"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    api = sandbox.apis["salesforce"]
    assert isinstance(api, SalesforceApi)
    api.register_jwt_key("jwt.app", public)
    jwt_adapter = SalesforceAdapter(
        salesforce_config(
            sandbox, password=None, consumer_secret=None, consumer_key="jwt.app", private_key_file=str(pem)
        )
    )
    assert jwt_adapter.mode == "jwt" and len(jwt_adapter.read_owners()) == 1
    cc = SalesforceAdapter(salesforce_config(sandbox, auth="client_credentials"))
    assert cc.read_owners()[0].id == api.org.integration_user_id
    with pytest.raises(AuthError, match="refused the login"):
        SalesforceAdapter(salesforce_config(sandbox, password="wrong")).read_owners()
    with pytest.raises(ConfigurationError):
        SalesforceAdapter(salesforce_config(sandbox, objects=("Account",)))


def test_outcomes_and_owners(harness: SalesforceHarness) -> None:
    dataset = people_dataset(6, converted_every=3)
    dataset.outcomes.append(type(dataset.outcomes[0])("p00001", False, dataset.people[0].updated_at, 10.0, "Lost"))
    ids = harness.load(dataset)
    adapter = harness.adapter()
    before = harness.sandbox.counters.snapshot()
    outcomes = sorted(adapter.read_outcomes(), key=lambda o: o.contact_id)
    assert calls_since(harness.sandbox, before) == {"salesforce.composite_read": 1}
    won = {o.contact_id for o in outcomes if o.won}
    assert won == {ids["p00000"], ids["p00003"]}
    lost = [o for o in outcomes if not o.won]
    assert [o.contact_id for o in lost] == [ids["p00001"]] and lost[0].source_id.startswith("LeadStatus:")
    assert all(o.closed_at is not None and o.amount for o in outcomes if o.won)
    contacts_view = harness.adapter(objects=("Contact",))
    assert {o.won for o in contacts_view.read_outcomes()} == {True}
    owners = adapter.read_owners()
    assert {o.name for o in owners} == {"Ada Owner", "Integration User"}  # Bo Gone is inactive
    assert next(o for o in owners if o.name == "Ada Owner").teams == ("Inbound",)


def test_check_fields_reports_what_to_create(harness: SalesforceHarness) -> None:
    adapter = harness.adapter(objects=("Lead", "Contact"))
    specs = [
        *harness.writeback_specs,
        FieldSpec("leadsync_band", "Leadsync Band", "enumeration", options=("hot", "cold")),
    ]
    before = harness.sandbox.counters.snapshot()
    check = adapter.check_fields(specs)
    assert calls_since(harness.sandbox, before) == {"salesforce.composite_read": 1}
    assert check.present == tuple(s.name for s in harness.writeback_specs)
    assert check.missing == ("leadsync_band",) and check.created == ()
    assert check.field_keys["leadsync_band"] == "leadsync_band__c"
    assert "Lead: field label 'Leadsync Band', API name leadsync_band__c, type Picklist (values: hot, cold)" in (
        check.instructions
    )


def test_check_fields_creates_the_missing_fields_and_grants_them(harness: SalesforceHarness) -> None:
    adapter = harness.adapter(objects=("Lead", "Contact"))
    band = FieldSpec("leadsync_band", "Leadsync Band", "enumeration", options=("hot", "cold"))
    before = harness.sandbox.counters.snapshot()
    check = adapter.check_fields([*harness.writeback_specs, band], create=True)
    assert check.created == ("leadsync_band",) and check.missing == () and check.instructions == ""
    # describe before and after; a field per object; the permission set, two grants and the assignment
    assert calls_since(harness.sandbox, before) == {
        "salesforce.composite_read": 2,
        "salesforce.tooling.customfield.create": 2,
        "salesforce.query": 3,
        "salesforce.sobject.create": 4,
    }
    created = harness.api.ctx.schemas.objects["Lead"].get("leadsync_band__c")
    assert created is not None and created.fls and created.picklist == ("hot", "cold")
    lead = sorted(harness.load(people_dataset(2)).values())[0]
    result = adapter.write([FieldUpdate(lead, {"leadsync_band": "hot"})])
    assert [r.status for r in result] == [WriteStatus.OK] and harness.crm_value(lead, "leadsync_band__c") == "hot"

    again = harness.adapter(objects=("Lead", "Contact")).check_fields([band], create=True)
    assert again.present == ("leadsync_band",) and again.created == ()


def test_contacts_object_reads_account_fields(harness: SalesforceHarness) -> None:
    harness.load(people_dataset(6, converted_every=2))
    adapter = harness.adapter(objects=("Lead", "Contact"))
    pages = list(adapter.read_contacts(None))
    contacts = [c for c in all_contacts(pages) if c.object_type == "contact"]
    assert len(contacts) == 3 and all(c.fields["company"] for c in contacts) and not any(c.protected for c in contacts)
    state = json.loads(pages[-1].cursor)["streams"]
    assert set(state) == {"Lead", "Contact"} and pages[-1].done
    found = adapter.get_contacts([contacts[0].id, pages[0].contacts[1].id, "003Sb000000zzzzAAA"])
    assert [c.id for c in found] == [contacts[0].id, pages[0].contacts[1].id]


def test_benchmark_shape_1000_leads_10_activities_each(harness: SalesforceHarness, capsys: Any) -> None:
    """Call counts for the benchmark scenario (printed; the exact figures are asserted)."""
    sandbox = harness.sandbox
    kinds = ("email_open", "email_click", "email_sent", "call", "meeting", "page_view", "page_view",
             "webinar_registration", "content_download", "form_submission")  # fmt: skip
    ids = harness.load(people_dataset(1000, activities=kinds))
    adapter = harness.adapter()
    before = sandbox.counters.snapshot()
    pages = list(adapter.read_contacts(None))
    activities = adapter.read_activities([c.id for c in all_contacts(pages)])
    read_calls = calls_since(sandbox, before)
    assert sum(len(v) for v in activities.values()) == 10_000
    before = sandbox.counters.snapshot()
    results = adapter.write([FieldUpdate(i, {SCORE: 50}) for i in ids.values()])
    write_calls = calls_since(sandbox, before)
    assert all(r.ok for r in results)
    # one semi-join per activity object (and three on converted leads' Contacts: none here), the listing's first
    # batch, then the activities' later batches from their locators: 10 subrequests, 5 per Composite call
    assert read_calls == {"salesforce.composite_read": 2}
    assert write_calls == {"salesforce.composite": 1}
    with capsys.disabled():
        print(f"\n1,000 leads x 10 activities: read {read_calls}, write {write_calls}")


def test_incremental_read_reports_merged_and_deleted_leads(harness: SalesforceHarness, sandbox: Sandbox) -> None:
    ids = harness.load(people_dataset(30))
    adapter = harness.adapter()
    cursor = list(adapter.read_contacts(None))[-1].cursor
    sandbox.clock.advance(5)
    survivor, merged, deleted = ids["p00003"], ids["p00017"], ids["p00025"]
    harness.api.merge(survivor, merged)
    harness.api.delete(deleted)
    before = sandbox.counters.snapshot()

    pages = list(adapter.read_contacts(cursor))
    contacts = all_contacts(pages)

    assert calls_since(sandbox, before) == {"salesforce.queryAll": 1}, "the changes and the removals: one call"
    assert [(c.id, c.merged_from) for c in contacts] == [(survivor, (merged,))]
    assert [i for page in pages for i in page.deleted_ids] == [deleted], "a merged lead is not also a deletion"
    later = list(adapter.read_contacts(pages[-1].cursor))
    assert all_contacts(later) == [] and [i for p in later for i in p.deleted_ids] == [], "reported once"


def test_query_all_reads_every_later_batch_at_once_from_the_locator_offsets(harness: SalesforceHarness) -> None:
    sandbox = harness.sandbox
    harness.load(people_dataset(4500, converted_every=10, same_stamp_every=9))
    client = harness.adapter().client
    soqls = [
        "SELECT Id FROM Lead ORDER BY SystemModstamp, Id",  # 3 batches: 2000, 2000, 500
        "SELECT Id FROM Lead WHERE IsConverted = true ORDER BY Id",  # 1 batch
        "SELECT Id FROM Lead ORDER BY Id",  # 3 batches
    ]
    expected = [[r["Id"] for r in client.query(soql)["records"]] for soql in soqls[1:2]]
    before = sandbox.counters.snapshot()

    found = client.query_all(soqls)

    # the three first batches in one call, then the four later ones (known from -2000 and totalSize) in another
    assert calls_since(sandbox, before) == {"salesforce.composite_read": 2}
    assert [len(records) for records in found] == [4500, 450, 4500]
    assert [r["Id"] for r in found[1]] == expected[0]
    for records in (found[0], found[2]):
        assert len({r["Id"] for r in records}) == 4500, "every record once"
    assert [r["Id"] for r in found[2]] == sorted(r["Id"] for r in found[2]), "each query's own order"
