"""HubSpot API emulation (placeholder until the HubSpot work lands)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.sandbox.core import CRMApi, Route


class HubSpotApi(CRMApi):
    crm = "hubspot"
    prefixes = ("/crm/", "/oauth/v1/")

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox

    def routes(self) -> Iterable[Route]:
        return []


def create_api(sandbox: Any) -> HubSpotApi:
    return HubSpotApi(sandbox)
