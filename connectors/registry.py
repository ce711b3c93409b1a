"""Every CRM leadsync connects to, in one table: its name, its label, its adapter and config, its page bound.

Adding a CRM is a package under ``connectors/`` with the usual files (``adapter.py``, ``client.py``,
``cursor.py``, ``mapping.py``, ``config.py``), its names exported from the package ``__init__``, and one
line here.  Packages are imported on first use: each pulls in its CRM's client library, and a run needs one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from connectors.base import CRMAdapter
from connectors.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class CRMInfo:
    name: str  # as in settings (``LEADSYNC_CRM``) and in ``CRMAdapter.crm``
    label: str  # as the vendor writes it, for people
    package: str  # the connector package, exporting both classes below
    adapter_name: str
    config_name: str
    max_page_size: int  # the most contacts one ContactPage may hold (what the config's page_size allows)

    @property
    def adapter_class(self) -> Callable[[Any], CRMAdapter]:
        """The adapter class, which takes the config object."""
        adapter: Callable[[Any], CRMAdapter] = getattr(importlib.import_module(self.package), self.adapter_name)
        return adapter

    @property
    def config_class(self) -> Any:
        return getattr(importlib.import_module(self.package), self.config_name)

    def build(self, section: Any, *, extra_fields: Sequence[str] = (), **overrides: Any) -> CRMAdapter:
        """The adapter, configured from this CRM's settings ``section`` by its config's ``from_settings``."""
        config = self.config_class.from_settings(section, extra_fields=extra_fields, **overrides)
        return self.adapter_class(config)


CRMS: Mapping[str, CRMInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            CRMInfo("hubspot", "HubSpot", "connectors.hubspot", "HubSpotAdapter", "HubSpotConfig", 10_000),
            CRMInfo("salesforce", "Salesforce", "connectors.salesforce", "SalesforceAdapter", "SalesforceConfig", 2000),
            CRMInfo("pipedrive", "Pipedrive", "connectors.pipedrive", "PipedriveAdapter", "PipedriveConfig", 500),
        )
    }
)
CRM_NAMES: tuple[str, ...] = tuple(CRMS)


def crm_info(name: str) -> CRMInfo:
    """The registry entry of ``name``; a ``ConfigurationError`` naming the known CRMs otherwise."""
    try:
        return CRMS[name]
    except KeyError:
        raise ConfigurationError(
            f"leadsync has no connector for the CRM {name!r}; set LEADSYNC_CRM to one of {', '.join(CRM_NAMES)}."
        ) from None
