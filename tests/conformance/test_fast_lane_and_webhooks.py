"""The fast lane's one-call probes and the webhooks the sandbox sends, against the vendors' shapes.

- Pipedrive ``GET /v1/recents`` (v1 definition's ``GetRecentsResponse``; our values, see fixtures SOURCES.md);
- HubSpot contacts search with ``total`` (the definition's ``CollectionResponseWithTotalSimplePublicObject``),
  replayed through hubspot-api-client into ``HubSpotAdapter.count_contacts``;
- Salesforce Composite ``COUNT()`` subrequests (go-sfdc's recorded Composite envelope, restforce's recorded
  empty query result);
- HubSpot's v3 webhook signature: the official Python SDK's own test vector (Apache-2.0) and its verifier
  against the sandbox's signed deliveries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from hubspot.utils.signature import Signature
from pydantic import SecretStr

from connectors.hubspot import HubSpotAdapter, HubSpotConfig
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS, HubSpotApi
from connectors.sandbox.webhooks.config import WebhookConfig
from connectors.sandbox.webhooks.vendors import Vendors
from connectors.sandbox.webhooks.vendors import hubspot_signature_v3 as sandbox_signature
from sync.server.verify import hubspot_signature_v3 as leadsync_signature
from tests.conformance.shapes import load, raw, shape_diff
from tests.connectors import samples_hubspot, samples_pipedrive, samples_salesforce
from tests.harnesses import api_of

HEX40 = frozenset("0123456789abcdef")


# -- Pipedrive: GET /v1/recents ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipedrive() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(crms=("pipedrive",), seed=7)) as sb:
        from connectors.sandbox.pipedrive import PipedriveApi

        api_of(sb, PipedriveApi).load(samples_pipedrive.people_dataset(3, activities=1))
        yield sb


def test_sandbox_recents_have_the_v1_definition_shape(pipedrive: Sandbox) -> None:
    http = samples_pipedrive.api_session(pipedrive)
    params: dict[str, Any] = {"since_timestamp": "2000-01-01 00:00:00", "items": "person", "limit": 2}
    first = http.get(f"{pipedrive.pipedrive_url}/api/v1/recents", params=params, timeout=30)
    response = http.get(f"{pipedrive.pipedrive_url}/api/v1/recents", params=params, timeout=30)
    assert response.status_code == 200, response.text
    left = "x-daily-ratelimit-token-remaining"
    assert int(first.headers[left]) - int(response.headers[left]) == 20  # the definition's x-token-cost
    ours = response.json()
    assert ours["data"] and ours["additional_data"]["pagination"]["more_items_in_collection"] is True
    for entry in ours["data"]:  # v1 puts custom fields at the top level under their 40-hex keys: data, not shape
        entry["data"] = {k: v for k, v in entry["data"].items() if not (len(k) == 40 and set(k) <= HEX40)}
    assert {e["item"] for e in ours["data"]} == {"person"}
    allow = {
        "extra:$.additional_data.pagination.next_start": "v1 offset lists' next_start (docs/crm-api/pipedrive.md 1.5)"
    }
    assert shape_diff(load("pipedrive", "v1_recents_persons"), ours, allow=allow) == []


def test_sandbox_recents_refuse_what_the_definition_does_not_list(pipedrive: Sandbox) -> None:
    http = samples_pipedrive.api_session(pipedrive)
    url = f"{pipedrive.pipedrive_url}/api/v1/recents"
    missing = http.get(url, params={"items": "person"}, timeout=30)  # since_timestamp is required
    unknown = http.get(url, params={"since_timestamp": "2000-01-01 00:00:00", "items": "persons"}, timeout=30)
    for answer in (missing, unknown):
        assert answer.status_code == 400
        body = answer.json()
        assert body["success"] is False and isinstance(body["error"], str)


# -- HubSpot: the count probe's search ------------------------------------------------------------------------------
class SearchReplay:
    """A loopback server answering POST .../contacts/search with a recorded body and noting the request body."""

    def __init__(self, body: str):
        self.bodies: list[dict[str, Any]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                replay.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                data = body.encode()
                self.send_response(200 if self.path.startswith("/crm/v3/objects/contacts/search") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_count_probe_reads_total_from_a_search_answer_of_the_definition_shape() -> None:
    replay = SearchReplay(raw("hubspot", "contacts_search_total"))
    adapter = HubSpotAdapter(
        HubSpotConfig(
            access_token=SecretStr("pat-replayed"),
            base_url=replay.url,
            sleep=lambda seconds: None,
            now=lambda: datetime(2025, 3, 5, tzinfo=UTC),
        )
    )
    try:
        assert adapter.count_contacts(None) == 3  # `total`, not the one result on the page
    finally:
        adapter.close()
        replay.close()
    (sent,) = replay.bodies
    assert sent["limit"] == 1 and sent["filterGroups"] == []


def test_sandbox_search_answer_has_the_definition_shape() -> None:
    with Sandbox(SandboxConfig(crms=("hubspot",), seed=7)) as sb:
        api_of(sb, HubSpotApi).load(samples_hubspot.dataset(3, activities=False))
        response = requests.post(
            f"{sb.hubspot_url}/crm/v3/objects/contacts/search",
            headers={"Authorization": f"Bearer {SANDBOX_CREDENTIALS['private_app_token']}"},
            json={"filterGroups": [], "limit": 1, "properties": ["hs_object_id"]},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    ours = response.json()
    assert ours["total"] == 3 and len(ours["results"]) == 1
    allow = {"extra:$.paging.next.link": "NextPage.link is optional in the definition"}
    assert shape_diff(load("hubspot", "contacts_search_total"), ours, allow=allow, free=_props()) == []


def _props() -> frozenset[str]:
    return frozenset({"$.results[].properties"})  # the keys are the properties asked for


# -- Salesforce: Composite COUNT() ----------------------------------------------------------------------------------
def test_sandbox_composite_counts_have_the_recorded_shapes() -> None:
    with Sandbox(SandboxConfig(crms=("salesforce",), seed=7)) as sb:
        sb.load_into("salesforce", samples_salesforce.people_dataset(5))
        sf = samples_salesforce.sf_client(sb)
        subrequests = [
            {"method": "GET", "url": f"/services/data/v{sf.sf_version}/query?q=SELECT+COUNT()+FROM+{sobject}",
             "referenceId": f"q{n}"}
            for n, sobject in enumerate(("Lead", "Task", "Event", "CampaignMember"))
        ]  # fmt: skip
        ours = sf.restful("composite", method="POST", json={"compositeRequest": subrequests})
    assert [a["referenceId"] for a in ours["compositeResponse"]] == ["q0", "q1", "q2", "q3"]
    allow = {"extra:$.compositeResponse[].body.totalSize": "a query result, not the recorded create result"}
    envelope = {**ours, "compositeResponse": [{**a, "body": {}} for a in ours["compositeResponse"]]}
    vendor = load("salesforce", "composite_response")
    vendor["compositeResponse"][0]["body"] = {}  # bodies are compared below, against a recorded query result
    vendor["compositeResponse"][0]["httpHeaders"] = {}  # a GET of a query answers no Location
    assert shape_diff(vendor, envelope, allow=allow) == []
    lead = ours["compositeResponse"][0]
    assert lead["httpStatusCode"] == 200 and lead["body"]["totalSize"] == 5 and lead["body"]["records"] == []
    for answer in ours["compositeResponse"]:  # COUNT() answers the count in totalSize, no records
        assert shape_diff(load("salesforce", "query_empty_response"), answer["body"]) == []


# -- HubSpot webhook signature v3 -----------------------------------------------------------------------------------
# hubspot-api-python tests/spec/utils/test_signature.py (Apache-2.0): secret, body, URL, method, timestamp -> v3
SDK_VECTOR = {
    "secret": "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
    "body": "{'example_field':'example_value'}",
    "uri": "https://www.example.com/webhook_uri",
    "timestamp": "1693657560000",
    "signature": "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
}


@pytest.mark.parametrize("sign", [sandbox_signature, leadsync_signature], ids=["sandbox", "leadsync"])
def test_v3_signature_matches_the_official_sdk_vector(sign: Any) -> None:
    v = SDK_VECTOR
    got = sign(v["secret"], method="POST", uri=v["uri"], body=v["body"].encode(), timestamp=v["timestamp"])
    assert got == v["signature"]


def test_sandbox_deliveries_pass_the_official_sdk_verifier() -> None:
    config = WebhookConfig(url="https://leadsync.example/webhooks")
    event = {"eventId": 1, "subscriptionId": 2, "portalId": 62515, "appId": 1160452, "occurredAt": 1,
             "subscriptionType": "contact.creation", "objectId": 101, "changeSource": "CRM_UI"}  # fmt: skip
    url = "https://leadsync.example/webhooks/hubspot"
    body, headers = Vendors(config).request("hubspot", url, [event], 1, datetime.now(UTC))
    assert Signature.is_valid(
        headers["X-HubSpot-Signature-v3"],
        config.hubspot_app_secret,
        body.decode(),
        url,
        "POST",
        signature_version="v3",
        timestamp=headers["X-HubSpot-Request-Timestamp"],
    )
    assert json.loads(body)[0]["attemptNumber"] == 0  # HubSpot's example event counts attempts from 0
