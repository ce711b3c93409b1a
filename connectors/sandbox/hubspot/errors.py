"""HubSpot's error shapes: the request-level error body, a batch answer's per-record ``errors[]`` entry, and
``HubSpotError``, which a handler raises to answer with the first."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.sandbox.core import Request, Response

_CATEGORY_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}


class HubSpotError(Exception):
    """Raised inside a handler to answer with HubSpot's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = "VALIDATION_ERROR",
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        context: Mapping[str, Any] | None = None,
        sub_category: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.errors = list(errors)
        self.context = dict(context or {})
        self.sub_category = sub_category


def error_body(
    message: str,
    category: str,
    *,
    errors: Sequence[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
    sub_category: str | None = None,
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if errors:
        body["errors"] = list(errors)
    if context:
        body["context"] = dict(context)
    if links:
        body["links"] = dict(links)
    return body


def error_response(status: int, message: str) -> Response:
    """An error in HubSpot's shape, its category taken from the status."""
    return Response(status, error_body(message, _CATEGORY_BY_STATUS.get(status, "INTERNAL_ERROR")))


def record_error(
    message: str,
    category: str,
    ids: Sequence[str],
    trace_id: str | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    sub_category: str | None = None,
) -> dict[str, Any]:
    """One entry of a batch answer's ``errors[]`` (``StandardError``: context, links, errors required)."""
    context: dict[str, list[str]] = {"ids": list(ids)}
    if trace_id:
        context["objectWriteTraceId"] = [trace_id]
    out: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "links": {},
        "errors": list(errors),
    }
    if sub_category:
        out["subCategory"] = sub_category
    return out


def answering_errors(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """The handler ``fn``, with a raised ``HubSpotError`` turned into its error response."""

    def handler(request: Request) -> Response:
        try:
            return fn(request)
        except HubSpotError as exc:
            return Response(
                exc.status,
                error_body(
                    exc.message, exc.category, errors=exc.errors, context=exc.context, sub_category=exc.sub_category
                ),
            )

    return handler
