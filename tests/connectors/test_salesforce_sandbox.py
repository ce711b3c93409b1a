"""The Salesforce emulation, driven by simple-salesforce over TLS verified against the sandbox CA."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from connectors.salesforce.client import make_session
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.salesforce import QUEUE_ID, SANDBOX_CREDENTIALS, SalesforceApi, id18
from tests.connectors.samples_salesforce import PASSWORD_GRANT, people_dataset, sf_client
from tests.harnesses import api_of

CREDS = SANDBOX_CREDENTIALS


def token(sandbox: Sandbox, data: dict[str, str], headers: dict[str, str] | None = None) -> requests.Response:
    return make_session(str(sandbox.ca_path)).post(
        sandbox.salesforce_url + "/services/oauth2/token", data=data, headers=headers or {}, timeout=30
    )


def error_code(exc: Any) -> str:
    return str(exc.content[0]["errorCode"])


@pytest.fixture
def loaded(sandbox: Sandbox) -> tuple[Sandbox, dict[str, str], Salesforce]:
    ids = sandbox.load_into("salesforce", people_dataset(4500, converted_every=10, same_stamp_every=7))
    sf = sf_client(sandbox)
    sandbox.counters.reset()
    return sandbox, ids, sf


def test_query_and_next_records_url_return_every_record_once(loaded: Any) -> None:
    sandbox, ids, sf = loaded
    first = sf.query("SELECT Id, SystemModstamp, Owner.Name FROM Lead ORDER BY SystemModstamp, Id")
    assert first["totalSize"] == 4500 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g") and first["nextRecordsUrl"].endswith(
        "-2000"
    )
    record = first["records"][0]
    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{record['Id']}"}
    assert record["SystemModstamp"].endswith(".000+0000") and record["Owner"]["Name"] == "Ada Owner"
    seen = [r["Id"] for r in first["records"]]
    body = first
    while not body["done"]:
        body = sf.query_more(body["nextRecordsUrl"], identifier_is_url=True)
        seen += [r["Id"] for r in body["records"]]
    again = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)  # a retried batch is the same batch
    assert [r["Id"] for r in again["records"]] == seen[2000:4000]
    assert sorted(seen) == sorted(ids.values()) and len(set(seen)) == 4500
    stamps = [(r["SystemModstamp"], r["Id"]) for r in first["records"]]
    assert stamps == sorted(stamps)
    assert sandbox.counters.by_endpoint("salesforce.") == {"salesforce.query": 1, "salesforce.query_more": 3}
    assert sf.api_usage["api-usage"].used == 4 and sf.api_usage["api-usage"].total == 15000


@pytest.mark.parametrize(("requested", "sizes"), [("batchSize=500", [500, 500, 200]), ("batchSize=50", [200] * 6)])
def test_query_options_batch_size(sandbox: Sandbox, requested: str, sizes: list[int]) -> None:
    sandbox.load_into("salesforce", people_dataset(1200))
    sf = sf_client(sandbox)
    body = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": requested})
    got = [len(body["records"])]
    while not body["done"]:
        body = sf.query_more(body["nextRecordsUrl"], identifier_is_url=True)
        got.append(len(body["records"]))
    assert got[: len(sizes)] == sizes and sum(got) == 1200


@pytest.mark.parametrize(
    ("soql", "expected"),
    [
        ("SELECT COUNT() FROM Lead", 30),
        ("SELECT Id FROM Lead WHERE IsConverted = true", 3),
        ("SELECT Id FROM Lead WHERE IsConverted = false AND Email LIKE 'person1%'", 10),
        ("SELECT Id FROM Lead WHERE Email = 'PERSON2@example.com' OR Email = 'person3@example.com'", 2),
        ("SELECT Id FROM Lead WHERE Email IN ('person4@example.com', 'person5@example.com', 'x')", 2),
        ("SELECT Id FROM Lead WHERE Email NOT IN ('person4@example.com')", 29),
        ("SELECT Id FROM Lead WHERE ConvertedContactId != null", 3),
        ("SELECT Id FROM Lead WHERE NumberOfEmployees = null", 14),
        ("SELECT Id FROM Lead WHERE NumberOfEmployees >= 1000", 8),
        ("SELECT Id FROM Lead WHERE SystemModstamp > 2025-01-06T09:00:19Z", 10),
        ("SELECT Id FROM Lead WHERE SystemModstamp <= 2025-01-06T10:00:00.000+01:00", 1),
        ("SELECT Id FROM Lead WHERE NOT (Status = 'Closed - Converted')", 27),
        ("SELECT Id FROM Lead ORDER BY Email DESC NULLS LAST LIMIT 5", 5),
        ("SELECT Id FROM Lead ORDER BY Email LIMIT 5 OFFSET 28", 2),
        ("SELECT Id, Campaign.Name FROM CampaignMember WHERE Campaign.Type = 'Webinar'", 30),
        ("SELECT Id FROM Task WHERE TaskSubtype = 'Email' AND ActivityDate < 2025-01-06", 30),
        ("SELECT Id FROM Event WHERE WhoId != null", 30),
        ("SELECT Id, Opportunity.IsWon FROM OpportunityContactRole WHERE Opportunity.IsClosed = true", 3),
        ("SELECT Id FROM LeadStatus WHERE IsConverted = true", 1),
        ("select id from user where isactive = TRUE", 2),
    ],
)
def test_soql_subset(sandbox: Sandbox, soql: str, expected: int) -> None:
    dataset = people_dataset(30, converted_every=10, activities=("email_open", "meeting", "webinar_attended"))
    sandbox.load_into("salesforce", dataset)
    body = sf_client(sandbox).query(soql)
    assert body["totalSize"] == expected and body["done"] is True


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FRM Lead", "MALFORMED_QUERY"),
        ("SELECT Id, Nope__c FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Widget", "INVALID_TYPE"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Lead WHERE CreatedDate = TODAY", "MALFORMED_QUERY"),
    ],
)
def test_bad_soql_is_a_400_with_salesforce_error_code(sandbox: Sandbox, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client(sandbox).query(soql)
    assert info.value.status == 400 and error_code(info.value) == code


def test_collections_update_results_in_order(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = sandbox.load_into("salesforce", people_dataset(5, converted_every=5))
    converted, ok, failing = ids["p00000"], ids["p00001"], ids["p00002"]
    sandbox.faults.configure(fail_records=[failing])
    sf = sf_client(sandbox)
    lead = {"type": "Lead"}
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": lead, "id": ok, "Title": "VP Sales", "Lead_Score__c": 42},
                {"attributes": lead, "id": converted, "Title": "VP"},
                {"attributes": lead, "id": "00Qbogus", "Title": "VP"},
                {"attributes": lead, "id": failing, "Title": "VP"},
                {"attributes": lead, "id": ids["p00003"], "Name": "Nope"},
                {"attributes": lead, "id": ids["p00004"], "Title": "x" * 200},
            ],
        },
        headers={"Sforce-Auto-Assign": "FALSE"},
    )
    codes = [r["errors"][0]["statusCode"] if r["errors"] else "OK" for r in results]
    assert codes == [
        "OK",
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "MALFORMED_ID",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "STRING_TOO_LONG",
    ]
    assert results[0] == {"id": ok, "success": True, "errors": []}
    assert results[2]["errors"][0]["fields"] == ["Id"] and "id" not in results[2]
    stored = api_of(sandbox, SalesforceApi).record(ok)
    assert stored["Title"] == "VP Sales" and stored["Lead_Score__c"] == 42.0
    assert stored["SystemModstamp"] > "2025-01-06T09:00:01.000+0000"
    assert api_of(sandbox, SalesforceApi).record(converted)["Title"] == "Head of Ops"

    with pytest.raises(SalesforceMalformedRequest) as info:  # more than 200 records: the whole call fails
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={"allOrNone": False, "records": [{"attributes": lead, "id": ok, "Title": "x"}] * 201},
        )
    assert error_code(info.value) == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as info:  # an unknown field fails the whole call
        sf.restful(
            "composite/sobjects", method="PATCH", json={"records": [{"attributes": lead, "id": ok, "Nope__c": 1}]}
        )
    assert error_code(info.value) == "INVALID_FIELD"
    rolled = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": lead, "id": ok, "Title": "A"},
                {"attributes": lead, "id": converted, "Title": "B"},
            ],
        },
    )
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "CANNOT_UPDATE_CONVERTED_LEAD",
    ]
    assert api_of(sandbox, SalesforceApi).record(ok)["Title"] == "VP Sales"


@pytest.mark.parametrize(("header", "rerouted"), [(None, True), ("TRUE", True), ("FALSE", False), ("false", False)])
def test_assignment_rule_header(sandbox: Sandbox, header: str | None, rerouted: bool) -> None:
    ids = sandbox.load_into("salesforce", people_dataset(1))
    api = api_of(sandbox, SalesforceApi)
    owner = api.record(ids["p00000"])["OwnerId"]
    sf = sf_client(sandbox)
    extra = {"Sforce-Auto-Assign": header} if header else {}
    body = {"records": [{"attributes": {"type": "Lead"}, "id": ids["p00000"], "Lead_Score__c": 1}]}
    sf.restful("composite/sobjects", method="PATCH", json=body, headers=extra)
    assert api.record(ids["p00000"])["OwnerId"] == (QUEUE_ID if rerouted else owner)
    assert api.auto_assign_log == [header]


def test_describe_limits_versions_and_usage_header(sandbox: Sandbox) -> None:
    sf = sf_client(sandbox)
    lead = sf.restful("sobjects/Lead/describe")
    fields = {f["name"]: f for f in lead["fields"]}
    assert lead["keyPrefix"] == "00Q" and fields["Lead_Score__c"]["custom"] is True
    assert fields["IsConverted"]["updateable"] is False and fields["NumberOfEmployees"]["type"] == "int"
    statuses = [p["value"] for p in fields["Status"]["picklistValues"]]
    assert "Closed - Converted" in statuses and fields["Status"]["picklistValues"][0]["defaultValue"] is True
    converted = sf.query("SELECT MasterLabel FROM LeadStatus WHERE IsConverted = true")["records"]
    assert [r["MasterLabel"] for r in converted] == ["Closed - Converted"]
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - 3}
    versions = requests.get(sandbox.salesforce_url + "/services/data/", verify=str(sandbox.ca_path), timeout=30)
    assert (
        versions.status_code == 200
        and {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions.json()
    )
    assert "Sforce-Limit-Info" not in versions.headers
    response = sf.session.get(f"{sf.base_url}limits/", headers=sf.headers, timeout=30)
    assert response.headers["Sforce-Limit-Info"] == "api-usage=4/15000"  # describe, query, limits, limits


def test_daily_allocation_is_a_rolling_day(sandbox: Sandbox) -> None:
    sandbox.config.limits["salesforce"] = {"daily_api_requests": 3}
    sf = sf_client(sandbox)
    for _ in range(3):
        sf.query("SELECT Id FROM User")
    sandbox.clock.advance(3600)
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM User")
    assert info.value.status == 403
    assert info.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    sandbox.clock.advance(23 * 3600)  # the first calls leave the rolling 24 h window
    assert sf_client(sandbox).query("SELECT Id FROM User")["totalSize"] == 1  # (the old session timed out)
    assert sandbox.counters.by_endpoint("salesforce.query", status=403) == {"salesforce.query": 1}


def test_session_expiry_and_timeout(sandbox: Sandbox) -> None:
    sf = sf_client(sandbox)
    sf.query("SELECT Id FROM User")
    sandbox.clock.advance(2 * 3600 + 1)  # idle past the session timeout
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM User")
    assert info.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    static = Salesforce(
        instance_url=sandbox.salesforce_url,
        session_id=CREDS["session_id"],
        session=make_session(str(sandbox.ca_path)),
    )
    assert static.query("SELECT Id FROM User")["totalSize"] == 1
    api_of(sandbox, SalesforceApi).expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        static.query("SELECT Id FROM User")
    assert sandbox.counters.by_endpoint("salesforce.query", status=401) == {"salesforce.query": 2}


def test_password_and_client_credentials_flows(sandbox: Sandbox) -> None:
    good = dict(PASSWORD_GRANT)
    body = token(sandbox, good).json()
    assert body["instance_url"] == sandbox.salesforce_url and body["token_type"] == "Bearer"
    assert body["id"].startswith("https://login.salesforce.com/id/00D") and body["issued_at"].isdigit()
    assert set(body) >= {"access_token", "signature"}
    wrong = token(sandbox, {**good, "password": CREDS["password"]})  # security token missing
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    basic = base64.b64encode(f"{CREDS['consumer_key']}:{CREDS['consumer_secret']}".encode()).decode()
    cc = token(sandbox, {"grant_type": "client_credentials"}, {"Authorization": f"Basic {basic}"})
    assert cc.status_code == 200 and cc.json()["scope"] == "api"
    bad = token(sandbox, {"grant_type": "client_credentials", "client_id": CREDS["consumer_key"], "client_secret": "x"})
    assert bad.json()["error"] == "invalid_client"
    assert token(sandbox, {"grant_type": "refresh_token"}).json()["error"] == "unsupported_grant_type"
    assert sandbox.counters.by_endpoint("salesforce.oauth") == {"salesforce.oauth.token": 5}


def _rsa_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_jwt_bearer_flow(sandbox: Sandbox) -> None:
    private, public = _rsa_pair()
    other_private, _ = _rsa_pair()
    api_of(sandbox, SalesforceApi).register_jwt_key("jwt.app", public)
    now = int(sandbox.clock.now().timestamp())
    claims = {"iss": "jwt.app", "sub": CREDS["username"], "aud": "https://login.salesforce.com", "exp": now + 180}

    def grant(key: bytes, **changes: Any) -> requests.Response:
        assertion = jwt.encode({**claims, **changes}, key, algorithm="RS256")
        return token(sandbox, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})

    ok = grant(private)
    assert ok.status_code == 200
    sf = Salesforce(
        instance_url=ok.json()["instance_url"],
        session_id=ok.json()["access_token"],
        session=make_session(str(sandbox.ca_path)),
    )
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1
    assert grant(other_private).json()["error"] == "invalid_grant"  # signed by a key the app does not have
    assert grant(private, exp=now - 5).json()["error"] == "invalid_grant"  # expired
    assert grant(private, exp=now + 3600).json()["error"] == "invalid_grant"  # more than 3 minutes out
    assert grant(private, aud="https://example.com").json()["error"] == "invalid_grant"
    assert grant(private, sub="nobody@example.com").json()["error"] == "invalid_grant"
    assert grant(private, iss="unknown.app").json()["error"] == "invalid_client_id"


def test_composite_packs_queries_and_writes_into_one_call(sandbox: Sandbox) -> None:
    ids = sandbox.load_into("salesforce", people_dataset(2500, activities=("call",)))
    sf = sf_client(sandbox)
    sandbox.counters.reset()
    q = "/services/data/v59.0/query?q="
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {"method": "GET", "url": q + "SELECT+Id+FROM+Lead", "referenceId": "leads"},
                {"method": "GET", "url": q + "SELECT+Id+FROM+Task", "referenceId": "tasks"},
                {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/describe", "referenceId": "d"},
                {"method": "GET", "url": q + "SELECT+Nope+FROM+Lead", "referenceId": "bad"},
            ]
        },
    )["compositeResponse"]
    assert [a["referenceId"] for a in answer] == ["leads", "tasks", "d", "bad"]
    assert [a["httpStatusCode"] for a in answer] == [200, 200, 200, 400]
    assert answer[0]["body"]["totalSize"] == 2500 and len(answer[0]["body"]["records"]) == 2000
    assert answer[3]["body"][0]["errorCode"] == "INVALID_FIELD"
    more = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {"method": "GET", "url": answer[0]["body"]["nextRecordsUrl"], "referenceId": "more"},
                {
                    "method": "PATCH",
                    "url": "/services/data/v59.0/composite/sobjects",
                    "referenceId": "write",
                    "body": {"records": [{"attributes": {"type": "Lead"}, "id": ids["p00001"], "Title": "CEO"}]},
                    "httpHeaders": {"Sforce-Auto-Assign": "FALSE"},
                },
            ]
        },
        headers={"Sforce-Auto-Assign": "TRUE"},  # the top-level header does not reach subrequests
    )["compositeResponse"]
    assert len(more[0]["body"]["records"]) == 500 and more[1]["body"][0]["success"] is True
    assert api_of(sandbox, SalesforceApi).auto_assign_log == ["FALSE"]
    assert sandbox.counters.by_endpoint("salesforce.") == {
        "salesforce.composite": 1,
        "salesforce.composite_read": 1,
    }
    assert sf.api_usage["api-usage"].used == 2  # one per composite; the login's token request is free

    too_many = [{"method": "GET", "url": q + "SELECT+Id+FROM+User", "referenceId": f"r{i}"} for i in range(6)]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite", method="POST", json={"compositeRequest": too_many})
    assert "at most 5" in info.value.content[0]["message"]
    describes = [
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Lead/describe", "referenceId": f"r{i}"}
        for i in range(26)
    ]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": describes})


def test_uri_over_16k_bytes_is_refused(sandbox: Sandbox) -> None:
    sf = sf_client(sandbox)
    ids = ",".join(f"'{id18('00QSb0000000' + str(i).rjust(3, '0'))}'" for i in range(700))
    with pytest.raises(Exception) as info:
        sf.query(f"SELECT Id FROM Lead WHERE Id IN ({ids})")
    assert getattr(info.value, "status", None) == 414


def test_load_maps_people_activities_and_outcomes(sandbox: Sandbox) -> None:
    kinds = (
        "email_open",
        "call",
        "meeting",
        "webinar_registration",
        "webinar_attended",
        "page_view",
        "form_submission",
    )
    ids = sandbox.load_into("salesforce", people_dataset(3, converted_every=2, activities=kinds))
    api = api_of(sandbox, SalesforceApi)
    converted, plain = api.record(ids["p00000"]), api.record(ids["p00001"])
    assert converted["IsConverted"] is True and converted["Status"] == "Closed - Converted"
    assert converted["ConvertedContactId"].startswith("003") and converted["ConvertedOpportunityId"].startswith("006")
    assert plain["IsConverted"] is False and plain["Status"] == "Open - Not Contacted"
    assert plain["NumberOfEmployees"] == 50 and plain["Employee_Range__c"] == "50"
    sf = sf_client(sandbox)
    tasks = sf.query(f"SELECT Subject, TaskSubtype FROM Task WHERE WhoId = '{ids['p00001']}' ORDER BY Subject")
    assert [r["Subject"] for r in tasks["records"]] == [
        "Call: call 1",
        "Email Opened: email_open 0",
        "Page View: page_view 5",
    ]
    moved = sf.query(f"SELECT Id FROM Task WHERE WhoId = '{converted['ConvertedContactId']}'")
    assert moved["totalSize"] == 3  # conversion moved the converted lead's tasks to its Contact
    members = sf.query(
        f"SELECT Status, Campaign.Type FROM CampaignMember WHERE LeadId = '{ids['p00001']}' ORDER BY Status"
    )
    assert [(r["Status"], r["Campaign"]["Type"]) for r in members["records"]] == [
        ("Attended", "Webinar"),
        ("Registered", "Webinar"),
        ("Responded", "Website"),
    ]
    roles = sf.query("SELECT ContactId, Opportunity.IsWon FROM OpportunityContactRole")
    assert roles["totalSize"] == 2 and all(r["Opportunity"]["IsWon"] for r in roles["records"])


def test_activity_does_not_bump_the_lead_and_merge_moves_children(sandbox: Sandbox) -> None:
    sandbox.clock.freeze()
    ids = sandbox.load_into("salesforce", people_dataset(2))
    api = api_of(sandbox, SalesforceApi)
    before = api.record(ids["p00000"])["SystemModstamp"]
    task = api.add_activity(ids["p00000"], "email_click")
    assert task.startswith("00T") and api.record(ids["p00000"])["SystemModstamp"] == before
    assert api.record(task)["SystemModstamp"] == api.record(task)["CreatedDate"]
    api.merge(ids["p00001"], ids["p00000"])
    loser = api.record(ids["p00000"])
    assert loser["IsDeleted"] is True and loser["MasterRecordId"] == ids["p00001"]
    assert api.record(task)["WhoId"] == ids["p00001"]
    sf = sf_client(sandbox)
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 1
    assert sf.query_all("SELECT Id FROM Lead", include_deleted=True)["totalSize"] == 2


def test_full_listing_of_20k_leads_is_fast(sandbox: Sandbox) -> None:
    sandbox.load_into("salesforce", people_dataset(20_000, same_stamp_every=3))
    sf = sf_client(sandbox)
    started = time.perf_counter()
    total = len(list(sf.query_all_iter("SELECT Id, Email, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id")))
    elapsed = time.perf_counter() - started
    assert total == 20_000
    assert sandbox.counters.by_endpoint("salesforce.query") == {"salesforce.query": 1, "salesforce.query_more": 9}
    print(f"listed 20,000 leads in {elapsed:.2f}s")  # a figure, not a pass/fail threshold


def test_concurrent_limit_fault_is_salesforce_shaped() -> None:
    with Sandbox(SandboxConfig(seed=3, crms=("salesforce",))) as sandbox:
        sf = sf_client(sandbox)
        sandbox.faults.configure(rate_429=1.0, only={"salesforce"})
        with pytest.raises(SalesforceRefusedRequest) as info:
            sf.query("SELECT Id FROM User")
        assert info.value.content[0]["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."
