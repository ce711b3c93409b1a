"""How the sandbox's canonical people and activities become HubSpot data, where HubSpot keeps each kind:
contact properties and rollups from a person; form fills as form submissions, marketing-email opens, clicks,
bounces and unsubscribes as email events, page views as web analytics events; sales emails, meetings, calls
and everything else as CRM engagements (notes are plain notes: HubSpot labels no note by its activity type)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.sandbox.hubspot.model import iso, prop_str, to_ms

# Form-fill activity types -> the form they are filed under when the dataset names none.
DEFAULT_FORMS: dict[str, str] = {
    "form_submission": "Contact us",
    "demo_request": "Request a demo",
    "webinar_registration": "Webinar registration",
    "content_download": "Gated content",
}
FORM_TYPES = frozenset(DEFAULT_FORMS)
# Marketing-email activity types -> email event type (an unsubscribe is a STATUSCHANGE).
EMAIL_EVENT_TYPES: dict[str, str] = {
    "email_open": "OPEN",
    "email_click": "CLICK",
    "bounce": "BOUNCE",
    "unsubscribe": "STATUSCHANGE",
}
WEB_TYPES = frozenset({"page_view"})
BEHAVIOUR_TYPES = FORM_TYPES | frozenset(EMAIL_EVENT_TYPES) | WEB_TYPES  # not CRM engagements
# Kinds HubSpot keeps nowhere of its own (webinar attendance lives in the webinar tool, social engagement in
# the social tool): a dataset's are loaded as plain notes, which read back as notes.
UNHOMED_TYPES = frozenset({"webinar_attended", "social_engagement", "other"})
SITE = "https://www.leadsync-demo.com"
EMAIL_TYPES = {"email_sent", "email_reply"}  # sales emails: CRM email engagements
SALES_TYPES = {"email_reply", "email_sent", "meeting", "call"}


def person_props(person: Any, owner_of: Mapping[str, str]) -> dict[str, str | None]:
    """A dataset person as contact properties; ``owner_of`` maps owner keys to HubSpot owner ids."""
    props: dict[str, str | None] = {
        "email": person.email,
        "firstname": person.first_name,
        "lastname": person.last_name,
        "jobtitle": person.title,
        "company": person.company,
        "industry": person.industry,
        "numemployees": person.employees,
        "country": person.country,
        "city": person.city,
        "phone": person.phone,
        "hs_analytics_source": person.lead_source,
        "lifecyclestage": person.lifecycle_stage,
        "hs_lead_status": "NEW" if person.lifecycle_stage in ("subscriber", "lead") else "OPEN",
        "hubspot_owner_id": owner_of.get(person.owner_key) if person.owner_key else None,
        "hs_email_optout": "true" if person.do_not_email else None,
        "hs_analytics_num_page_views": str(person.page_views),
        "hs_analytics_num_visits": str(person.visits),
        "hs_email_open": str(person.email_opens),
        "hs_email_click": str(person.email_clicks),
        "num_conversion_events": str(person.form_submissions),
        "hs_analytics_last_visit_timestamp": prop_str(person.last_visit_at),
    }
    if person.lifecycle_stage == "customer":
        props["hs_lifecyclestage_customer_date"] = iso(to_ms(person.updated_at))
    for key, value in (person.extra or {}).items():
        props.setdefault(key, value)
    return props


def engagement_props(
    kind: str, subject: str, attributes: Mapping[str, str], occurred_at: datetime
) -> tuple[str, dict[str, str]]:
    """(object type, properties) of the engagement recording one canonical activity."""
    at = iso(to_ms(occurred_at))
    title = subject or attributes.get("campaign") or attributes.get("asset") or attributes.get("form") or ""
    if kind in EMAIL_TYPES:
        return "emails", {
            "hs_timestamp": at,
            "hs_email_subject": title,
            "hs_email_direction": "INCOMING_EMAIL" if kind == "email_reply" else "EMAIL",
            "hs_email_status": "SENT",
        }
    if kind == "meeting":
        return "meetings", {
            "hs_timestamp": at,
            "hs_meeting_title": title or "Meeting",
            "hs_meeting_start_time": at,
            "hs_meeting_outcome": "COMPLETED",
        }
    if kind == "call":
        return "calls", {
            "hs_timestamp": at,
            "hs_call_title": title or "Call",
            "hs_call_direction": "OUTBOUND",
            "hs_call_status": "COMPLETED",
        }
    details = "".join(f"\n{k}: {v}" for k, v in sorted(attributes.items()))
    return "notes", {"hs_timestamp": at, "hs_note_body": f"{title or kind.replace('_', ' ')}{details}"}


def form_name(kind: str, attributes: Mapping[str, str]) -> str:
    return attributes.get("form") or DEFAULT_FORMS[kind]


def page_url(kind: str, attributes: Mapping[str, str]) -> str:
    url = attributes.get("url") or {"demo_request": "/demo", "webinar_registration": "/webinars"}.get(kind, "/contact")
    return url if url.startswith("http") else SITE + url


def campaign_id(attributes: Mapping[str, str], subject: str) -> int:
    """A stable marketing-email campaign id for the campaign name."""
    return 10_000_000 + zlib.crc32((attributes.get("campaign") or subject or "newsletter").encode()) % 9_000_000


def email_event_extra(kind: str, attributes: Mapping[str, str], subject: str) -> dict[str, Any]:
    """The fields an email event of ``kind`` carries beyond the common ones."""
    extra: dict[str, Any] = {"subject": subject or attributes.get("campaign") or ""}
    if kind == "email_click":
        extra["url"] = page_url(kind, attributes) if attributes.get("url") else SITE + "/"
    elif kind == "bounce":
        extra.update({"category": "HARD_BOUNCE", "response": attributes.get("reason") or "550 mailbox unavailable"})
    elif kind == "unsubscribe":
        extra.update(
            {
                "source": "SOURCE_RECIPIENT",
                "portalSubscriptionStatus": "UNSUBSCRIBED",
                "subscriptions": [{"id": 1, "status": "UNSUBSCRIBED"}],
            }
        )
    return extra


def page_view_properties(attributes: Mapping[str, str], subject: str) -> dict[str, str]:
    return {"hs_url": page_url("page_view", attributes), "hs_title": subject or "", "hs_referrer": ""}


def rollup_updates(
    props: Mapping[str, Any], kind: str, attrs: Mapping[str, Any], when: datetime
) -> dict[str, str | None]:
    """The contact rollups a new activity of ``kind`` changes, given the contact's current properties."""
    counter = {
        "page_view": "hs_analytics_num_page_views",
        "email_open": "hs_email_open",
        "email_click": "hs_email_click",
        "bounce": "hs_email_bounce",
    }.get(kind)
    if kind in FORM_TYPES:
        counter = "num_conversion_events"
    at = iso(to_ms(when))
    updates: dict[str, str | None] = {}
    if counter:
        updates[counter] = str(int(props.get(counter) or 0) + 1)
    if kind == "page_view":
        updates["hs_analytics_last_visit_timestamp"] = at
    if kind == "email_open":
        updates["hs_email_last_open_date"] = at
    if kind == "email_click":
        updates["hs_email_last_click_date"] = at
    if kind == "unsubscribe":
        updates["hs_email_optout"] = "true"
    if kind in FORM_TYPES:
        updates["recent_conversion_event_name"] = form_name(kind, {k: str(v) for k, v in attrs.items()})
        updates["recent_conversion_date"] = at
    return updates
