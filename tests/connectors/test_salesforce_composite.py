"""Composite subrequests that fail: transient ones are sent again alone under ``ApiClient``'s retry policy,
others raise their typed error at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from connectors.errors import FatalApiError
from connectors.records import FieldUpdate, WriteStatus
from connectors.salesforce import SalesforceAdapter
from tests.connectors.test_salesforce_requests import DATA, LEADS, LIMIT, add_token, config

BUSY = [{"errorCode": "SERVER_UNAVAILABLE", "message": "The server is busy; try again."}]
EMPTY = {"totalSize": 0, "done": True, "records": []}


def answer(reference: str, status: int, body: Any) -> dict[str, Any]:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}


def written(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "success": True, "errors": []} for r in records]


def composite_answering(statuses: dict[str, tuple[int, Any]]) -> Any:
    """A Composite endpoint answering each subrequest with ``statuses[referenceId]``, else with success
    (no rows for a query, every record written for a collection)."""

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        out = []
        for sub in json.loads(request.body)["compositeRequest"]:
            ok = (200, written(sub["body"]["records"]) if sub["method"] == "PATCH" else EMPTY)
            out.append(answer(sub["referenceId"], *statuses.get(sub["referenceId"], ok)))
        return 200, LIMIT, json.dumps({"compositeResponse": out})

    return reply


@responses.activate
def test_a_busy_query_subrequest_is_sent_again_alone_with_retries() -> None:
    add_token(responses.mock)
    responses.add_callback(responses.POST, f"{DATA}/composite", callback=composite_answering({"q1": (503, BUSY)}))
    resend = responses.get(f"{DATA}/query", status=503, json=BUSY, headers=LIMIT)
    resend_ok = responses.get(
        f"{DATA}/query",
        json={"totalSize": 1, "done": True, "records": [{"Id": "00K1", "ContactId": None, "OpportunityId": "006"}]},
        headers=LIMIT,
    )
    adapter = SalesforceAdapter(config())
    assert list(adapter.read_outcomes()) == []  # the role names no contact and no closed opportunity
    assert resend.call_count == 1 and resend_ok.call_count == 1
    assert "FROM OpportunityContactRole" in (resend_ok.calls[0].request.url or "").replace("+", " ")
    usage = adapter.usage()
    assert usage.calls_by_endpoint == {"oauth.token": 1, "composite": 1, "query_more": 2}
    assert usage.extra["retries"] == {"query_more": 1}


@responses.activate
def test_a_refused_query_subrequest_raises_without_sending_it_again() -> None:
    add_token(responses.mock)
    malformed = [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token: FROM"}]
    responses.add_callback(responses.POST, f"{DATA}/composite", callback=composite_answering({"q0": (400, malformed)}))
    adapter = SalesforceAdapter(config())
    with pytest.raises(FatalApiError, match="MALFORMED_QUERY"):
        list(adapter.read_outcomes())
    assert adapter.usage().calls_by_endpoint == {"oauth.token": 1, "composite": 1}


@responses.activate
def test_a_busy_collection_is_written_again_alone() -> None:
    add_token(responses.mock)
    responses.add_callback(responses.POST, f"{DATA}/composite", callback=composite_answering({"c1": (503, BUSY)}))

    resent: list[int] = []

    def results(request: Any) -> tuple[int, dict[str, str], str]:
        records = json.loads(request.body)["records"]
        resent.append(len(records))
        return 200, LIMIT, json.dumps(written(records))

    responses.add_callback(responses.PATCH, f"{DATA}/composite/sobjects", callback=results)
    adapter = SalesforceAdapter(config())
    outcome = adapter.write([FieldUpdate(lead, {"leadsync_score": 50}) for lead in LEADS])
    assert [r.status for r in outcome] == [WriteStatus.OK] * len(LEADS)
    assert resent == [200]  # the second collection only
    assert adapter.usage().calls_by_endpoint == {"oauth.token": 1, "composite": 1, "composite.sobjects": 1}
