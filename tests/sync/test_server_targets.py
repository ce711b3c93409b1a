"""Which contact a webhook event names (``sync.server.targets``), from bodies as the intake parses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.sandbox.store import Change
from connectors.sandbox.webhooks import WebhookConfig
from connectors.sandbox.webhooks.vendors import Vendors
from sync.server.targets import event_target
from sync.server.webhooks import Rejected, hubspot_events

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
