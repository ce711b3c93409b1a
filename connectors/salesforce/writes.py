"""Salesforce writes: sObject Collections of 200 records, several collections packed into one Composite call,
always with ``Sforce-Auto-Assign: FALSE``, and each record's result mapped to a ``WriteResult``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from connectors.errors import TransientError
from connectors.http import redact
from connectors.records import FieldUpdate, WriteResult, WriteStatus

if TYPE_CHECKING:
    from connectors.salesforce.client import SalesforceClient

# Writes never let assignment rules re-route owners.
NO_ASSIGN: Mapping[str, str] = MappingProxyType({"Sforce-Auto-Assign": "FALSE"})  # copied into each request


def send_collections(client: SalesforceClient, group: list[list[tuple[int, dict[str, Any]]]]) -> list[tuple[int, Any]]:
    """(status, body) per collection: 200 and its per-record results, or the status of a collection that
    still failed after the retries (its records are reported RETRY)."""
    bodies = [{"allOrNone": False, "records": [record for _, record in chunk]} for chunk in group]
    if len(group) == 1:
        return [(200, _patch_collection(client, bodies[0]))]
    url = f"/services/data/v{client.config.api_version}/composite/sobjects"
    subrequests = [
        {"method": "PATCH", "url": url, "referenceId": f"c{n}", "body": body, "httpHeaders": dict(NO_ASSIGN)}
        for n, body in enumerate(bodies)
    ]
    out: list[tuple[int, Any]] = []
    for body, answer in zip(bodies, client.composite(subrequests, headers=dict(NO_ASSIGN)), strict=True):
        try:
            out.append((200, client.subrequest_body(answer, partial(_patch_collection, client, body))))
        except TransientError as exc:
            out.append((exc.status or 503, exc.message))
    return out


def _patch_collection(client: SalesforceClient, body: Mapping[str, Any]) -> Any:
    return client.call(
        "composite.sobjects",
        lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body, headers=dict(NO_ASSIGN)),
    )


def map_results(
    updates: Sequence[FieldUpdate],
    chunk: list[tuple[int, dict[str, Any]]],
    status: int,
    body: Any,
    results: list[WriteResult | None],
    protected: set[str],
) -> None:
    if status >= 300:
        for index, _ in chunk:
            cid = updates[index].contact_id
            results[index] = WriteResult(cid, WriteStatus.RETRY, str(body), str(status), cid)
        return
    for (index, _), result in zip(chunk, body, strict=True):
        cid = updates[index].contact_id
        if result.get("success"):
            results[index] = WriteResult(cid, WriteStatus.OK, requested_id=cid)
            continue
        error = (result.get("errors") or [{}])[0]
        code = str(error.get("statusCode", ""))
        message = redact(str(error.get("message", "")))
        fields = error.get("fields") or []
        if code == "CANNOT_UPDATE_CONVERTED_LEAD":
            protected.add(cid)
            results[index] = WriteResult(
                cid,
                WriteStatus.FAILED,
                "This lead was converted; Salesforce does not allow updates to converted leads, so leadsync "
                "leaves it unchanged.",
                code,
                cid,
            )
        else:
            status_ = WriteStatus.RETRY if code in ("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE") else WriteStatus.FAILED
            where = f" (fields: {', '.join(map(str, fields))})" if fields else ""
            results[index] = WriteResult(cid, status_, f"Salesforce refused the update: {message}{where}", code, cid)
