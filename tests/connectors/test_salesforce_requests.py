"""Request shapes the Salesforce adapter sends, pinned with ``responses`` (simple-salesforce uses requests),
plus the pure parts: the status table and the cursor's overlap/dedupe rules."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from connectors.errors import ConfigurationError, QuotaExhausted
from connectors.http import Action, Exchange
from connectors.records import FieldUpdate, WriteStatus
from connectors.salesforce import SalesforceAdapter, SalesforceConfig
from connectors.salesforce.client import classify
from connectors.salesforce.cursor import Cursor, StreamCursor

LOGIN = "https://login.example.my.salesforce.com"
INSTANCE = "https://acme.my.salesforce.com"
DATA = f"{INSTANCE}/services/data/v59.0"
LIMIT = {"Sforce-Limit-Info": "api-usage=10/15000"}
LEADS = [f"00Q5g00000{n:05d}AAA" for n in range(450)]


def config(**overrides: Any) -> SalesforceConfig:
    values: dict[str, Any] = {
        "username": "ops@acme.com",
        "password": SecretStr("hunter2"),
        "security_token": SecretStr("TOKEN42"),
        "consumer_key": "3MVG9.key",
        "consumer_secret": SecretStr("shh-secret"),
        "login_url": LOGIN,
        "sleep": lambda s: None,
        "max_attempts": 3,
    }
    values.update(overrides)
    return SalesforceConfig(**values)


def add_token(rsps: responses.RequestsMock) -> None:
    rsps.post(
        f"{LOGIN}/services/oauth2/token",
        json={
            "access_token": "00D!AQ.session",
            "instance_url": INSTANCE,
            "id": f"{LOGIN}/id/00D/005",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
            "signature": "sig",
        },
    )


def form(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def soql_of(call: Any) -> str:
    return parse_qs(urlsplit(call.request.url).query)["q"][0]


@responses.activate
def test_password_flow_token_request() -> None:
    add_token(responses.mock)
    responses.get(f"{DATA}/query/", json={"totalSize": 0, "done": True, "records": []}, headers=LIMIT)
    adapter = SalesforceAdapter(config())
    adapter.read_owners()
    login = responses.calls[0]
    assert login.request.url == f"{LOGIN}/services/oauth2/token"
    assert form(login) == {
        "grant_type": "password",
        "client_id": "3MVG9.key",
        "client_secret": "shh-secret",
        "username": "ops@acme.com",
        "password": "hunter2TOKEN42",
    }
    query = responses.calls[1].request
    assert query.headers["Authorization"] == "Bearer 00D!AQ.session"
    assert adapter.usage().quota_used == 10 and adapter.usage().quota_limit == 15000


@responses.activate
def test_client_credentials_and_jwt_token_requests(tmp_path: Any) -> None:
    add_token(responses.mock)
    add_token(responses.mock)
    SalesforceAdapter(config(auth="client_credentials")).login()
    call = responses.calls[0]
    expected = base64.b64encode(b"3MVG9.key:shh-secret").decode()
    assert call.request.headers["Authorization"] == f"Basic {expected}"
    assert form(call) == {"grant_type": "client_credentials"}

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    SalesforceAdapter(config(password=None, private_key_file=str(pem), login_url="https://test.salesforce.com"))
    responses.post(
        "https://test.salesforce.com/services/oauth2/token", json={"access_token": "t", "instance_url": INSTANCE}
    )
    SalesforceAdapter(config(password=None, private_key_file=str(pem), login_url="https://test.salesforce.com")).login()
    sent = form(responses.calls[-1])
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        sent["assertion"], key.public_key(), algorithms=["RS256"], audience="https://test.salesforce.com"
    )
    assert claims["iss"] == "3MVG9.key" and claims["sub"] == "ops@acme.com"
    assert 170 <= claims["exp"] - datetime.now(UTC).timestamp() <= 181


@responses.activate
def test_incremental_soql_and_batch_header() -> None:
    add_token(responses.mock)
    responses.get(f"{DATA}/queryAll/", json={"totalSize": 0, "done": True, "records": []}, headers=LIMIT)
    adapter = SalesforceAdapter(config(extra_fields=("Leadsync_Score__c",), page_size=500))
    start = adapter.cursor_at(datetime(2024, 5, 1, 12, 0, 30, 250000, tzinfo=UTC))
    pages = list(adapter.read_contacts(start))
    assert pages[-1].done and pages[-1].contacts == ()
    call = responses.calls[1]
    assert soql_of(call) == (
        "SELECT Id, SystemModstamp, Email, FirstName, LastName, Title, Company, Industry, NumberOfEmployees, "
        "AnnualRevenue, Country, State, City, Phone, Website, LeadSource, Status, OwnerId, CreatedDate, "
        "Leadsync_Score__c, IsConverted, ConvertedContactId, IsDeleted, MasterRecordId FROM Lead "
        "WHERE SystemModstamp >= 2024-05-01T12:00:29Z ORDER BY SystemModstamp, Id"
    )  # queryAll: merged and deleted rows come with the changes (crm-api §3.6)
    assert call.request.headers["Sforce-Query-Options"] == "batchSize=500"


@responses.activate
def test_write_patch_body_and_auto_assign_header() -> None:
    add_token(responses.mock)
    responses.patch(
        f"{DATA}/composite/sobjects",
        json=[
            {"id": LEADS[0], "success": True, "errors": []},
            {
                "id": LEADS[1],
                "success": False,
                "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain", "fields": []}],
            },
            {
                "id": LEADS[2],
                "success": False,
                "errors": [{"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference", "fields": []}],
            },
        ],
        headers=LIMIT,
    )
    adapter = SalesforceAdapter(config())
    results = adapter.write(
        [
            FieldUpdate(LEADS[0], {"Leadsync_Score__c": 87, "owner_id": "0055g00000AAAAAAAA"}),
            FieldUpdate(LEADS[1], {"lead_status": "Working - Contacted"}),
            FieldUpdate(LEADS[2], {"Leadsync_Score__c": None}),
        ]
    )
    assert [r.status for r in results] == [WriteStatus.OK, WriteStatus.RETRY, WriteStatus.FAILED]
    request = responses.calls[1].request
    assert request.method == "PATCH" and request.headers["Sforce-Auto-Assign"] == "FALSE"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Lead"}, "id": LEADS[0], "Leadsync_Score__c": 87, "OwnerId": "0055g00000AAAAAAAA"},
            {"attributes": {"type": "Lead"}, "id": LEADS[1], "Status": "Working - Contacted"},
            {"attributes": {"type": "Lead"}, "id": LEADS[2], "Leadsync_Score__c": None},
        ],
    }
    assert adapter.write([FieldUpdate(LEADS[2], {"Leadsync_Score__c": 1})])[0].status is WriteStatus.SKIPPED


def composite(
    answer: Callable[[dict[str, Any]], Any],
) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    """A ``/composite`` callback answering every sub-request 200 with ``answer(sub_request)`` as its body."""

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        subs = json.loads(request.body)["compositeRequest"]
        out = [
            {"body": answer(sub), "httpHeaders": {}, "httpStatusCode": 200, "referenceId": sub["referenceId"]}
            for sub in subs
        ]
        return 200, LIMIT, json.dumps({"compositeResponse": out})

    return callback


@responses.activate
def test_large_write_goes_as_collections_inside_one_composite() -> None:
    add_token(responses.mock)

    def saved(sub: dict[str, Any]) -> Any:
        return [{"id": r["id"], "success": True, "errors": []} for r in sub["body"]["records"]]

    responses.add_callback(responses.POST, f"{DATA}/composite", callback=composite(saved))
    results = SalesforceAdapter(config()).write([FieldUpdate(i, {"Leadsync_Score__c": 1}) for i in LEADS])
    assert all(r.ok for r in results) and len(results) == 450
    request = responses.calls[1].request
    assert request.headers["Sforce-Auto-Assign"] == "FALSE"
    body = json.loads(request.body)
    subs = body["compositeRequest"]
    assert body["allOrNone"] is False and [len(s["body"]["records"]) for s in subs] == [200, 200, 50]
    assert {(s["method"], s["url"]) for s in subs} == {("PATCH", "/services/data/v59.0/composite/sobjects")}
    assert all(s["httpHeaders"] == {"Sforce-Auto-Assign": "FALSE"} for s in subs)


@responses.activate
def test_activity_queries_are_cut_to_the_uri_limit_and_packed() -> None:
    add_token(responses.mock)
    seen: list[dict[str, Any]] = []

    def nothing(sub: dict[str, Any]) -> Any:
        seen.append(sub)
        return {"totalSize": 0, "done": True, "records": []}

    responses.add_callback(responses.POST, f"{DATA}/composite", callback=composite(nothing))
    ids = [f"00Q5g0000{n:06d}AAA" for n in range(1500)]
    adapter = SalesforceAdapter(config())
    assert adapter.read_activities(ids) == {i: [] for i in ids}
    assert len(responses.calls) == 1 + 2  # login + ceil(9 queries / 5)
    assert all(len(s["url"]) + len(INSTANCE) <= 16_000 for s in seen) and len(seen) == 9
    first = parse_qs(urlsplit(seen[0]["url"]).query)["q"][0]
    assert (
        first.startswith("SELECT Id, SystemModstamp, WhoId, Subject, Type, TaskSubtype")
        and "WHERE WhoId IN ('" in first
    )


@responses.activate
def test_connection_errors_are_retried_and_quota_stops() -> None:
    add_token(responses.mock)
    responses.get(f"{DATA}/query/", body=requests.ConnectionError("reset"))
    responses.get(f"{DATA}/query/", json={"totalSize": 0, "done": True, "records": []}, headers=LIMIT)
    adapter = SalesforceAdapter(config())
    assert adapter.read_owners() == []
    assert adapter.usage().calls_by_endpoint == {"oauth.token": 1, "query": 2}
    responses.get(
        f"{DATA}/query/",
        status=403,
        json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        headers={"Sforce-Limit-Info": "api-usage=15000/15000"},
    )
    with pytest.raises(QuotaExhausted):
        adapter.read_owners()
    assert adapter.usage().quota_left == 0


def _err(code: str, message: str) -> str:
    return json.dumps([{"message": message, "errorCode": code}])


@pytest.mark.parametrize(
    ("status", "body", "action"),
    [
        (200, "{}", Action.OK),
        (0, "", Action.RETRY),
        (401, '[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]', Action.REFRESH_AUTH),
        (403, _err("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), Action.QUOTA_EXHAUSTED),
        (403, _err("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."), Action.RATE_LIMITED),
        (403, '[{"message":"no access","errorCode":"INSUFFICIENT_ACCESS"}]', Action.AUTH_FAILED),
        (400, '[{"message":"x","errorCode":"UNABLE_TO_LOCK_ROW"}]', Action.RETRY),
        (400, '[{"message":"unexpected token","errorCode":"MALFORMED_QUERY"}]', Action.FATAL),
        (503, "<html>down</html>", Action.RETRY),
        (414, "", Action.FATAL),
    ],
)  # fmt: skip
def test_status_table(status: int, body: str, action: Action) -> None:
    assert classify(Exchange(status=status, body=body)).action is action


def test_cursor_dedupes_the_overlap_and_degrades_past_max_seen() -> None:
    t0, t1, t2 = "2024-05-01T12:00:00.000+0000", "2024-05-01T12:00:01.000+0000", "2024-05-01T12:00:05.000+0000"
    stream = StreamCursor()
    stream.advance([("a", t0), ("b", t1), ("c", t1)], overlap=1.0, max_seen=10)
    assert stream.since(1.0) == "2024-05-01T12:00:00Z"
    assert not stream.is_new("b", t1) and not stream.is_new("a", t0)
    assert stream.is_new("a", t1)  # changed again: new stamp
    assert stream.is_new("aa", t0)  # a late commit inside the window
    assert stream.is_new("d", t1)  # same second, id after the cursor
    stream.advance([("x", t2)], overlap=1.0, max_seen=10)
    assert stream.seen == {("x", t2)}  # older entries left the window
    crowded = StreamCursor()
    crowded.advance([(f"id{n:02d}", t1) for n in range(20)], overlap=1.0, max_seen=5)
    assert len(crowded.seen) == 5 and crowded.complete_from == (t1, "id15")
    assert not crowded.is_new("id03", t1)  # before exact knowledge: counted as seen, never duplicated
    restored = Cursor.loads(Cursor("contacts", {"Lead": crowded}).dumps(), "contacts").stream("Lead")
    assert restored == crowded


def test_cursor_at_serves_both_streams() -> None:
    text = Cursor.at(datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)).dumps()
    for kind, sobject in (("contacts", "Lead"), ("activities", "Task")):
        stream = Cursor.loads(text, kind).stream(sobject)
        assert stream.is_new("z", "2024-05-01T12:00:00.000+0000")
        assert not stream.is_new("z", "2024-05-01T11:59:59.000+0000")
    with pytest.raises(Exception, match="cannot be read"):
        Cursor.loads('{"v": 1, "kind": "activities", "streams": {}}', "contacts")


@responses.activate
@pytest.mark.parametrize("login_url", ["https://login.salesforce.com", "https://test.salesforce.com/"])
def test_client_credentials_refuse_the_shared_login_hosts(login_url: str) -> None:
    with pytest.raises(ConfigurationError, match="only on an org's My Domain") as refused:
        SalesforceAdapter(config(auth="client_credentials", login_url=login_url))
    assert "salesforce.com" in str(refused.value) and "shh-secret" not in str(refused.value)
    assert not responses.calls, "refused before any request"


def test_config_from_sync_settings(tmp_path: Any) -> None:
    from sync.settings import SalesforceSettings

    settings = SalesforceSettings(
        auth="jwt", username="ops@acme.com", consumer_key="k", private_key_file=tmp_path / "k.pem", object="Contact"
    )
    built = SalesforceConfig.from_config(settings, ca_path="/tmp/ca.pem")
    assert built.objects == ("Contact",) and built.private_key_file == str(tmp_path / "k.pem")
    assert built.auth_mode() == "jwt" and built.ca_path == "/tmp/ca.pem"
    assert settings.login_url is None and built.login_url == "https://login.salesforce.com"  # unset: the default
