"""Composite resources: ``PATCH .../composite/sobjects`` (sObject Collections: <= 200 records, else 400
``EXCEEDED_ID_LIMIT``; ``allOrNone``) and ``POST .../composite`` (<= 25 subrequests, <= 5 of them queries
or collections; one API call).  Reference substitution (``@{ref.id}``) is not emulated; with ``allOrNone``
true, the subrequests after a failure are not run (``PROCESSING_HALTED``) but earlier writes are not rolled
back.  In a composite subrequest only the subrequest's own ``httpHeaders`` count for ``Sforce-Auto-Assign``.
``POST .../composite`` is counted as ``salesforce.composite`` when a subrequest writes and
``salesforce.composite_read`` when all are GETs (one call against the allocation either way)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from connectors.sandbox.core import BadRequest, Request, Response, Route
from connectors.sandbox.salesforce.auth import NO_AUTH
from connectors.sandbox.salesforce.errors import SfError, errors
from connectors.sandbox.salesforce.sobjects import SObjects

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context

COLLECTION_MAX = 200
COMPOSITE_MAX_SUBREQUESTS = 25
COMPOSITE_MAX_QUERIES = 5  # queries and sObject Collections together


class Composite:
    """Many records or many subrequests in one call; subrequests run through the org's own routes."""

    def __init__(self, ctx: Context, sobjects: SObjects, routes: Callable[[], Iterable[Route]]):
        self.ctx = ctx
        self.sobjects = sobjects
        self.routes = routes

    def collections_update(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records list")
        records = body["records"]
        if len(records) > COLLECTION_MAX:
            raise SfError(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        results = self.sobjects.update(
            records, request.header("Sforce-Auto-Assign"), bool(body.get("allOrNone", False))
        )
        return Response(200, results)

    def composite(self, request: Request) -> Response:
        body = request.json()
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise SfError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty list of subrequests")
        if len(subrequests) > COMPOSITE_MAX_SUBREQUESTS:
            # Salesforce: up to 25 subrequests per call (assumed error code and text).
            raise SfError(400, "INVALID_API_INPUT", "Composite request size exceeds the limit of 25 subrequests")
        heavy = sum(1 for s in subrequests if isinstance(s, dict) and _is_query_or_collection(str(s.get("url", ""))))
        if heavy > COMPOSITE_MAX_QUERIES:
            raise SfError(
                400,
                "INVALID_API_INPUT",
                "A composite request can contain at most 5 query or sObject Collections subrequests",
            )
        refs = [s.get("referenceId") if isinstance(s, dict) else None for s in subrequests]
        if any(not isinstance(r, str) or not re.fullmatch(r"[A-Za-z0-9_]+", r) for r in refs) or len(set(refs)) != len(
            refs
        ):
            raise SfError(400, "INVALID_API_INPUT", "Each subrequest needs a unique alphanumeric referenceId")
        all_or_none = bool(body.get("allOrNone", False))
        results: list[dict[str, Any]] = []
        halted = False
        for sub in subrequests:
            if halted:
                results.append(
                    {
                        "body": [
                            {
                                "errorCode": "PROCESSING_HALTED",
                                "message": "The transaction was rolled back since another operation in the same "
                                "transaction failed.",
                            }
                        ],
                        "httpHeaders": {},
                        "httpStatusCode": 400,
                        "referenceId": sub["referenceId"],
                    }
                )
                continue
            response = self._subrequest(request, sub)
            results.append(
                {
                    "body": response.body,
                    "httpHeaders": {},
                    "httpStatusCode": response.status,
                    "referenceId": sub["referenceId"],
                }
            )
            halted = all_or_none and response.status >= 400
        writes = any(str(s.get("method", "")).upper() != "GET" for s in subrequests)
        # One path, two kinds of call: count a read-only Composite apart so write counts stay honest.
        return Response(
            200,
            {"compositeResponse": results},
            counted_as="salesforce.composite" if writes else "salesforce.composite_read",
        )

    def _subrequest(self, parent: Request, sub: dict[str, Any]) -> Response:
        method = str(sub.get("method", "")).upper()
        parts = urlsplit(str(sub.get("url", "")))
        headers = {k: v for k, v in parent.headers.items() if k.lower() in ("authorization", "accept")}
        extra = sub.get("httpHeaders") or {}
        if not isinstance(extra, dict):
            return errors(400, "JSON_PARSER_ERROR", "httpHeaders must be a map of strings")
        headers.update({str(k): str(v) for k, v in extra.items()})
        body = sub.get("body")
        request = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=json.dumps(body).encode() if body is not None else b"",
        )
        if len(parts.path) + 1 + len(parts.query) > self.ctx.limit("max_uri_bytes"):
            return errors(414, "URI_TOO_LONG", "Request-URI exceeds the 16,384-byte limit")
        for r in self.routes():
            if r.method != method or r.endpoint in ("salesforce.composite", *NO_AUTH, "salesforce.limits"):
                continue
            m = r.pattern.match(parts.path)
            if m:
                request.params = {k: v for k, v in m.groupdict().items() if v is not None}
                try:
                    return r.handler(request)
                except BadRequest as exc:
                    return errors(400, "JSON_PARSER_ERROR", str(exc))
        return errors(404, "NOT_FOUND", "The requested resource does not exist")


def _is_query_or_collection(url: str) -> bool:
    path = urlsplit(url).path
    return bool(re.search(r"/(query|queryAll)(/|$)|/composite/sobjects", path))
