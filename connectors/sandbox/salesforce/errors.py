"""Salesforce's error bodies: the REST list of ``{message, errorCode}``, a per-record result of a write, and
the OAuth endpoint's ``{error, error_description}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.sandbox.core import Response


class SfError(Exception):
    """Raised by a handler; the facade's guard answers it as ``errors(status, code, message)``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def errors(status: int, code: str, message: str) -> Response:
    return Response(status, [{"message": message, "errorCode": code}])


def record_error(code: str, message: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": list(fields)}]}


def oauth_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description})
