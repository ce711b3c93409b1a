"""Pipedrive API emulation (placeholder until the Pipedrive work lands)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.sandbox.core import CRMApi, Route


class PipedriveApi(CRMApi):
    crm = "pipedrive"
    prefixes = ("/api/", "/oauth/token")

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox

    def routes(self) -> Iterable[Route]:
        return []


def create_api(sandbox: Any) -> PipedriveApi:
    return PipedriveApi(sandbox)
