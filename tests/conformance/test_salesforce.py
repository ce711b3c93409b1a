"""Salesforce: restforce's (MIT) and go-sfdc's (MIT) recorded answers replayed through ``SalesforceAdapter``
(served by ``responses``), and the sandbox's answers to the same endpoints checked against their shapes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from connectors.errors import AuthError, FatalApiError
from connectors.records import FieldSpec, FieldUpdate, WriteStatus
from connectors.salesforce import SalesforceAdapter, SalesforceConfig
from connectors.salesforce.mapping import path_value, to_datetime
from connectors.sandbox import Sandbox, SandboxConfig
from tests.conformance.shapes import load, raw, shape_diff
from tests.connectors.samples_salesforce import people_dataset, sf_client

INSTANCE = "https://na1.salesforce.com"  # the instance_url of restforce's recorded token answer
LOGIN = "https://login.salesforce.com"


def _url(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(INSTANCE) + r"/services/data/v[\d.]+/" + path + r"(\?.*)?$")


def _session_adapter(**overrides: Any) -> SalesforceAdapter:
    settings: dict[str, Any] = {
        "session_id": SecretStr("00Dx0000000BV7z!replayed"),
        "instance_url": INSTANCE,
        "sleep": lambda seconds: None,
    }
    settings.update(overrides)
    return SalesforceAdapter(SalesforceConfig(**settings))


@pytest.fixture
def replay() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


def test_query_follows_next_records_url_to_the_last_batch(replay: responses.RequestsMock) -> None:
    replay.get(_url("query/01gD"), body=raw("salesforce", "query_paginated_last_page_response"))
    replay.get(_url("query/"), body=raw("salesforce", "query_paginated_first_page_response"))
    adapter = _session_adapter()
    (records,) = adapter.client.query_all(["SELECT Text_Label FROM Whizbang"])
    assert [r["Text_Label"] for r in records] == ["First Page", "Last Page"]
    assert adapter.usage().calls_by_endpoint == {"query": 1, "query_more": 1}


def test_recorded_datetimes_dates_and_relationships_read_as_the_adapter_expects() -> None:
    (record,) = load("salesforce", "query_success_response")["records"]
    assert to_datetime(record["DateTime_Label"]) == datetime(2011, 7, 7, 0, 37, tzinfo=UTC)  # "...000+0000"
    assert to_datetime(record["Date_Label"]) == datetime(2010, 1, 1, tzinfo=UTC)
    # a parent relationship comes back nested, as Contact's Account.Name does
    assert path_value(record, "ParentWhizbang__r.Name") == "Parent Whizbang"
    assert path_value(record, "Missing__r.Name") is None


# The listing replays below read LIMIT pages (page_size 199): a backfill of 200+ a batch reads its first batch
# inside a Composite call with the activities (connectors/salesforce/backfill.py), whose answer these are not.
LIMIT_PAGES = 199


def test_invalid_field_error_stops_the_read_with_the_code(replay: responses.RequestsMock) -> None:
    replay.get(_url("query/"), body=raw("salesforce", "query_error_response"), status=400)
    with pytest.raises(FatalApiError, match="INVALID_FIELD"):
        list(_session_adapter(page_size=LIMIT_PAGES).read_contacts(None))


def test_expired_session_in_session_mode_is_an_auth_error(replay: responses.RequestsMock) -> None:
    replay.get(_url("query/"), body=raw("salesforce", "expired_session_response"), status=401)
    with pytest.raises(AuthError, match="session id has expired"):
        list(_session_adapter(page_size=LIMIT_PAGES).read_contacts(None))


def test_expired_session_logs_in_again_with_the_recorded_token_answer(replay: responses.RequestsMock) -> None:
    replay.post(LOGIN + "/services/oauth2/token", body=raw("salesforce", "auth_success_response"))
    replay.get(_url("query/"), body=raw("salesforce", "expired_session_response"), status=401)
    replay.get(_url("query/"), body=raw("salesforce", "query_empty_response"))
    adapter = SalesforceAdapter(
        SalesforceConfig(
            username="user@example.com",
            password=SecretStr("pw"),
            security_token=SecretStr("tok"),
            consumer_key="key",
            consumer_secret=SecretStr("secret"),
            sleep=lambda seconds: None,
            page_size=LIMIT_PAGES,
        )
    )
    pages = list(adapter.read_contacts(None))
    assert [p.contacts for p in pages] == [()] and pages[-1].done
    assert adapter.logins == 2  # the first login, then again after INVALID_SESSION_ID
    assert all(str(c.request.url).startswith((INSTANCE, LOGIN)) for c in replay.calls)


def test_collection_answer_maps_to_write_results_in_order(replay: responses.RequestsMock) -> None:
    replay.patch(_url("composite/sobjects"), body=raw("salesforce", "collections_update_mixed_response"))
    results = _session_adapter().write(
        [
            FieldUpdate("00Qxx000003DGb2AAG", {"Leadsync_Score__c": 80}),
            FieldUpdate("00Qxx000004TmiQAAS", {"Leadsync_Score__c": 40}),
        ]
    )
    assert [r.status for r in results] == [WriteStatus.FAILED, WriteStatus.OK]
    assert results[0].error_code == "MALFORMED_ID" and "(fields: Id)" in results[0].error
    assert results[1].contact_id == "00Qxx000004TmiQAAS"


def test_describe_answer_tells_present_from_missing_fields(replay: responses.RequestsMock) -> None:
    replay.get(_url("sobjects/Lead/describe"), body=raw("salesforce", "sobject_describe_success_response"))
    check = _session_adapter().check_fields(
        [FieldSpec("ParentWhizbang__c", "Parent", "string"), FieldSpec("Leadsync_Score__c", "Score", "number")]
    )
    assert check.present == ("ParentWhizbang__c",) and check.missing == ("Leadsync_Score__c",)
    assert "API name Leadsync_Score__c" in check.instructions


# -- the sandbox's answers against the same shapes ----------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(crms=("salesforce",), seed=7)) as sb:
        sb.load_into("salesforce", people_dataset(250))
        yield sb


def test_sandbox_query_batches_have_the_vendor_shape(sandbox: Sandbox) -> None:
    sf = sf_client(sandbox)
    first = sf.query("SELECT Id, Email FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["nextRecordsUrl"], "the seeded org has more than one batch of leads"
    free = frozenset({"$.records[]"})  # a record's keys are the query's columns
    assert shape_diff(load("salesforce", "query_paginated_first_page_response"), first, free=free) == []
    assert first["records"][0]["attributes"].keys() == {"type", "url"}
    last = sf.query("SELECT Id FROM Lead WHERE Id = '00Q000000000000AAA'")
    assert shape_diff(load("salesforce", "query_empty_response"), last) == []


def test_sandbox_error_bodies_have_the_vendor_shape(sandbox: Sandbox) -> None:
    sf = sf_client(sandbox)
    http = sf.session
    bad = http.get(f"{sf.base_url}query/", params={"q": "SELECT Nope FROM Lead"}, headers=sf.headers, timeout=30)
    assert bad.status_code == 400
    assert shape_diff(load("salesforce", "query_error_response"), bad.json()) == []
    expired = http.get(
        f"{sf.base_url}query/",
        params={"q": "SELECT Id FROM Lead"},
        headers={"Authorization": "Bearer not-a-session"},
        timeout=30,
    )
    assert expired.status_code == 401
    assert shape_diff(load("salesforce", "expired_session_response"), expired.json()) == []


def test_sandbox_describe_has_the_vendor_keys_leadsync_reads(sandbox: Sandbox) -> None:
    ours = sf_client(sandbox).Lead.describe()
    vendor = load("salesforce", "sobject_describe_success_response")
    # leadsync reads fields[].name and fields[].updateable; the rest of describe is pinned loosely below
    field_keys = {"name", "updateable", "type", "label", "custom", "nillable", "picklistValues"}
    assert field_keys <= set(vendor["fields"][0]) and all(field_keys <= set(f) for f in ours["fields"])
    assert {"name", "fields", "label", "custom", "keyPrefix"} <= set(ours)
