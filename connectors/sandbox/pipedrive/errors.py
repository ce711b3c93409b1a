"""Pipedrive's answer envelope ``{"success", "data", "additional_data"}``, and every error shape the sandbox sends.

The gateway's 401 carries ``errorCode`` and the ``x-401-by-gw`` header; a burst breach is a 429 whose exact
``error`` text is unverified; a spent daily budget is the 429 seen on the live API, with ``retry-after``.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.core import Response

ERROR_INFO = "Please check developers.pipedrive.com"


def ok(data: Any, additional: Any = None) -> Response:
    return Response(200, {"success": True, "data": data, "additional_data": additional})


def error_body(message: str) -> dict[str, Any]:
    return {"success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None}


def not_found(what: str) -> Response:
    return Response(404, error_body(f"{what} not found"))


def unauthorized() -> Response:
    body = {"success": False, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO}
    return Response(401, body, {"x-401-by-gw": "true"})


def rate_limited() -> Response:
    """A burst-limit 429 (used for injected faults too); the usage headers are added after the handler."""
    body = {"success": False, "error": "Rate limit exceeded", "errorCode": 429, "error_info": ERROR_INFO}
    return Response(429, body)


def budget_exceeded(retry_after: int) -> Response:
    body = {"success": False, "error": "daily request budget exceeded", "errorCode": 429}
    return Response(429, body | {"error_info": ERROR_INFO}, {"retry-after": str(retry_after)})


def oauth_error(status: int, message: str, error: str) -> Response:
    """oauth.pipedrive.com's own shape: ``message`` and an OAuth ``error`` code, no ``error_info``."""
    return Response(status, {"success": False, "message": message, "error": error})
