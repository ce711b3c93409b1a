"""Vendor-shaped webhook bodies and events for the realtime tests and the latency bench.

``webhook_body(crm, ...)`` is what the CRM would POST when ``contact_id`` changed (``activity_id``: a new
activity on it); ``signed_headers`` adds each CRM's authentication; ``queued_event`` is the parsed event.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from sync.server.verify import hubspot_signature_v3
from sync.server.webhooks import hubspot_events, pipedrive_events, salesforce_events
from sync.state import WebhookEvent

HS_SECRET = "hs-app-secret-realtime"
PD_USER, PD_PASSWORD = "leadsync", "pd-password-realtime"
SF_ORG = "00D5g000004XyZaEAK"
SF_SECRET = "sf-shared-secret-realtime"

SERVER_SETTINGS = {
    "LEADSYNC_SERVER__HUBSPOT_APP_SECRET": HS_SECRET,
    "LEADSYNC_SERVER__PIPEDRIVE_USER": PD_USER,
    "LEADSYNC_SERVER__PIPEDRIVE_PASSWORD": PD_PASSWORD,
    "LEADSYNC_SERVER__SALESFORCE_ORG_ID": SF_ORG,
    "LEADSYNC_SERVER__SALESFORCE_SECRET": SF_SECRET,
}


def webhook_body(
    crm: str, contact_id: str, at: datetime, *, activity_id: str | None = None, event_id: str | None = None
) -> bytes:
    key = event_id or uuid.uuid4().hex
    if crm == "hubspot":
        event: dict[str, Any] = {
            "eventId": int(uuid.UUID(key).int % 10**12) if event_id is None else event_id,
            "subscriptionId": 1,
            "portalId": 62515,
            "appId": 1,
            "occurredAt": int(at.timestamp() * 1000),
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": int(contact_id),
            "propertyName": "recent_conversion_date" if activity_id else "jobtitle",
            "propertyValue": "x",
        }
        return json.dumps([event]).encode()
    if crm == "pipedrive":
        entity, entity_id = ("activity", activity_id) if activity_id else ("person", contact_id)
        data: dict[str, Any] = {"id": int(entity_id or 0)}
        if activity_id:
            data["person_id"] = int(contact_id)
        meta = {
            "action": "create" if activity_id else "change",
            "entity": entity,
            "entity_id": str(entity_id),
            "timestamp": int(at.timestamp()),
            "correlation_id": key,
        }
        return json.dumps({"meta": meta, "data": data, "previous": None}).encode()
    record: dict[str, Any] = {
        "Id": activity_id or contact_id,
        "LastModifiedDate": at.isoformat().replace("+00:00", "Z"),  # with Id, the event's key
        "attributes": {"type": "Task" if activity_id else "Lead"},
    }
    if activity_id:
        record["WhoId"] = contact_id
    return json.dumps({"organizationId": SF_ORG, "records": [record]}).encode()


def signed_headers(crm: str, url: str, body: bytes, now: datetime) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if crm == "hubspot":
        stamp = str(int(now.timestamp() * 1000))
        headers["X-HubSpot-Request-Timestamp"] = stamp
        headers["X-HubSpot-Signature-v3"] = hubspot_signature_v3(
            HS_SECRET, method="POST", uri=url, body=body, timestamp=stamp
        )
    elif crm == "pipedrive":
        headers["Authorization"] = "Basic " + base64.b64encode(f"{PD_USER}:{PD_PASSWORD}".encode()).decode()
    else:
        headers["X-Leadsync-Secret"] = SF_SECRET
    return headers


def queued_event(crm: str, contact_id: str, at: datetime, **kwargs: Any) -> WebhookEvent:
    body = webhook_body(crm, contact_id, at, **kwargs)
    if crm == "hubspot":
        return hubspot_events(body)[0]
    if crm == "pipedrive":
        return pipedrive_events(body)[0]
    return salesforce_events(body, org_id=SF_ORG)[0]
