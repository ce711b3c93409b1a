"""One record-link builder (sync.links) for notifications and the dashboard, from the same settings."""

from __future__ import annotations

import pytest

from sync import links
from sync.dashboard.views import record_link
from sync.notify import message
from sync.settings import DashboardSettings, NotifySettings, SalesforceSettings, Settings


def settings(crm: str, **notify: str) -> Settings:
    return Settings(crm=crm, notify=NotifySettings(**notify))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("crm", "notify", "object_type", "expected"),
    [
        ("hubspot", {"hubspot_portal_id": "4711"}, "contact", "https://app.hubspot.com/contacts/4711/record/0-1/c%2F1"),
        (
            "hubspot",
            {"hubspot_portal_id": "4711", "hubspot_app_url": "https://app-eu1.hubspot.com/"},
            "contact",
            "https://app-eu1.hubspot.com/contacts/4711/record/0-1/c%2F1",
        ),
        ("pipedrive", {"pipedrive_company_domain": "acme"}, "contact", "https://acme.pipedrive.com/person/c%2F1"),
        (
            "pipedrive",
            {"pipedrive_company_domain": "https://acme.pipedrive.com/"},
            "contact",
            "https://acme.pipedrive.com/person/c%2F1",
        ),
        (
            "salesforce",
            {"salesforce_url": "https://acme.my.salesforce.com"},
            "lead",
            "https://acme.my.salesforce.com/lightning/r/Lead/c%2F1/view",
        ),
        ("hubspot", {}, "contact", ""),
        ("pipedrive", {}, "contact", ""),
    ],
)
def test_notifications_and_dashboard_link_alike(
    crm: str, notify: dict[str, str], object_type: str, expected: str
) -> None:
    config = settings(crm, **notify)
    assert links.record_link(config, "c/1", object_type) == expected
    assert record_link(config, "c/1", object_type) == (expected or None)


def test_salesforce_falls_back_to_the_instance_url() -> None:
    config = Settings(crm="salesforce", salesforce=SalesforceSettings(instance_url="https://acme.my.salesforce.com"))
    assert record_link(config, "003X", "contact") == "https://acme.my.salesforce.com/lightning/r/Contact/003X/view"


def test_dashboard_record_url_overrides() -> None:
    config = settings("hubspot", hubspot_portal_id="4711").model_copy(
        update={"dashboard": DashboardSettings(record_url="https://crm.example/people/{id}")}
    )
    assert record_link(config, "a b") == "https://crm.example/people/a%20b"
    assert links.record_link(config, "a b") == "https://app.hubspot.com/contacts/4711/record/0-1/a%20b"


def test_notify_keeps_its_import_path() -> None:
    assert message.record_url is links.record_url
