"""What every part of the HubSpot emulation shares: the sandbox (store, clock, config, faults), the limits
it is configured with, and the small readers of a request that every handler uses."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from connectors.sandbox.core import Request
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import DEFAULT_LIMITS, to_ms


class Context:
    """The sandbox as the HubSpot parts see it; each part receives the same one."""

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store

    def limit(self, name: str) -> Any:
        overrides = self.sandbox.config.limits.get("hubspot", {})
        return overrides.get(name, DEFAULT_LIMITS[name])

    def now_ms(self) -> int:
        return to_ms(self.sandbox.clock.now())

    def base_url(self) -> str:
        return str(getattr(self.sandbox, "hubspot_url", ""))


def json_body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise HubSpotError(400, "Invalid input JSON: the body must be a JSON object.")
    return body


def wanted(request: Request, body: Mapping[str, Any] | None = None) -> list[str]:
    """The properties asked for: ``properties`` of a JSON body, else the ``properties`` query parameters."""
    if body is not None:
        raw = body.get("properties") or []
        return [str(p) for p in raw]
    names: list[str] = []
    for value in request.query.get("properties", []):
        names.extend(p.strip() for p in value.split(",") if p.strip())
    return names


def int_id(value: Any) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def next_link(base_url: str, request: Request, after: str) -> dict[str, Any]:
    """A page's ``paging`` entry, its link pointing back at the same path."""
    return {"next": {"after": after, "link": f"{base_url}{request.path}?after={after}"}}


def position_token(ms: int, row_id: str) -> str:
    """The opaque keyset token of a time-ordered page's last row: the next page starts after it."""
    return base64.urlsafe_b64encode(f"{ms}:{row_id}".encode()).decode()


def read_position(token: str, complaint: str) -> tuple[int, str]:
    """The ``(ms, id)`` a :func:`position_token` names; ``complaint`` is the 400's message when it names none."""
    try:
        ms, _, row_id = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        return int(ms), row_id
    except ValueError as exc:
        raise HubSpotError(400, complaint) from exc
