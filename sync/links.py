"""Links to a contact's page in the CRM's web app, for notifications and the dashboard alike.

``record_url`` builds the address from the few values each CRM needs (see docs/crm-api.md, "Record pages");
``record_link`` takes them from settings (``LEADSYNC_NOTIFY__HUBSPOT_PORTAL_ID``, ``__HUBSPOT_APP_URL``,
``__SALESFORCE_URL`` or ``SALESFORCE__INSTANCE_URL``, ``__PIPEDRIVE_COMPANY_DOMAIN``).  Both return "" when a
value they need is missing: no link is better than a wrong one.
"""

from __future__ import annotations

from urllib.parse import quote

from sync.settings import Settings

HUBSPOT_CONTACT_TYPE = "0-1"  # HubSpot's object type id of contacts


def record_url(
    crm: str,
    contact_id: str,
    *,
    object_type: str = "contact",
    hubspot_portal_id: str | None = None,
    hubspot_app_url: str = "https://app.hubspot.com",
    salesforce_url: str | None = None,
    pipedrive_company_domain: str | None = None,
) -> str:
    """The contact's page in the CRM's web app; "" when the setting it needs is missing."""
    cid = quote(contact_id, safe="")
    if crm == "hubspot" and hubspot_portal_id:
        portal = quote(hubspot_portal_id, safe="")
        return f"{hubspot_app_url.rstrip('/')}/contacts/{portal}/record/{HUBSPOT_CONTACT_TYPE}/{cid}"
    if crm == "salesforce" and salesforce_url:
        sobject = "Contact" if object_type.lower() == "contact" else "Lead"
        return f"{salesforce_url.rstrip('/')}/lightning/r/{sobject}/{cid}/view"
    if crm == "pipedrive" and pipedrive_company_domain:
        domain = pipedrive_company_domain.strip().removeprefix("https://").rstrip("/").removesuffix(".pipedrive.com")
        return f"https://{quote(domain, safe='')}.pipedrive.com/person/{cid}"
    return ""


def record_link(settings: Settings, contact_id: str, object_type: str = "contact") -> str:
    """``record_url`` from settings: the same link in a Slack message, an e-mail and the dashboard."""
    n = settings.notify
    return record_url(
        settings.crm,
        contact_id,
        object_type=object_type,
        hubspot_portal_id=n.hubspot_portal_id,
        hubspot_app_url=n.hubspot_app_url,
        salesforce_url=n.salesforce_url or settings.salesforce.instance_url,
        pipedrive_company_domain=n.pipedrive_company_domain,
    )
