"""The contact objects' describe is kept in the fields cache: a run whose model reads fields outside the defaults
describes once, the next runs not at all; a cached field the org no longer has (INVALID_FIELD) describes again."""

from __future__ import annotations

import json

from connectors.sandbox import Sandbox
from tests.connectors.samples_salesforce import people_dataset
from tests.harnesses import MemoryCache, SalesforceHarness, calls_since, make_harness

MODEL = {"email_opt_out": "HasOptedOutOfEmail", "rating": "Rating__c"}  # the second one the org lacks


def _read(harness: SalesforceHarness, cache: MemoryCache) -> tuple[dict[str, int], list[dict[str, object]]]:
    before = harness.sandbox.counters.snapshot()
    adapter = harness.adapter(scoring_fields=MODEL, fields_cache=cache)
    contacts = [dict(c.fields) for page in adapter.read_contacts(None) for c in page.contacts]
    return calls_since(harness.sandbox, before), contacts


def test_a_second_run_reads_the_describe_from_the_cache(sandbox: Sandbox) -> None:
    harness = make_harness("salesforce", sandbox)
    harness.load(people_dataset(30))
    cache = MemoryCache()

    first, contacts = _read(harness, cache)
    assert first.get("salesforce.describe") == 1
    assert all("email_opt_out" in c and "rating" not in c for c in contacts)
    assert "hasoptedoutofemail" in json.loads(cache.blob or "{}")["objects"]["Lead"]

    second, again = _read(harness, cache)
    assert "salesforce.describe" not in second
    assert again == contacts


def test_a_cached_field_the_org_lost_describes_again(sandbox: Sandbox) -> None:
    harness = make_harness("salesforce", sandbox)
    harness.load(people_dataset(30))
    cache = MemoryCache()
    _read(harness, cache)
    stale = json.loads(cache.blob or "{}")
    stale["objects"]["Lead"].append("rating__c")  # as if the org had it when described, and deleted it since
    cache.blob = json.dumps(stale)

    calls, contacts = _read(harness, cache)
    assert calls.get("salesforce.describe") == 1  # the listing was refused (INVALID_FIELD), then read again
    assert len(contacts) == 30 and all("rating" not in c for c in contacts)
    assert "rating__c" not in json.loads(cache.blob or "{}")["objects"]["Lead"]
