"""Builds the configured CRM's adapter from settings: the one place that knows every adapter's config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import CRMAdapter
from sync.settings import Settings

# The most contacts each adapter's page may hold (its config's page_size bound).
MAX_PAGE_SIZE = {"hubspot": 10_000, "salesforce": 2000, "pipedrive": 500}


def build_adapter(settings: Settings, read_fields: Sequence[str], **overrides: Any) -> CRMAdapter:
    """The adapter for ``settings.crm``, reading ``read_fields`` (the write-back fields) besides its defaults.

    Pages hold ``settings.batch_size`` contacts (at most what the CRM's API allows): a page is the batch the
    pipeline scores, writes and checkpoints together.
    """
    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    overrides.setdefault("page_size", min(settings.batch_size, MAX_PAGE_SIZE[settings.crm]))
    if settings.crm == "hubspot":
        from connectors.hubspot import HubSpotAdapter, HubSpotConfig

        hs = HubSpotConfig.from_settings(settings.hubspot, extra_fields=read_fields, ca_path=ca, **overrides)
        return HubSpotAdapter(hs)
    if settings.crm == "salesforce":
        from connectors.salesforce import SalesforceAdapter, SalesforceConfig

        sf = SalesforceConfig.from_config(settings.salesforce, extra_fields=tuple(read_fields), ca_path=ca, **overrides)
        return SalesforceAdapter(sf)
    from connectors.pipedrive import PipedriveAdapter, PipedriveConfig

    pd = PipedriveConfig.from_settings(settings.pipedrive, extra_fields=tuple(read_fields), ca_path=ca, **overrides)
    return PipedriveAdapter(pd)
