"""Which contact a webhook event names (``sync.server.targets``), from bodies as the intake parses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.base import Removal
from connectors.sandbox.store import Change
from connectors.sandbox.webhooks import WebhookConfig
from connectors.sandbox.webhooks.vendors import Vendors
from sync.server.targets import Target, event_target
from sync.server.webhooks import Rejected, hubspot_events, pipedrive_events
from sync.state import WebhookEvent

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _workflow_body(contact_id: str, **properties: str) -> bytes:
    """A form submission's "Send a webhook" body as the sandbox's HubSpot sends it (legacy contact shape)."""
    data = {"firstname": "Ada", "lastmodifieddate": str(int(AT.timestamp() * 1000))} | properties
    change = Change("hubspot", "form", "contacts", contact_id, AT, data, None, {"form": "Request a demo"})
    [(channel, contact)] = Vendors(WebhookConfig(url="http://127.0.0.1:1/webhooks")).events(change)
    assert channel == "hubspot_workflow" and contact["vid"] == int(contact_id)
    return json.dumps(contact).encode()


def test_a_hubspot_workflow_webhook_names_its_contact() -> None:
    [event] = hubspot_events(_workflow_body("5101"))

    assert event.kind == "contact.workflow"
    assert event_target(event, own_fields=("leadsync_score",)).contact_id == "5101"


def test_a_hubspot_workflow_webhook_of_a_merged_contact_names_the_survivor() -> None:
    document = json.loads(_workflow_body("5101"))
    document |= {"canonical-vid": 5200, "merged-vids": [5101]}
    [event] = hubspot_events(json.dumps(document).encode())

    assert event_target(event).contact_id == "5200"


def test_a_hubspot_workflow_webhook_changing_a_leadsync_property_still_rescores() -> None:
    # a workflow body carries every property, leadsync's too: it is a form submission, not an echo
    [event] = hubspot_events(_workflow_body("5101", leadsync_score="42"))
    assert event_target(event, own_fields=("leadsync_score",)).contact_id == "5101"


def test_a_hubspot_workflow_webhook_without_its_last_change_is_rejected() -> None:
    with pytest.raises(Rejected):
        hubspot_events(json.dumps({"vid": 5101, "properties": {"firstname": {"value": "Ada"}}}).encode())


@pytest.mark.parametrize(
    ("event", "contact_id"),
    [
        ({"subscriptionType": "contact.propertyChange", "propertyName": "jobtitle", "objectId": 7}, "7"),
        ({"subscriptionType": "contact.propertyChange", "propertyName": "leadsync_score", "objectId": 7}, None),
        ({"subscriptionType": "contact.merge", "objectId": 7, "primaryObjectId": 9}, "9"),
        # a merge that created a new record names it in newObjectId (HubSpot changelog, docs/crm-api 2.8)
        ({"subscriptionType": "contact.merge", "objectId": 7, "primaryObjectId": 9, "newObjectId": 11}, "11"),
        ({"subscriptionType": "contact.deletion", "objectId": 7}, None),
    ],
)
def test_hubspot_subscription_events(event: dict[str, object], contact_id: str | None) -> None:
    body = json.dumps([{"eventId": 1, "occurredAt": int(AT.timestamp() * 1000)} | event]).encode()
    [parsed] = hubspot_events(body)
    assert event_target(parsed, own_fields=("leadsync_score",)).contact_id == contact_id


def _pipedrive_delete(person_id: str, **meta: str) -> WebhookEvent:
    """A person ``delete`` as the sandbox's Pipedrive sends it (``meta`` extras: ``merged_to_id`` for a merge)."""
    change = Change("pipedrive", "delete", "person", person_id, AT, {}, {"id": int(person_id), "name": "Ada"}, meta)
    [(channel, document)] = Vendors(WebhookConfig(url="http://127.0.0.1:1/webhooks")).events(change)
    assert channel == "pipedrive" and document["data"] is None
    [event] = pipedrive_events(json.dumps(document).encode())
    return event


def test_a_pipedrive_merge_is_a_removal_into_the_survivor_which_is_rescored() -> None:
    target = event_target(_pipedrive_delete("301", merged_to_id="302"))

    assert target == Target("302", removal=Removal("301", "302", AT))
    assert target.removal is not None and target.removal.merged


def test_a_pipedrive_delete_without_a_survivor_is_a_deletion_naming_no_contact_to_read() -> None:
    target = event_target(_pipedrive_delete("301"))

    assert target.contact_id is None and target.reason == "the person was deleted"
    assert target.removal == Removal("301", None, AT)


@pytest.mark.parametrize("survivor", ["301", "not-an-id"])
def test_a_pipedrive_merge_naming_no_usable_survivor_is_skipped_not_taken_for_a_deletion(survivor: str) -> None:
    # a deletion would drop the sticky owner the merge should move: left to the first write's 404 instead
    target = event_target(_pipedrive_delete("301", merged_to_id=survivor))

    assert target.contact_id is None and target.removal is None and target.reason


def test_a_pipedrive_activity_delete_still_names_its_person() -> None:
    change = Change("pipedrive", "delete", "activity", "88", AT, {}, {"id": 88, "person_id": 301}, {})
    [(_, document)] = Vendors(WebhookConfig(url="http://127.0.0.1:1/webhooks")).events(change)
    [event] = pipedrive_events(json.dumps(document).encode())

    assert event_target(event) == Target("301")
