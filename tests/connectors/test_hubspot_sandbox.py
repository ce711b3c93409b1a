"""The HubSpot sandbox, driven by the official ``hubspot-api-client`` over real HTTP.

Every test asserts the exact requests the sandbox counted.  Bodies are checked against HubSpot's
documented shapes: the client must deserialize every answer into its generated models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import hubspot
import pytest
from urllib3.util.retry import Retry

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS, HubSpotApi, to_ms
from tests.connectors.samples_hubspot import dataset, person
from tests.harnesses import NOW, api_of

TOKEN = SANDBOX_CREDENTIALS["private_app_token"]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(crms=("hubspot",))) as sandbox:
        yield sandbox


def client(sandbox: Sandbox, token: str = TOKEN) -> Any:
    # no retries in the official client: every request the test makes is exactly one request counted
    return hubspot.Client.create(access_token=token, host=sandbox.hubspot_url, retry=Retry(0, raise_on_status=False))


def error_of(call: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    with pytest.raises(Exception) as info:
        call()
    exc = info.value
    assert hasattr(exc, "status"), exc
    return exc.status, json.loads(exc.body), dict(exc.headers)


def snap(sandbox: Sandbox) -> dict[str, dict[int, int]]:
    return sandbox.counters.snapshot()


# -- contacts: list, get, batch read ---------------------------------------------------------------------------
def test_list_pages_every_contact_exactly_once_and_limits_are_enforced(sb: Sandbox) -> None:
    ids = api_of(sb, HubSpotApi).load(dataset(250, activities=False))
    c = client(sb)
    seen: list[str] = []
    after = None
    while True:
        page = c.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email", "lifecyclestage"])
        seen += [r.id for r in page.results]
        assert set(page.results[0].properties) == {"email", "lifecyclestage"}
        if not page.paging:
            break
        assert page.paging.next.link.endswith(f"after={page.paging.next.after}")
        after = page.paging.next.after
    assert sorted(seen) == sorted(ids.values()) and len(seen) == 250
    status, body, _ = error_of(lambda: c.crm.contacts.basic_api.get_page(limit=101))
    assert status == 400 and body["category"] == "VALIDATION_ERROR" and body["correlationId"]
    default = c.crm.contacts.basic_api.get_page(limit=1)
    assert set(default.results[0].properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert snap(sb) == {"hubspot.contacts.list": {200: 4, 400: 1}}


def test_get_by_id_by_email_and_not_found(sb: Sandbox) -> None:
    ids = api_of(sb, HubSpotApi).load(dataset(3, activities=False))
    c = client(sb)
    one = c.crm.contacts.basic_api.get_by_id(ids["p000001"], properties=["numemployees", "jobtitle", "phone"])
    assert one.properties == {"numemployees": "100-500", "jobtitle": "Engineer", "phone": None}
    assert one.updated_at == NOW - timedelta(days=30, seconds=1)  # lastmodifieddate as loaded
    by_email = c.crm.contacts.basic_api.get_by_id("PERSON2@example2.com", id_property="email")
    assert by_email.id == ids["p000002"]
    status, body, _ = error_of(lambda: c.crm.contacts.basic_api.get_by_id("999999"))
    assert status == 404 and body["category"] == "OBJECT_NOT_FOUND"
    assert snap(sb) == {"hubspot.contacts.get": {200: 2, 404: 1}}


def test_batch_read_limits_missing_ids_and_id_property(sb: Sandbox) -> None:
    ids = api_of(sb, HubSpotApi).load(dataset(5, activities=False))
    c = client(sb)
    batch = c.crm.contacts.batch_api
    ok = batch.read(
        {
            "inputs": [{"id": ids["p000000"]}, {"id": ids["p000003"]}],
            "properties": ["email"],
            "propertiesWithHistory": [],
        }
    )
    assert type(ok).__name__ == "BatchResponseSimplePublicObject" and len(ok.results) == 2
    partial = batch.read(
        {"inputs": [{"id": ids["p000000"]}, {"id": "424242"}], "properties": [], "propertiesWithHistory": []}
    )
    assert type(partial).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert [r.id for r in partial.results] == [ids["p000000"]]
    assert partial.errors[0].category == "OBJECT_NOT_FOUND" and partial.errors[0].context == {"ids": ["424242"]}
    by_email = batch.read(
        {
            "inputs": [{"id": "person4@example4.com"}],
            "idProperty": "email",
            "properties": [],
            "propertiesWithHistory": [],
        }
    )
    assert by_email.results[0].id == ids["p000004"]
    status, body, _ = error_of(
        lambda: batch.read(
            {"inputs": [{"id": str(i)} for i in range(101)], "properties": [], "propertiesWithHistory": []}
        )
    )
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    assert snap(sb) == {"hubspot.contacts.batch_read": {200: 2, 207: 1, 400: 1}}


def test_merged_contact_resolves_to_the_surviving_record(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(dataset(3, activities=False))
    survivor = api.merge(ids["p000000"], ids["p000001"])
    c = client(sb)
    got = c.crm.contacts.basic_api.get_by_id(ids["p000001"], properties=["hs_merged_object_ids"])
    assert got.id == survivor == ids["p000000"]
    assert got.properties["hs_merged_object_ids"] == ids["p000001"]
    read = c.crm.contacts.batch_api.read(
        {"inputs": [{"id": ids["p000001"]}], "properties": [], "propertiesWithHistory": []}
    )
    assert [r.id for r in read.results] == [survivor]
    listed = c.crm.contacts.basic_api.get_page(limit=10)
    assert sorted(r.id for r in listed.results) == sorted([ids["p000000"], ids["p000002"]])
    assert snap(sb) == {
        "hubspot.contacts.get": {200: 1},
        "hubspot.contacts.batch_read": {200: 1},
        "hubspot.contacts.list": {200: 1},
    }


# -- search ----------------------------------------------------------------------------------------------------
def _search(c: Any, filters: list[dict[str, Any]], **extra: Any) -> Any:
    body = {"filterGroups": [{"filters": filters}] if filters else [], "limit": 200, **extra}
    return c.crm.contacts.search_api.do_search(body)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"propertyName": "industry", "operator": "EQ", "value": "software"}, {0, 3, 6, 9}),  # case-insensitive
        ({"propertyName": "industry", "operator": "NEQ", "value": "Software"}, {1, 2, 4, 5, 7, 8, 10, 11}),
        ({"propertyName": "hs_analytics_num_page_views", "operator": "GT", "value": "6"}, {7, 8}),
        ({"propertyName": "hs_analytics_num_page_views", "operator": "GTE", "value": "6"}, {6, 7, 8}),
        ({"propertyName": "hs_analytics_num_page_views", "operator": "LT", "value": "2"}, {0, 1, 9, 10}),
        ({"propertyName": "hs_analytics_num_page_views", "operator": "LTE", "value": "1"}, {0, 1, 9, 10}),
        ({"propertyName": "country", "operator": "IN", "values": ["DE", "IN"]}, {1, 2, 4, 5, 7, 8, 10, 11}),
        ({"propertyName": "jobtitle", "operator": "HAS_PROPERTY"}, {0, 1, 2, 4, 5, 6, 8, 9, 10}),
        ({"propertyName": "jobtitle", "operator": "NOT_HAS_PROPERTY"}, {3, 7, 11}),
        (
            {"propertyName": "hs_analytics_num_page_views", "operator": "BETWEEN", "value": "2", "highValue": "3"},
            {2, 3, 11},
        ),
        ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "example3"}, {3, 10}),
        ({"propertyName": "hs_object_id", "operator": "NOT_IN", "values": ["100001", "100002"]}, set(range(2, 12))),
    ],
)
def test_search_filter_operators(sb: Sandbox, flt: dict[str, Any], expected: set[int]) -> None:
    ids = api_of(sb, HubSpotApi).load(dataset(12, activities=False))
    index = {v: int(k[1:]) for k, v in ids.items()}
    result = _search(client(sb), [flt])
    assert {index[r.id] for r in result.results} == expected and result.total == len(expected)
    assert snap(sb) == {"hubspot.contacts.search": {200: 1}}


def test_search_dates_accept_epoch_ms_and_iso_and_sort(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(dataset(6, activities=False))
    cut = NOW - timedelta(days=30, seconds=3)  # people 0..3 were modified at or after the cut
    c = client(sb)
    by_ms = _search(
        c,
        [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(to_ms(cut))}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
    )
    by_iso = _search(
        c,
        [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": cut.isoformat()}],
        sorts=["-lastmodifieddate"],
    )
    expected = [ids[f"p{i:06d}"] for i in (3, 2, 1, 0)]
    assert [r.id for r in by_ms.results] == expected
    assert [r.id for r in by_iso.results] == expected[::-1]
    assert snap(sb) == {"hubspot.contacts.search": {200: 2}}


def test_search_validation_errors(sb: Sandbox) -> None:
    api_of(sb, HubSpotApi).load(dataset(2, activities=False))
    c = client(sb)
    too_many_groups = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6}
    for body in (
        {"limit": 201},
        too_many_groups,
        {"properties": ["x" * 40] * 80},  # over the 3,000-character body limit
        {"after": "10000"},
    ):
        status, err, _ = error_of(lambda body=body: c.crm.contacts.search_api.do_search(body))
        assert status == 400 and err["category"] == "VALIDATION_ERROR" and err["message"]
    assert snap(sb) == {"hubspot.contacts.search": {400: 4}}


def test_search_stops_at_10000_results_and_requerying_reads_everything_once() -> None:
    with Sandbox(SandboxConfig(crms=("hubspot",), rate_limits=False)) as sandbox:
        n = 10_500
        people = [person(i, updated_at=NOW - timedelta(seconds=n - i // 3)) for i in range(n)]  # ties by 3
        api_of(sandbox, HubSpotApi).load(Dataset(people=people))
        c = client(sandbox)
        sort = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
        seen: list[str] = []
        after: str | None = "0"
        first = _search(c, [], sorts=sort, after=after)
        assert first.total == n
        page = first
        while True:
            seen += [r.id for r in page.results]
            after = page.paging.next.after if page.paging else None
            if after is None or int(after) >= 10_000:
                break
            page = _search(c, [], sorts=sort, after=after)
        assert len(seen) == 10_000 and after == "10000"
        status, body, _ = error_of(lambda: _search(c, [], sorts=sort, after="10000"))
        assert status == 400 and "10000" in body["message"]
        # re-query from the last timestamp seen; equal timestamps come back and are de-duplicated by id
        last = page.results[-1].properties["lastmodifieddate"]
        page = _search(c, [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": last}], sorts=sort)
        while True:
            seen += [r.id for r in page.results if r.id not in set(seen[-200:])]
            if not page.paging:
                break
            page = _search(
                c,
                [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": last}],
                sorts=sort,
                after=page.paging.next.after,
            )
        assert len(seen) == len(set(seen)) == n
        assert sandbox.counters.snapshot() == {"hubspot.contacts.search": {200: 53, 400: 1}}


# -- batch update ----------------------------------------------------------------------------------------------
def test_batch_update_200_207_and_validation(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(dataset(4, activities=False))
    c = client(sb)
    batch = c.crm.contacts.batch_api
    ok = batch.update(
        {"inputs": [{"id": ids["p000000"], "properties": {"jobtitle": "CTO"}, "objectWriteTraceId": "a"}]}
    )
    assert type(ok).__name__ == "BatchResponseSimplePublicObject" and ok.status == "COMPLETE"
    assert ok.results[0].properties["jobtitle"] == "CTO" and ok.results[0].object_write_trace_id == "a"
    sb.faults.configure(fail_records=[ids["p000001"]])
    mixed = batch.update(
        {
            "inputs": [
                {"id": ids["p000001"], "properties": {"jobtitle": "x"}, "objectWriteTraceId": "1"},
                {"id": ids["p000002"], "properties": {"jobtitle": "y"}, "objectWriteTraceId": "2"},
                {"id": "777", "properties": {"jobtitle": "z"}, "objectWriteTraceId": "3"},
            ]
        }
    )
    assert type(mixed).__name__ == "BatchResponseSimplePublicObjectWithErrors" and mixed.num_errors == 2
    assert [r.id for r in mixed.results] == [ids["p000002"]]
    errors = {e.context["objectWriteTraceId"][0]: e for e in mixed.errors}
    assert errors["1"].category == "VALIDATION_ERROR" and errors["1"].context["ids"] == [ids["p000001"]]
    assert errors["3"].category == "OBJECT_NOT_FOUND"
    assert api.record(ids["p000001"])["properties"]["jobtitle"] == "Engineer"  # the failed record is untouched
    for props, code in (
        ({"nope": "1"}, "PROPERTY_DOESNT_EXIST"),
        ({"lastmodifieddate": "1"}, "READ_ONLY_VALUE"),
        ({"hs_lead_status": "BOGUS"}, "INVALID_OPTION"),
    ):
        status, body, _ = error_of(
            lambda props=props: batch.update({"inputs": [{"id": ids["p000003"], "properties": props}]})
        )
        assert status == 400 and body["category"] == "VALIDATION_ERROR" and body["errors"][0]["code"] == code
    status, body, _ = error_of(lambda: batch.update({"inputs": [{"id": ids["p000003"], "properties": {}}] * 2}))
    assert status == 400 and "Duplicate" in body["message"]
    status, _, _ = error_of(lambda: batch.update({"inputs": [{"id": str(i), "properties": {}} for i in range(101)]}))
    assert status == 400
    assert snap(sb) == {"hubspot.contacts.batch_update": {200: 1, 207: 1, 400: 5}}


def test_lifecycle_stage_only_moves_forward_unless_cleared(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(dataset(3, activities=False))
    customer = ids["p000002"]  # loaded as customer
    batch = client(sb).crm.contacts.batch_api

    def set_stage(value: str) -> Any:
        return batch.update({"inputs": [{"id": customer, "properties": {"lifecyclestage": value}}]})

    refused = set_stage("lead")
    assert refused.num_errors == 1 and "backward" in refused.errors[0].message
    assert refused.errors[0].errors[0].context == {"propertyName": ["lifecyclestage"]}
    assert api.record(customer)["properties"]["lifecyclestage"] == "customer"
    assert set_stage("").results[0].properties["lifecyclestage"] is None
    assert set_stage("lead").results[0].properties["lifecyclestage"] == "lead"
    assert set_stage("evangelist").results[0].properties["lifecyclestage"] == "evangelist"  # forward is fine
    api.set_lifecycle_stages(["new", "warm", "hot"])  # custom stages: order from the property's options
    set_stage("")
    assert not getattr(set_stage("hot"), "num_errors", 0) and set_stage("warm").num_errors == 1
    assert snap(sb) == {"hubspot.contacts.batch_update": {200: 5, 207: 2}}


def test_unchanged_values_do_not_bump_lastmodifieddate(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(dataset(1, activities=False))
    cid = ids["p000000"]
    before = api.record(cid)["properties"]["lastmodifieddate"]
    batch = client(sb).crm.contacts.batch_api
    batch.update({"inputs": [{"id": cid, "properties": {"jobtitle": "CEO"}}]})  # already CEO
    assert api.record(cid)["properties"]["lastmodifieddate"] == before
    batch.update({"inputs": [{"id": cid, "properties": {"jobtitle": "CFO"}}]})
    assert api.record(cid)["properties"]["lastmodifieddate"] > before
    assert snap(sb) == {"hubspot.contacts.batch_update": {200: 2}}


# -- engagements, associations, deals ---------------------------------------------------------------------------
def test_engagements_associations_and_activity_bumps(sb: Sandbox) -> None:
    api = api_of(sb, HubSpotApi)
    ids = api.load(dataset(4))
    c = client(sb)
    v4 = c.crm.associations.v4.batch_api
    # p1's only activity is a marketing-email click: an email event, not a CRM email; p2 replied to a sales email
    emails = v4.get_page("contacts", "emails", {"inputs": [{"id": ids["p000002"]}, {"id": ids["p000001"]}]})
    assert type(emails).__name__ == "BatchResponsePublicAssociationMultiWithLabelWithErrors"  # p1 has none
    assert emails.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert emails.results[0]._from.id == ids["p000002"]
    assert emails.results[0].to[0].association_types[0].type_id == 197
    email_id = emails.results[0].to[0].to_object_id
    read = c.crm.objects.batch_api.read(
        "emails",
        {
            "inputs": [{"id": email_id}],
            "properties": ["hs_email_direction", "hs_email_open_count", "hs_timestamp"],
            "propertiesWithHistory": [],
        },
    )
    assert read.results[0].properties["hs_email_direction"] == "INCOMING_EMAIL"
    listed = c.crm.objects.basic_api.get_page("notes", limit=100, properties=["hs_note_body"])
    assert listed.results == []  # demo requests and page views are form submissions and web events, not notes

    before = api.record(ids["p000000"])["properties"]
    sb.clock.advance(60)
    note = c.crm.objects.basic_api.create(
        "notes",
        {
            "properties": {"hs_note_body": "Demo request: from the API", "hs_timestamp": NOW.isoformat()},
            "associations": [
                {
                    "to": {"id": ids["p000000"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
                }
            ],
        },
    )
    after = api.record(ids["p000000"])["properties"]
    assert after["lastmodifieddate"] > before["lastmodifieddate"] and after["notes_last_updated"]
    notes = v4.get_page("contacts", "notes", {"inputs": [{"id": ids["p000000"]}]})
    assert [t.to_object_id for t in notes.results[0].to] == [note.id]
    status, _, _ = error_of(lambda: v4.get_page("contacts", "calls", {"inputs": [{"id": str(i)} for i in range(1001)]}))
    assert status == 400
    assert snap(sb) == {
        "hubspot.associations.batch_read": {207: 1, 200: 1, 400: 1},
        "hubspot.emails.batch_read": {200: 1},
        "hubspot.notes.list": {200: 1},
        "hubspot.notes.create": {201: 1},
    }


def test_deals_carry_outcomes_and_contact_associations(sb: Sandbox) -> None:
    ids = api_of(sb, HubSpotApi).load(dataset(3, activities=False))
    deals = client(sb).crm.objects.basic_api.get_page(
        "deals", limit=100, properties=["dealstage", "closedate", "amount"], associations=["contacts"]
    )
    got = {d.properties["dealstage"]: d for d in deals.results}
    assert set(got) == {"closedwon", "closedlost"}
    assert got["closedwon"].associations["contacts"].results[0].id == ids["p000000"]
    assert got["closedwon"].properties["amount"] == "1200.0"
    assert snap(sb) == {"hubspot.deals.list": {200: 1}}


# -- properties and owners ---------------------------------------------------------------------------------------
def test_properties_list_get_create_and_409(sb: Sandbox) -> None:
    c = client(sb)
    core, groups = c.crm.properties.core_api, c.crm.properties.groups_api
    names = {p.name for p in core.get_all("contacts").results}
    assert {"lifecyclestage", "hs_analytics_num_page_views", "hubspot_owner_id"} <= names
    stage = core.get_by_name("contacts", "lifecyclestage")
    assert [o.value for o in stage.options][:3] == ["subscriber", "lead", "marketingqualifiedlead"]
    groups.create("contacts", {"name": "leadsync", "label": "leadsync"})
    spec = {
        "name": "leadsync_score",
        "label": "Score",
        "type": "number",
        "fieldType": "number",
        "groupName": "leadsync",
    }
    created = core.create("contacts", spec)
    assert created.name == "leadsync_score" and created.group_name == "leadsync"
    status, body, _ = error_of(lambda: core.create("contacts", spec))
    assert status == 409 and body["category"] == "OBJECT_ALREADY_EXISTS" and "leadsync_score" in body["message"]
    status, _, _ = error_of(lambda: groups.create("contacts", {"name": "leadsync", "label": "leadsync"}))
    assert status == 409
    status, body, _ = error_of(lambda: core.create("contacts", {**spec, "name": "x_y", "groupName": "nope"}))
    assert status == 400
    status, body, _ = error_of(lambda: core.get_by_name("contacts", "missing_one"))
    assert status == 404 and body["category"] == "OBJECT_NOT_FOUND"
    assert snap(sb) == {
        "hubspot.properties.list": {200: 1},
        "hubspot.properties.get": {200: 1, 404: 1},
        "hubspot.property_groups.create": {201: 1, 409: 1},
        "hubspot.properties.create": {201: 1, 409: 1, 400: 1},
    }


def test_owners_are_paged_and_archived_listed_apart(sb: Sandbox) -> None:
    api_of(sb, HubSpotApi).load(dataset(1, activities=False))
    owners = client(sb).crm.owners.owners_api
    first = owners.get_page(limit=1)
    second = owners.get_page(limit=1, after=first.paging.next.after)
    assert [first.results[0].email, second.results[0].email] == ["ada@leadsync-demo.com", "bob@leadsync-demo.com"]
    assert second.paging is None and first.results[0].teams[0].name == "Inbound"
    archived = owners.get_page(archived=True)
    assert [o.email for o in archived.results] == ["cy@leadsync-demo.com"] and archived.results[0].archived
    assert snap(sb) == {"hubspot.owners.list": {200: 3}}


# -- auth ------------------------------------------------------------------------------------------------------
def test_bad_token_401_and_missing_scope_403(sb: Sandbox) -> None:
    status, body, headers = error_of(lambda: client(sb, "pat-na1-wrong").crm.contacts.basic_api.get_page())
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error"
    assert "X-HubSpot-RateLimit-Max" not in headers
    api_of(sb, HubSpotApi).scopes.discard("crm.objects.owners.read")
    status, body, _ = error_of(lambda: client(sb).crm.owners.owners_api.get_page())
    assert status == 403 and body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.owners.read"]
    assert snap(sb) == {"hubspot.contacts.list": {401: 1}, "hubspot.owners.list": {403: 1}}


def test_oauth_refresh_grant_expiry_and_bad_refresh_token(sb: Sandbox) -> None:
    c = client(sb, "")
    tokens = c.oauth.tokens_api
    creds = SANDBOX_CREDENTIALS
    token = tokens.create(
        grant_type="refresh_token",
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        refresh_token=creds["refresh_token"],
    )
    assert token.expires_in == 1800 and token.token_type == "bearer"
    oauth = client(sb, token.access_token)
    _, _, headers = oauth.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert headers["X-HubSpot-RateLimit-Max"] == "110" and "X-HubSpot-RateLimit-Daily" not in headers
    sb.clock.advance(1801)
    status, body, _ = error_of(lambda: oauth.crm.contacts.basic_api.get_page(limit=1))
    assert status == 401 and body["category"] == "EXPIRED_AUTHENTICATION"
    status, body, _ = error_of(
        lambda: tokens.create(
            grant_type="refresh_token",
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
            refresh_token="nope",
        )
    )
    assert status == 400 and body["status"] == "BAD_REFRESH_TOKEN"
    assert snap(sb) == {"hubspot.oauth.token": {200: 1, 400: 1}, "hubspot.contacts.list": {200: 1, 401: 1}}


# -- rate limits -------------------------------------------------------------------------------------------------
def test_burst_limit_429_with_headers_then_window_rolls() -> None:
    config = SandboxConfig(crms=("hubspot",), limits={"hubspot": {"burst_per_10s": 3, "daily": 1000}})
    with Sandbox(config) as sandbox:
        contacts = client(sandbox).crm.contacts.basic_api
        for remaining in (2, 1, 0):
            _, _, headers = contacts.get_page_with_http_info(limit=1)
            assert headers["X-HubSpot-RateLimit-Remaining"] == str(remaining)
        assert headers["X-HubSpot-RateLimit-Max"] == "3"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert (
            headers["X-HubSpot-RateLimit-Daily"] == "1000" and headers["X-HubSpot-RateLimit-Daily-Remaining"] == "997"
        )
        status, body, headers = error_of(lambda: contacts.get_page(limit=1))
        assert status == 429 and body["category"] == "RATE_LIMITS" and body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["errorType"] == "RATE_LIMIT" and headers["X-HubSpot-RateLimit-Remaining"] == "0"
        sandbox.clock.advance(10)
        contacts.get_page(limit=1)
        assert sandbox.counters.snapshot() == {"hubspot.contacts.list": {200: 4, 429: 1}}


def test_daily_limit_and_search_secondly_limit() -> None:
    config = SandboxConfig(crms=("hubspot",), limits={"hubspot": {"daily": 2}})
    with Sandbox(config) as sandbox:
        c = client(sandbox)
        c.crm.contacts.basic_api.get_page(limit=1)
        c.crm.contacts.basic_api.get_page(limit=1)
        status, body, _ = error_of(lambda: c.crm.contacts.basic_api.get_page(limit=1))
        assert status == 429 and body["policyName"] == "DAILY"
        sandbox.clock.advance(86_400)  # a new day
        for _ in range(2):
            c.crm.contacts.search_api.do_search({"limit": 1})
        assert sandbox.counters.snapshot() == {
            "hubspot.contacts.list": {200: 2, 429: 1},
            "hubspot.contacts.search": {200: 2},
        }
    with Sandbox(SandboxConfig(crms=("hubspot",))) as sandbox:
        search = client(sandbox).crm.contacts.search_api
        for _ in range(5):
            search.do_search({"limit": 1})
        status, body, _ = error_of(lambda: search.do_search({"limit": 1}))
        assert status == 429 and body["policyName"] == "SECONDLY"
        sandbox.clock.advance(1)
        search.do_search({"limit": 1})
        assert sandbox.counters.snapshot() == {"hubspot.contacts.search": {200: 6, 429: 1}}


def test_injected_faults_use_hubspot_shapes(sb: Sandbox) -> None:
    sb.faults.configure(rate_429=1.0, only={"hubspot"}, max_faults=1)
    status, body, headers = error_of(lambda: client(sb).crm.contacts.basic_api.get_page(limit=1))
    assert status == 429 and body["policyName"] == "TEN_SECONDLY_ROLLING" and "X-HubSpot-RateLimit-Max" in headers
    api_of(sb, HubSpotApi).inject_failures("hubspot.contacts.list", 503, times=1)
    status, body, _ = error_of(lambda: client(sb).crm.contacts.basic_api.get_page(limit=1))
    assert status == 503 and body["status"] == "error"
    client(sb).crm.contacts.basic_api.get_page(limit=1)
    assert snap(sb) == {"hubspot.contacts.list": {200: 1, 429: 1, 503: 1}}
