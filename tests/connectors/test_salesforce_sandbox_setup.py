"""The sandbox's Salesforce set-up endpoints, driven by simple-salesforce over TLS: Tooling API CustomField,
the REST sObjects that grant field-level security, the UserInfo endpoint, and merged/deleted rows in queryAll."""

from __future__ import annotations

from typing import Any, cast

import pytest
from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.salesforce.client import make_session
from connectors.sandbox import Sandbox
from connectors.sandbox.salesforce import SalesforceApi
from tests.connectors.samples_salesforce import people_dataset, sf_client
from tests.harnesses import api_of

SCORE_FIELD = {
    "FullName": "Lead.Leadsync_Score__c",
    "Metadata": {"label": "Leadsync score", "type": "Number", "precision": 16, "scale": 2},
}


def sobject(sf: Salesforce, name: str) -> SFType:
    return cast(SFType, getattr(sf, name))


def error(exc: Any) -> tuple[int, str, str]:
    body = exc.content[0]
    return exc.status, str(body["errorCode"]), str(body["message"])


def lead_fields(sf: Salesforce) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in sobject(sf, "Lead").describe()["fields"]}


def grant(sf: Salesforce, user_id: str, *fields: str, edit: bool = True) -> str:
    """What `check --create-fields` does after creating fields: a permission set, its grants, its assignment."""
    permset = sobject(sf, "PermissionSet").create({"Name": "Leadsync_Integration", "Label": "Leadsync integration"})[
        "id"
    ]
    for name in fields:
        object_name = name.split(".")[0]
        sobject(sf, "FieldPermissions").create(
            {
                "ParentId": permset,
                "SobjectType": object_name,
                "Field": name,
                "PermissionsRead": True,
                "PermissionsEdit": edit,
            }
        )
    sobject(sf, "PermissionSetAssignment").create({"AssigneeId": user_id, "PermissionSetId": permset})
    return str(permset)


@pytest.fixture
def org(sandbox: Sandbox) -> tuple[Sandbox, dict[str, str], Salesforce, SalesforceApi]:
    ids = sandbox.load_into("salesforce", people_dataset(5))
    return sandbox, ids, sf_client(sandbox), api_of(sandbox, SalesforceApi)


def test_tooling_custom_field_is_hidden_until_field_level_security_grants_it(org: Any) -> None:
    _, ids, sf, _ = org
    lead = next(iter(ids.values()))
    created = sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    assert created["success"] is True and created["id"].startswith("00N") and created["errors"] == []

    # created, but nobody can see it: describe leaves it out, SOQL and writes call it an unknown column
    assert "Leadsync_Score__c" not in lead_fields(sf)
    with pytest.raises(SalesforceMalformedRequest) as hidden_query:
        sf.query(f"SELECT Id, Leadsync_Score__c FROM Lead WHERE Id = '{lead}'")
    assert error(hidden_query.value)[:2] == (400, "INVALID_FIELD")
    with pytest.raises(SalesforceMalformedRequest) as hidden_write:
        sobject(sf, "Lead").update(lead, {"Leadsync_Score__c": 42})
    assert error(hidden_write.value)[:2] == (400, "INVALID_FIELD")

    user_id = sf.restful("../../oauth2/userinfo")["user_id"]  # /services/oauth2/userinfo
    grant(sf, user_id, "Lead.Leadsync_Score__c", edit=False)
    described = lead_fields(sf)["Leadsync_Score__c"]
    assert (described["type"], described["precision"], described["scale"], described["custom"]) == (
        "double",
        16,
        2,
        True,
    )
    assert described["updateable"] is False  # read granted, edit not
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sobject(sf, "Lead").update(lead, {"Leadsync_Score__c": 42})
    assert error(read_only.value)[:2] == (400, "INVALID_FIELD_FOR_INSERT_UPDATE")

    grants = sf.query("SELECT Id FROM FieldPermissions WHERE Field = 'Lead.Leadsync_Score__c'")["records"]
    sobject(sf, "FieldPermissions").update(grants[0]["Id"], {"PermissionsEdit": True})
    sobject(sf, "Lead").update(lead, {"Leadsync_Score__c": 42})
    row = sf.query(f"SELECT Leadsync_Score__c FROM Lead WHERE Id = '{lead}'")["records"][0]
    assert row["Leadsync_Score__c"] == 42.0 and lead_fields(sf)["Leadsync_Score__c"]["updateable"] is True


def test_tooling_custom_field_errors_are_the_vendors(org: Any) -> None:
    _, _, sf, _ = org
    sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    assert error(duplicate.value) == (
        400,
        "DUPLICATE_DEVELOPER_NAME",
        "There is already a field named Leadsync_Score on Lead.",
    )
    with pytest.raises(SalesforceMalformedRequest) as standard:
        sf.toolingexecute("sobjects/CustomField", method="POST", data={**SCORE_FIELD, "FullName": "Lead.Email"})
    assert error(standard.value)[1] == "FIELD_INTEGRITY_EXCEPTION"
    bad_text = {"FullName": "Lead.Leadsync_Grade__c", "Metadata": {"label": "Grade", "type": "Text", "length": 300}}
    with pytest.raises(SalesforceMalformedRequest) as too_long:
        sf.toolingexecute("sobjects/CustomField", method="POST", data=bad_text)
    assert error(too_long.value)[1] == "FIELD_INTEGRITY_EXCEPTION" and "255" in error(too_long.value)[2]
    picklist = {
        "FullName": "Contact.Leadsync_Tier__c",
        "Metadata": {
            "label": "Tier",
            "type": "Picklist",
            "valueSet": {"valueSetDefinition": {"sorted": False, "value": [{"fullName": "A"}, {"fullName": "B"}]}},
        },
    }
    assert sf.toolingexecute("sobjects/CustomField", method="POST", data=picklist)["success"] is True


def test_setup_objects_refuse_what_salesforce_refuses(org: Any) -> None:
    _, _, sf, _ = org
    sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    user_id = sf.restful("../../oauth2/userinfo")["user_id"]
    permset = grant(sf, user_id, "Lead.Leadsync_Score__c")
    attempts: list[tuple[str, dict[str, Any], str]] = [
        ("PermissionSet", {"Name": "Leadsync_Integration", "Label": "again"}, "DUPLICATE_DEVELOPER_NAME"),
        ("PermissionSet", {"Name": "Leadsync__Bad", "Label": "bad"}, "INVALID_FIELD"),
        ("PermissionSet", {"Name": "Leadsync_Other"}, "REQUIRED_FIELD_MISSING"),
        (
            "FieldPermissions",
            {"ParentId": permset, "SobjectType": "Lead", "Field": "Lead.Leadsync_Score__c", "PermissionsRead": True},
            "DUPLICATE_VALUE",
        ),
        (
            "FieldPermissions",
            {"ParentId": permset, "SobjectType": "Lead", "Field": "Lead.No_Such__c", "PermissionsRead": True},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
        (
            "FieldPermissions",
            {"ParentId": permset, "SobjectType": "Lead", "Field": "Lead.Title", "PermissionsEdit": True},
            "FIELD_INTEGRITY_EXCEPTION",
        ),
        ("PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": permset}, "DUPLICATE_VALUE"),
        ("PermissionSetAssignment", {"AssigneeId": permset, "PermissionSetId": permset}, "INVALID_CROSS_REFERENCE_KEY"),
    ]
    for name, body, code in attempts:
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sobject(sf, name).create(body)
        assert error(refused.value)[:2] == (400, code), (name, body)
    found = sf.query("SELECT Id, Name FROM PermissionSet WHERE Name = 'Leadsync_Integration'")["records"]
    assert [r["Id"] for r in found] == [permset]


def test_userinfo_names_the_session_user_and_needs_a_valid_token(org: Any) -> None:
    sandbox, _, sf, api = org
    info = sf.restful("../../oauth2/userinfo")
    assert (
        info["user_id"] == api.org.integration_user_id and info["preferred_username"] == "integration@leadsync.sandbox"
    )
    assert info["sub"].endswith(f"/{info['organization_id']}/{info['user_id']}")
    assert sandbox.counters.by_endpoint("salesforce.oauth.userinfo") == {"salesforce.oauth.userinfo": 1}
    assert api.api_usage() == 0  # the identity service is no API call
    bad = make_session(str(sandbox.ca_path)).get(
        sandbox.salesforce_url + "/services/oauth2/userinfo", headers={"Authorization": "Bearer nope"}, timeout=30
    )
    assert bad.status_code == 403 and bad.text == "Bad_OAuth_Token"


def test_merged_and_deleted_leads_show_in_query_all_only(org: Any) -> None:
    _, ids, sf, api = org
    survivor, merged, deleted, *_ = ids.values()
    api.merge(survivor, merged)
    api.delete(deleted)
    soql = "SELECT Id, MasterRecordId, IsDeleted FROM Lead WHERE IsDeleted = true ORDER BY SystemModstamp, Id"
    assert sf.query(soql)["records"] == []
    rows = {r["Id"]: r for r in sf.query_all(soql, include_deleted=True)["records"]}
    assert rows[merged]["MasterRecordId"] == survivor and rows[merged]["IsDeleted"] is True
    assert rows[deleted]["MasterRecordId"] is None and set(rows) == {merged, deleted}


def test_sobject_create_checks_required_fields_and_defaults(org: Any) -> None:
    _, _, sf, api = org
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sobject(sf, "Lead").create({"FirstName": "Ada"})
    assert error(missing.value) == (400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName, Company]")
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sobject(sf, "Lead").create({"LastName": "Lovelace", "Company": "Engines", "Nope__c": 1})
    assert error(unknown.value)[:2] == (400, "INVALID_FIELD")
    created = sobject(sf, "Lead").create({"LastName": "Lovelace", "Company": "Engines"})
    row = sf.query(f"SELECT Status, OwnerId, HasOptedOutOfEmail FROM Lead WHERE Id = '{created['id']}'")["records"][0]
    assert (row["Status"], row["OwnerId"], row["HasOptedOutOfEmail"]) == (
        "Open - Not Contacted",
        api.org.integration_user_id,
        False,
    )
