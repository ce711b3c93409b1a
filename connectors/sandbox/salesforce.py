"""Salesforce API emulation (placeholder until the Salesforce work lands)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.sandbox.core import CRMApi, Route


class SalesforceApi(CRMApi):
    crm = "salesforce"
    prefixes = ("/services/",)

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox

    def routes(self) -> Iterable[Route]:
        return []


def create_api(sandbox: Any) -> SalesforceApi:
    return SalesforceApi(sandbox)
