"""Salesforce connector: Leads and/or Contacts with their Tasks, Events, CampaignMembers and Opportunities,
through simple-salesforce (REST API, SOQL, sObject Collections, Composite); the write-back fields created over
the Tooling API and granted through a permission set (``fields.py``)."""

from connectors.salesforce.adapter import SalesforceAdapter, api_name
from connectors.salesforce.config import (
    DEFAULT_ACTIVITY_TYPE_MAP,
    DEFAULT_CONTACT_FIELD_MAP,
    DEFAULT_LEAD_FIELD_MAP,
    SalesforceConfig,
)

__all__ = [
    "DEFAULT_ACTIVITY_TYPE_MAP",
    "DEFAULT_CONTACT_FIELD_MAP",
    "DEFAULT_LEAD_FIELD_MAP",
    "SalesforceAdapter",
    "SalesforceConfig",
    "api_name",
]
