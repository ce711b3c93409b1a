"""Salesforce connector: Leads and/or Contacts with their Tasks, Events, CampaignMembers and Opportunities,
through simple-salesforce (REST API, SOQL, sObject Collections, Composite); the write-back fields created over
the Tooling API and granted through a permission set (``fields.py``)."""

from connectors.salesforce.adapter import SalesforceAdapter
from connectors.salesforce.config import (
    DEFAULT_ACTIVITY_TYPE_MAP,
    DEFAULT_CONTACT_FIELD_MAP,
    DEFAULT_LEAD_FIELD_MAP,
    SalesforceConfig,
)
from connectors.salesforce.fields import api_name

__all__ = [
    "DEFAULT_ACTIVITY_TYPE_MAP",
    "DEFAULT_CONTACT_FIELD_MAP",
    "DEFAULT_LEAD_FIELD_MAP",
    "SalesforceAdapter",
    "SalesforceConfig",
    "api_name",
]
