"""How the sandbox's canonical people and activities become HubSpot properties: contact properties and
rollups from a person, and the engagement (email, meeting, call or labelled note) for each activity type."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.sandbox.hubspot.model import iso, prop_str, to_ms

# Labels the notes of non-email/meeting/call activities start with (the adapter's activity map knows them).
NOTE_LABELS: dict[str, str] = {
    "page_view": "Page view",
    "form_submission": "Form submission",
    "demo_request": "Demo request",
    "webinar_registration": "Webinar registration",
    "webinar_attended": "Webinar attended",
    "content_download": "Content download",
    "social_engagement": "Social engagement",
    "unsubscribe": "Unsubscribe",
    "note": "Note",
    "other": "Activity",
}
EMAIL_TYPES = {"email_open", "email_click", "email_sent", "email_reply", "bounce"}
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
        props = {
            "hs_timestamp": at,
            "hs_email_subject": title,
            "hs_email_direction": "INCOMING_EMAIL" if kind == "email_reply" else "EMAIL",
            "hs_email_status": "BOUNCED" if kind == "bounce" else "SENT",
        }
        if kind in ("email_open", "email_click"):
            props["hs_email_open_count"] = "1"
        if kind == "email_click":
            props["hs_email_click_count"] = "1"
        return "emails", props
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
    label = NOTE_LABELS.get(kind, NOTE_LABELS["other"])
    details = "".join(f"\n{k}: {v}" for k, v in sorted(attributes.items()))
    return "notes", {"hs_timestamp": at, "hs_note_body": f"{label}: {title}{details}"}


def rollup_updates(
    props: Mapping[str, Any], kind: str, attrs: Mapping[str, Any], when: datetime
) -> dict[str, str | None]:
    """The contact rollups a new activity of ``kind`` changes, given the contact's current properties."""
    counter = {
        "page_view": "hs_analytics_num_page_views",
        "email_open": "hs_email_open",
        "email_click": "hs_email_click",
        "form_submission": "num_conversion_events",
        "demo_request": "num_conversion_events",
    }.get(kind)
    updates: dict[str, str | None] = {}
    if counter:
        updates[counter] = str(int(props.get(counter) or 0) + 1)
    if kind == "page_view":
        updates["hs_analytics_last_visit_timestamp"] = iso(to_ms(when))
    if kind in ("form_submission", "demo_request"):
        updates["recent_conversion_event_name"] = str(attrs.get("form") or NOTE_LABELS[kind])
    return updates
