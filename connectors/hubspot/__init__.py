"""HubSpot connector: ``HubSpotAdapter`` over ``hubspot-api-client``, configured by ``HubSpotConfig``."""

from connectors.hubspot.adapter import HubSpotAdapter
from connectors.hubspot.config import (
    DEFAULT_ACTIVITY_TYPE_MAP,
    DEFAULT_EXTRA_FIELDS,
    DEFAULT_FIELD_MAP,
    HubSpotConfig,
)

__all__ = [
    "DEFAULT_ACTIVITY_TYPE_MAP",
    "DEFAULT_EXTRA_FIELDS",
    "DEFAULT_FIELD_MAP",
    "HubSpotAdapter",
    "HubSpotConfig",
]
