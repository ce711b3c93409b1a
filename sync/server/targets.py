"""Which contact a queued webhook event asks leadsync to rescore: pure, one rule per CRM.

``event_target(event, ...)`` gives a ``Target``: the contact id to read, or the reason the event names none
(then it is acked with that reason and never retried: a retry would read the same payload).

- HubSpot: a ``contact.*`` event names the contact in ``objectId`` (a merge: ``newObjectId`` when the merge
  created a record, else ``primaryObjectId``, the survivor); a workflow "Send a webhook"
  (``contact.workflow``) names it by its ``canonical-vid``/``vid``.
  A ``contact.propertyChange`` of one of leadsync's own write-back properties is its own write
  coming back; a ``contact.deletion`` is left to the next sync, which reads archives and merges together.
- Pipedrive: a ``person`` event names the person (``meta.entity_id``); an ``activity`` event names the
  activity's person (``data.person_id``, else its primary participant; for a delete, ``previous``).  A person
  ``delete`` is a ``Removal``: merged into ``meta.merged_to_id`` (the survivor, then rescored) or deleted;
  Pipedrive's polling reads show neither (docs/crm-api/pipedrive.md 1.8), so the worker settles it at once.
- Salesforce: a Lead or Contact record (the configured object) names itself; a Task or Event names its
  ``WhoId`` when that is a record of the configured object; a CampaignMember (form fill, webinar) its
  ``LeadId`` / ``ContactId``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import Removal
from connectors.pipedrive.mapping import activity_person_id
from sync.state import WebhookEvent

# Salesforce key prefixes of the objects leadsync scores
SALESFORCE_PREFIX = {"Lead": "00Q", "Contact": "003"}


@dataclass(frozen=True, slots=True)
class Target:
    contact_id: str | None
    reason: str | None = None  # why there is no contact to rescore
    removal: Removal | None = None  # an id the event says is gone: deleted, or merged into ``contact_id``


def _skip(reason: str) -> Target:
    return Target(None, reason)


def event_target(event: WebhookEvent, *, salesforce_object: str = "Lead", own_fields: Collection[str] = ()) -> Target:
    """The contact ``event`` asks to rescore, or why none (``own_fields``: HubSpot properties leadsync writes)."""
    if event.crm == "hubspot":
        return _hubspot(event, own_fields)
    if event.crm == "pipedrive":
        return _pipedrive(event)
    if event.crm == "salesforce":
        return _salesforce(event, salesforce_object)
    return _skip(f"unknown CRM {event.crm!r}")


def _hubspot(event: WebhookEvent, own_fields: Collection[str]) -> Target:
    payload = event.payload
    if event.object_type != "contact":
        return _skip(f"a {event.kind} event is not about a contact")
    if event.kind == "contact.deletion":
        return _skip("the contact was deleted: the next sync forgets it")
    changed = payload.get("propertyName")
    if event.kind == "contact.propertyChange" and isinstance(changed, str) and changed in own_fields:
        return _skip(f"leadsync's own write of {changed} coming back")
    # a merge may create a new record (newObjectId); else the primary one survives
    merged = event.kind == "contact.merge"
    survivor = (payload.get("newObjectId") or payload.get("primaryObjectId")) if merged else None
    return _id(survivor or event.object_id, "objectId", _NUMERIC)


def _pipedrive(
    event: WebhookEvent,
) -> Target:
    payload = event.payload
    action = event.kind.split(".", 1)[0]
    if event.object_type == "person":
        if action == "delete":
            return _pipedrive_removal(event)
        return _id(event.object_id, "meta.entity_id", _NUMERIC)
    if event.object_type == "activity":
        for part in ("data", "previous"):
            record = payload.get(part)
            if isinstance(record, Mapping):
                try:
                    person = activity_person_id(record)
                except (TypeError, ValueError, KeyError, AttributeError):
                    return _skip(f"the activity's {part}.person_id is not a person id")
                if person is not None:
                    return _id(person, f"{part}.person_id", _NUMERIC)
        return _skip("the activity names no person (no person_id, no participant)")
    return _skip(f"a {event.kind} event is not about a person or an activity")


def _pipedrive_removal(event: WebhookEvent) -> Target:
    """A person ``delete``: webhooks v2 send a merge as a delete whose meta names the survivor (``merged_to_id``)."""
    gone = _id(event.object_id, "meta.entity_id", _NUMERIC)
    if gone.contact_id is None:
        return gone
    meta = event.payload.get("meta")
    into = meta.get("merged_to_id") if isinstance(meta, Mapping) else None
    if into is None or into == "":
        return Target(None, "the person was deleted", Removal(gone.contact_id, None, event.occurred_at))
    survivor = _id(into, "meta.merged_to_id", _NUMERIC)
    if survivor.contact_id is None or survivor.contact_id == gone.contact_id:
        return _skip(survivor.reason or "meta.merged_to_id names the merged person itself")
    return Target(survivor.contact_id, removal=Removal(gone.contact_id, survivor.contact_id, event.occurred_at))


def _salesforce(event: WebhookEvent, sf_object: str) -> Target:
    prefix = SALESFORCE_PREFIX.get(sf_object, "")
    if event.object_type == sf_object:
        return _id(event.object_id, "Id", _SALESFORCE_ID)
    if event.object_type in ("Task", "Event"):
        who: Any = event.payload.get("WhoId")
        if not isinstance(who, str) or not who:
            return _skip(f"the {event.object_type} has no WhoId in the callout (add WhoId to the Flow's body)")
        if not who.startswith(prefix):
            return _skip(f"the {event.object_type}'s WhoId is not a {sf_object}")
        return _id(who, "WhoId", _SALESFORCE_ID)
    if event.object_type == "CampaignMember":  # a form fill, webinar sign-up or download
        member: Any = event.payload.get(f"{sf_object}Id")
        if not isinstance(member, str) or not member:
            return _skip(f"the CampaignMember has no {sf_object}Id in the callout (add it to the Flow's body)")
        return _id(member, f"{sf_object}Id", _SALESFORCE_ID)
    return _skip(f"a {event.object_type} record is not a {sf_object}, Task, Event or CampaignMember")


# what a record id looks like: HubSpot and Pipedrive number their records, Salesforce ids are 15 or 18 letters
# and digits; anything else would only make the CRM refuse the whole batch read
_NUMERIC = re.compile(r"[0-9]{1,20}")
_SALESFORCE_ID = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")


def _id(value: object, what: str, shape: re.Pattern[str]) -> Target:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        return _skip(f"{what} is missing")
    text = str(value).strip()
    if not shape.fullmatch(text):
        return _skip(f"{what} is not a record id of this CRM")
    return Target(text)
