"""Each CRM's webhook body turned into ``WebhookEvent`` records, keyed by the vendor's event id.

A body that is not JSON, or not the vendor's shape, raises ``Rejected(400)``: a retry would not fix it.

- HubSpot: a JSON array of events, each with ``eventId``, ``subscriptionType`` (``contact.propertyChange``...),
  ``objectId`` and ``occurredAt`` (ms).  The key is ``eventId``.
- HubSpot workflow "Send a webhook" (form submissions): one JSON object, the contact as the legacy contacts API
  returns it (``vid``, ``properties.<name>.value``).  The key is the contact id + its ``lastmodifieddate``.
- Pipedrive webhooks v2: one object ``{"meta": {...}, "data": {...}, "previous": {...}}``; ``meta`` has
  ``action`` (create/change/delete), ``entity`` (person, activity...), ``entity_id``, ``id`` (the event's id)
  and ``timestamp``.  The key is ``meta.id``, else ``meta.correlation_id``, else entity + entity id + action +
  timestamp (a retry keeps those).  A webhooks v1 body (``current``, ``meta.object``, ``meta.action``
  added/updated/merged/deleted) is read in v2's words; its key is object + id + action + ``timestamp_micro``.
- Salesforce Flow HTTP callout (leadsync's own contract, README "Webhook intake"):
  ``{"organizationId": "00D...", "records": [{"Id": "00Q...", "LastModifiedDate": "...", "attributes":
  {"type": "Lead"}}]}``.  The key is record id + LastModifiedDate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sync.server.verify import Rejected, same_org
from sync.state import WebhookEvent

# Salesforce key prefixes of the objects a Flow may send, for bodies without ``attributes.type``
_SF_PREFIXES = {"00Q": "Lead", "003": "Contact", "00T": "Task", "00U": "Event", "00v": "CampaignMember"}


MAX_DEPTH = 32  # the vendors' bodies nest a few levels; a deeper one is hostile
MAX_ID = 255  # characters of an id or event type (the vendors' are under 40)


def parse_json(body: bytes) -> Any:
    """The body as JSON, refused (400) when it is not JSON, nests deeper than ``MAX_DEPTH``, holds a number of
    over 4,300 digits or text that is not Unicode (a lone surrogate the state store could not save)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Rejected(400, "the body is not valid JSON") from None
    except RecursionError:
        raise Rejected(400, f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # Python refuses to convert an integer of over 4,300 digits
        raise Rejected(400, "the body holds a number too long to read") from None
    _check_shape(document)
    return document


def _check_shape(document: Any) -> None:
    """Depth and text of a parsed body, walked without recursion."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Rejected(400, "the body holds text that is not valid Unicode (a lone surrogate)") from None
            continue
        children = list(value.items()) if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise Rejected(400, f"the body nests deeper than {MAX_DEPTH} levels")
        for child in children:
            if isinstance(child, tuple):  # a key and its value
                stack.append((child[0], depth))
                stack.append((child[1], depth + 1))
            else:
                stack.append((child, depth + 1))


def _epoch(value: object, *, millis: bool, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Rejected(400, f"{what} is missing or not a time")
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return _iso(value, what)
    seconds = int(value) / 1000 if millis else int(value)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejected(400, f"{what} is out of range") from None


def _iso(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise Rejected(400, f"{what} is missing or not a date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(400, f"{what} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise Rejected(400, f"{what} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-23:00 is past the last date Python can hold
        raise Rejected(400, f"{what} is out of range") from None


def _text(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise Rejected(400, f"{what} is missing")
    text = str(value)
    if len(text) > MAX_ID or not text.isprintable():
        raise Rejected(400, f"{what} is not an id (over {MAX_ID} characters, or control characters)")
    return text


def hubspot_events(body: bytes) -> list[WebhookEvent]:
    document = parse_json(body)
    if isinstance(document, Mapping) and "vid" in document:
        return [_hubspot_workflow_event(document)]
    if not isinstance(document, list) or not document:
        raise Rejected(400, "a HubSpot webhook body is a non-empty JSON array of events (or a workflow's contact)")
    events = []
    for index, item in enumerate(document):
        if not isinstance(item, Mapping):
            raise Rejected(400, f"event {index} is not a JSON object")
        kind = _text(item.get("subscriptionType"), f"event {index}: subscriptionType")
        events.append(
            WebhookEvent(
                crm="hubspot",
                event_id=_text(item.get("eventId"), f"event {index}: eventId"),
                kind=kind,
                object_type=kind.split(".", 1)[0],
                object_id=_text(item.get("objectId"), f"event {index}: objectId"),
                occurred_at=_epoch(item.get("occurredAt"), millis=True, what=f"event {index}: occurredAt"),
                payload=dict(item),
            )
        )
    return events


def _hubspot_workflow_event(contact: Mapping[str, Any]) -> WebhookEvent:
    """A workflow "Send a webhook" body (the contact, legacy shape); keyed on the contact and its last change."""
    object_id = _text(contact.get("canonical-vid") or contact.get("vid"), "vid")
    properties = contact.get("properties")
    modified = properties.get("lastmodifieddate") if isinstance(properties, Mapping) else None
    stamp = modified.get("value") if isinstance(modified, Mapping) else None
    if stamp is None:
        raise Rejected(400, "a HubSpot workflow webhook needs properties.lastmodifieddate")
    return WebhookEvent(
        crm="hubspot",
        event_id=f"workflow:{object_id}:{stamp}",
        kind="contact.workflow",
        object_type="contact",
        object_id=object_id,
        occurred_at=_epoch(stamp, millis=True, what="properties.lastmodifieddate"),
        payload=dict(contact),
    )


# webhooks v1 action words -> v2's (v2 folded "merged" into "change": crm-api/pipedrive.md 1.9)
_PD_V1_ACTIONS = {"added": "create", "updated": "change", "merged": "change", "deleted": "delete"}


def _pipedrive_v1(document: Mapping[str, Any]) -> dict[str, Any]:
    """A webhooks v1 body (``current``/``previous``, ``meta.object``, ``meta.id`` the object's id, top-level
    ``retry``) in v2's words, so one parser and one worker serve both; the v1 body is kept under ``v1``."""
    meta = document["meta"]
    action = _text(meta.get("action"), "meta.action")
    current = document.get("current")
    entity_id = meta.get("id") or (current.get("id") if isinstance(current, Mapping) else None)
    stamp = meta.get("timestamp_micro") or meta.get("timestamp")
    v2_meta = {
        "action": _PD_V1_ACTIONS.get(action, action),
        "entity": meta.get("object"),
        "entity_id": entity_id,
        "timestamp": meta.get("timestamp"),
        # v1 sends no event id; its micro-second timestamp tells two edits of one object apart, a retry keeps it
        "correlation_id": f"v1:{meta.get('object')}:{entity_id}:{action}:{stamp}",
    }
    return {"meta": v2_meta, "data": current, "previous": document.get("previous"), "v1": dict(document)}


def pipedrive_events(body: bytes) -> list[WebhookEvent]:
    document = parse_json(body)
    if not isinstance(document, Mapping) or not isinstance(document.get("meta"), Mapping):
        raise Rejected(400, 'a Pipedrive webhook body is a JSON object with "meta", "data" and "previous"')
    if "entity" not in document["meta"] and "object" in document["meta"]:
        document = _pipedrive_v1(document)
    meta = document["meta"]
    action = _text(meta.get("action"), "meta.action")
    entity = _text(meta.get("entity"), "meta.entity")
    data = document.get("data")
    entity_id = meta.get("entity_id") or (data.get("id") if isinstance(data, Mapping) else None)
    object_id = _text(entity_id, "meta.entity_id")
    stamp = meta.get("timestamp")
    occurred_at = _epoch(stamp, millis=False, what="meta.timestamp")
    # meta.id is documented as the event's id; older bodies without it fall back to the correlation id
    documented = meta.get("id") or meta.get("correlation_id")
    event_id = _text(documented, "meta.id") if documented else f"{entity}:{object_id}:{action}:{stamp}"
    return [
        WebhookEvent(
            crm="pipedrive",
            event_id=event_id,
            kind=f"{action}.{entity}",
            object_type=entity,
            object_id=object_id,
            occurred_at=occurred_at,
            payload=dict(document),
        )
    ]


def salesforce_events(body: bytes, *, org_id: str) -> list[WebhookEvent]:
    document = parse_json(body)
    if not isinstance(document, Mapping) or not isinstance(document.get("records"), list) or not document["records"]:
        raise Rejected(400, 'a Salesforce callout body is a JSON object with "organizationId" and "records"')
    if not same_org(document.get("organizationId"), org_id):
        raise Rejected(403, "organizationId is not the configured LEADSYNC_SERVER__SALESFORCE_ORG_ID")
    events = []
    for index, record in enumerate(document["records"]):
        if not isinstance(record, Mapping):
            raise Rejected(400, f"record {index} is not a JSON object")
        record_id = _text(record.get("Id"), f"record {index}: Id")
        modified = record.get("LastModifiedDate")
        attributes = record.get("attributes")
        object_type = attributes.get("type") if isinstance(attributes, Mapping) else None
        object_type = object_type or _SF_PREFIXES.get(record_id[:3], "unknown")
        events.append(
            WebhookEvent(
                crm="salesforce",
                event_id=f"{record_id}:{modified}",
                kind=f"{object_type}.changed",
                object_type=str(object_type),
                object_id=record_id,
                occurred_at=_iso(modified, f"record {index}: LastModifiedDate"),
                payload=dict(record),
            )
        )
    return events
