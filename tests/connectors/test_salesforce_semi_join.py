"""The sandbox's SOQL semi-joins and anti-joins, with the vendor's restrictions (docs/crm-api/salesforce.md 3.3)."""

from __future__ import annotations

import pytest

from connectors.errors import FatalApiError
from connectors.salesforce import SalesforceAdapter
from connectors.sandbox import Sandbox
from tests.connectors.samples_salesforce import people_dataset
from tests.harnesses import calls_since, make_harness

ACTIVITIES = ("email_open", "meeting", "call", "webinar")


@pytest.fixture
def adapter(sandbox: Sandbox) -> SalesforceAdapter:
    harness = make_harness("salesforce", sandbox)
    harness.load(people_dataset(40, activities=ACTIVITIES, converted_every=10))
    made = harness.adapter()
    assert isinstance(made, SalesforceAdapter)
    return made


def _ids(adapter: SalesforceAdapter, soql: str) -> list[str]:
    return sorted(str(r["Id"]) for r in adapter.client.query(soql, paged=False)["records"])


def test_a_semi_join_selects_what_the_id_list_selects(adapter: SalesforceAdapter) -> None:
    leads = _ids(adapter, "SELECT Id FROM Lead WHERE IsConverted = false")[:7]
    listed = ", ".join(f"'{i}'" for i in leads)
    by_list = _ids(adapter, f"SELECT Id FROM Task WHERE WhoId IN ({listed})")
    by_join = _ids(adapter, f"SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Lead WHERE Id IN ({listed}))")
    assert by_join == by_list and by_list


def test_a_reference_field_subquery_and_an_anti_join(adapter: SalesforceAdapter) -> None:
    everything = _ids(adapter, "SELECT Id FROM Task")
    on_leads = _ids(adapter, "SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Lead)")
    converted = _ids(
        adapter, "SELECT Id FROM Task WHERE WhoId IN (SELECT ConvertedContactId FROM Lead WHERE IsConverted = true)"
    )
    elsewhere = _ids(adapter, "SELECT Id FROM Task WHERE WhoId NOT IN (SELECT Id FROM Lead)")
    assert converted and on_leads  # conversion moved the converted leads' tasks to their contacts
    assert sorted(on_leads + elsewhere) == everything
    assert set(converted) <= set(elsewhere)


@pytest.mark.parametrize(
    ("soql", "refusal"),
    [
        ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Lead) OR Subject = 'x'", "top level WHERE"),
        ("SELECT Id FROM Task WHERE NOT WhoId IN (SELECT Id FROM Lead)", "top level WHERE"),
        ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Lead ORDER BY Id)", "ORDER BY"),
        ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Lead LIMIT 5)", "LIMIT"),
        ("SELECT Id FROM Lead WHERE Id IN (SELECT WhoId FROM Task)", "not supported for semi join"),
        ("SELECT Id FROM Lead WHERE Id IN (SELECT Id FROM Lead)", "same object"),
        ("SELECT Id FROM Lead WHERE Id IN (SELECT ItemId FROM LeadTag)", "not supported for semi join"),
        (
            "SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Lead WHERE OwnerId IN (SELECT Id FROM User))",
            "top level WHERE",
        ),
        ("SELECT Id FROM Task WHERE WhoId IN (SELECT Email FROM Lead)", "only query id fields"),
        ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id, Email FROM Lead)", "only one field"),
        (
            "SELECT Id FROM CampaignMember WHERE LeadId IN (SELECT Id FROM Lead) AND ContactId IN "
            "(SELECT Id FROM Contact) AND CampaignId IN (SELECT Id FROM Campaign)",
            "at most 2",
        ),
    ],
)
def test_the_vendors_restrictions_are_refused(adapter: SalesforceAdapter, soql: str, refusal: str) -> None:
    with pytest.raises(FatalApiError, match=refusal):
        adapter.client.query(soql, paged=False)


def _activities_per_page(adapter: SalesforceAdapter) -> dict[str, list[tuple[str, str]]]:
    """Each contact's activities (id, type), read page by page as the pipeline reads them."""
    out: dict[str, list[tuple[str, str]]] = {}
    for page in adapter.read_contacts(None):
        for cid, acts in adapter.read_activities([c.id for c in page.contacts]).items():
            out[cid] = [(a.id, a.type) for a in acts]
    return out


def test_a_backfill_reads_the_same_activities_by_semi_joins_as_by_id_lists(sandbox: Sandbox) -> None:
    harness = make_harness("salesforce", sandbox)
    harness.load(people_dataset(450, activities=ACTIVITIES, converted_every=7))
    by_join = harness.adapter(page_size=200)
    before = sandbox.counters.snapshot()
    joined = _activities_per_page(by_join)
    calls = calls_since(sandbox, before)
    by_ids = harness.adapter(page_size=150)  # LIMIT pages: activities by id lists, page by page
    assert joined == _activities_per_page(by_ids)
    converted = [cid for cid in joined if cid in by_join._converted_contact]
    assert converted and all(joined[cid] for cid in converted), "a converted lead's activities come from its Contact"
    # 6 semi-joins and the listing's first batch, then the listing's 2 later batches (each page's ids: none)
    assert calls == {"salesforce.composite_read": 2, "salesforce.query_more": 2}


def test_a_contact_asked_for_again_is_read_by_id(adapter: SalesforceAdapter, sandbox: Sandbox) -> None:
    first = next(iter(adapter.read_contacts(None)))
    ids = [c.id for c in first.contacts]
    streamed = adapter.read_activities(ids)
    before = sandbox.counters.snapshot()
    again = adapter.read_activities(ids)
    assert again == streamed and sandbox.counters.delta(before), "served once from the backfill's file"
