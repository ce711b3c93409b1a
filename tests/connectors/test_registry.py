"""``connectors.registry``: one entry per CRM, agreeing with the packages, their configs and the settings."""

from __future__ import annotations

import typing
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.base import CountsContacts, CRMAdapter
from connectors.errors import ConfigurationError
from connectors.registry import CRM_NAMES, CRMS, crm_info

# the least settings section each CRM builds from (no call is made while building)
SECTIONS: dict[str, Any] = {
    "hubspot": SimpleNamespace(
        access_token=SecretStr("pat-test"),
        client_id=None,
        client_secret=None,
        refresh_token=None,
        base_url="https://hubspot.test",
    ),
    "salesforce": SimpleNamespace(session_id=SecretStr("00Dtest!session"), instance_url="https://sf.test"),
    "pipedrive": SimpleNamespace(api_token=SecretStr("pd-test"), base_url="https://pd.test"),
}


def test_the_registry_names_the_crms_the_settings_accept() -> None:
    from sync.settings import CRMName

    assert set(CRM_NAMES) == set(typing.get_args(CRMName)) == set(SECTIONS)


@pytest.mark.parametrize("name", CRM_NAMES)
def test_each_entry_builds_its_adapter_through_from_settings(name: str) -> None:
    crm = crm_info(name)
    adapter = crm.build(SECTIONS[name], extra_fields=("leadsync_score",), page_size=crm.max_page_size)
    try:
        assert isinstance(adapter, CRMAdapter) and adapter.crm == name
        assert isinstance(adapter, crm.adapter_class)  # type: ignore[arg-type]
        config = adapter.config  # type: ignore[attr-defined]
        assert isinstance(config, crm.config_class)
        assert config.page_size == crm.max_page_size and "leadsync_score" in config.extra_fields
        # HubSpot's search and Salesforce's COUNT() answer it in one call; Pipedrive's API cannot count persons
        assert isinstance(adapter, CountsContacts) == (name != "pipedrive")
    finally:
        adapter.close()


@pytest.mark.parametrize("name", CRM_NAMES)
def test_the_page_bound_is_the_one_the_config_enforces(name: str) -> None:
    crm = crm_info(name)
    with pytest.raises(ConfigurationError, match=str(crm.max_page_size)):
        crm.build(SECTIONS[name], page_size=crm.max_page_size + 1).close()


def test_an_unknown_crm_is_a_configuration_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        crm_info("zoho")
    assert all(name in caught.value.message for name in CRMS)
