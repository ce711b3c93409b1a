"""Builds the configured CRM's adapter from settings: the one place that knows every adapter's config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import CRMAdapter
from sync.settings import Settings


def build_adapter(settings: Settings, read_fields: Sequence[str], **overrides: Any) -> CRMAdapter:
    """The adapter for ``settings.crm``, reading ``read_fields`` (the write-back fields) besides its defaults."""
    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    if settings.crm == "hubspot":
        from connectors.hubspot import HubSpotAdapter, HubSpotConfig

        hs = HubSpotConfig.from_settings(settings.hubspot, extra_fields=read_fields, ca_path=ca, **overrides)
        return HubSpotAdapter(hs)
    if settings.crm == "salesforce":
        from connectors.salesforce import SalesforceAdapter, SalesforceConfig

        sf_settings = settings.salesforce
        sf = SalesforceConfig(
            username=sf_settings.username,
            password=sf_settings.password,
            security_token=sf_settings.security_token,
            consumer_key=sf_settings.consumer_key,
            consumer_secret=sf_settings.consumer_secret,
            private_key_file=str(sf_settings.private_key_file) if sf_settings.private_key_file else None,
            session_id=sf_settings.session_id,
            instance_url=sf_settings.instance_url,
            auth=sf_settings.auth,
            login_url=sf_settings.login_url,
            api_version=sf_settings.api_version,
            ca_path=ca,
            objects=(sf_settings.object,),
            extra_fields=tuple(read_fields),
            **overrides,
        )
        return SalesforceAdapter(sf)
    from connectors.pipedrive import PipedriveAdapter, PipedriveConfig

    pd = PipedriveConfig.from_settings(settings.pipedrive, extra_fields=tuple(read_fields), ca_path=ca, **overrides)
    return PipedriveAdapter(pd)
