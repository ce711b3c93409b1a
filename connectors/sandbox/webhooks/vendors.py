"""Each vendor's webhook as it is sent: the events a change becomes, and the HTTP request that carries a batch
of them (body and headers, built again for each attempt since the attempt number is in the body).

- HubSpot webhooks API: a JSON array of up to 100 events, signed ``X-HubSpot-Signature-v3``.
- HubSpot workflow "Send a webhook" (form submissions): the enrolled contact as the legacy contacts API returns
  it (``vid``, ``properties`` with ``value``/``versions``), signed the same way.
- Pipedrive webhooks v2: one ``{meta, data, previous}`` object per request, HTTP basic auth.
- Salesforce: leadsync's Flow HTTP callout contract, ``{organizationId, records}`` with ``X-Leadsync-Secret``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.salesforce.ids import ORG_ID
from connectors.sandbox.store import Change
from connectors.sandbox.webhooks.config import WebhookConfig

Request = tuple[bytes, dict[str, str]]
SALESFORCE_SECRET_HEADER = "X-Leadsync-Secret"
# HubSpot gives each subscription an id; the sandbox's app has one per subscription type
_SUBSCRIPTIONS = {
    "contact.creation": 1201,
    "contact.propertyChange": 1202,
    "contact.deletion": 1203,
    "contact.merge": 1204,
}
_HS_SOURCE = {"api": "API", "app": "CRM_UI"}


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def hubspot_signature_v3(secret: str, *, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(app secret, method + URI + body + timestamp)) as HubSpot signs every request."""
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), default=str).encode()


class Vendors:
    """Turns changes into events and batches into requests, for every channel; event ids are unique per sandbox."""

    def __init__(self, config: WebhookConfig):
        self.config = config
        self._ids = itertools.count(1_000_000_001)
        self._lock = threading.Lock()

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    # -- changes -> (channel, event) -------------------------------------------------------------------------------
    def events(self, change: Change) -> list[tuple[str, dict[str, Any]]]:
        if change.crm == "hubspot":
            return self._hubspot(change)
        if change.crm == "pipedrive":
            return [("pipedrive", self._pipedrive(change))]
        if change.crm == "salesforce":
            return [("salesforce", {**change.data, "attributes": {"type": change.object_type}})]
        return []

    def _hubspot(self, change: Change) -> list[tuple[str, dict[str, Any]]]:
        if change.object_type != "contacts":
            return []
        if change.action == "form":
            return [("hubspot_workflow", self._workflow_contact(change))] if self.config.hubspot_workflow_forms else []
        base = {
            "portalId": self.config.hubspot_portal_id,
            "appId": self.config.hubspot_app_id,
            "occurredAt": _ms(change.at),
            "objectId": int(change.object_id),
            "changeSource": _HS_SOURCE.get(change.source, "CRM_UI"),
        }
        if change.action == "change":
            return [
                ("hubspot", self._hs_event("contact.propertyChange", base, propertyName=k, propertyValue=str(v or "")))
                for k, v in change.data.items()
            ]
        kind = {"create": "contact.creation", "delete": "contact.deletion", "merge": "contact.merge"}[change.action]
        return [("hubspot", self._hs_event(kind, base, **change.extra))]

    def _hs_event(self, kind: str, base: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
        event_id = self._next_id()
        event = {"eventId": event_id, "subscriptionId": _SUBSCRIPTIONS[kind], **base, "subscriptionType": kind}
        return event | fields

    def _workflow_contact(self, change: Change) -> dict[str, Any]:
        stamp = _ms(change.at)
        properties = {
            name: {"value": str(value), "versions": [{"value": str(value), "source-type": "FORM", "timestamp": stamp}]}
            for name, value in change.data.items()
        }
        vid = int(change.object_id)
        return {
            "vid": vid,
            "canonical-vid": vid,
            "merged-vids": [],
            "portal-id": self.config.hubspot_portal_id,
            "is-contact": True,
            "properties": properties,
        }

    def _pipedrive(self, change: Change) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "action": change.action,
            "entity": change.object_type,
            "company_id": "7001",
            "correlation_id": str(uuid.uuid4()),
            "entity_id": change.object_id,
            "id": str(uuid.uuid4()),
            "is_bulk_edit": False,
            "timestamp": change.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "type": "general",
            "user_id": "1",
            "version": "2.0",
            "webhook_id": "301",
            "webhook_owner_id": "1",
            "change_source": change.source,
            "host": "sandbox.pipedrive.com",
            "permitted_user_ids": ["1"],
            **change.extra,
        }
        return {"meta": meta, "data": change.data or None, "previous": change.previous or None}

    # -- a batch -> an HTTP request -----------------------------------------------------------------------------
    def request(self, channel: str, url: str, items: list[dict[str, Any]], attempt: int, now: datetime) -> Request:
        """Body and headers of ``attempt`` (1 = the first try) of one request carrying ``items``."""
        build: dict[str, Callable[[str, list[dict[str, Any]], int, datetime], Request]] = {
            "hubspot": self._hubspot_request,
            "hubspot_workflow": self._workflow_request,
            "pipedrive": self._pipedrive_request,
            "salesforce": self._salesforce_request,
        }
        return build[channel](url, items, attempt, now)

    def _signed(self, url: str, body: bytes, now: datetime) -> dict[str, str]:
        stamp = str(_ms(now))
        secret = self.config.hubspot_app_secret
        signature = hubspot_signature_v3(secret, method="POST", uri=url, body=body, timestamp=stamp)
        return {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": stamp,
        }

    def _hubspot_request(self, url: str, items: list[dict[str, Any]], attempt: int, now: datetime) -> Request:
        body = _json([{**event, "attemptNumber": attempt - 1} for event in items])  # HubSpot counts from 0
        return body, self._signed(url, body, now)

    def _workflow_request(self, url: str, items: list[dict[str, Any]], attempt: int, now: datetime) -> Request:
        body = _json(items[0])
        return body, self._signed(url, body, now)

    def _pipedrive_request(self, url: str, items: list[dict[str, Any]], attempt: int, now: datetime) -> Request:
        document = items[0]
        body = _json({**document, "meta": {**document["meta"], "attempt": attempt}})  # Pipedrive counts from 1
        credentials = f"{self.config.pipedrive_user}:{self.config.pipedrive_password}".encode()
        return body, {
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(credentials).decode(),
        }

    def _salesforce_request(self, url: str, items: list[dict[str, Any]], attempt: int, now: datetime) -> Request:
        body = _json({"organizationId": ORG_ID, "records": items})
        return body, {"Content-Type": "application/json", SALESFORCE_SECRET_HEADER: self.config.salesforce_secret}


def retries_after(channel: str, status: int) -> bool:
    """Whether the vendor retries after answer ``status`` (0: no answer: connection failed or timed out)."""
    if 200 <= status < 300:
        return False
    if channel == "hubspot":
        return status not in (400, 401, 403, 404, 405)  # HubSpot gives up on these
    if channel == "hubspot_workflow":
        return status == 429 or not 400 <= status < 500  # workflows give up on a 4xx, except 429
    return True  # Pipedrive and Salesforce retry whatever went wrong
