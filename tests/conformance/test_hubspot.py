"""HubSpot: a recorded contacts page (dlt verified-sources, Apache-2.0) replayed through ``HubSpotAdapter``
(hubspot-api-client speaks urllib3, so a tiny loopback HTTP server serves it), and the sandbox's answer to the
same endpoint checked against its shape."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pydantic import SecretStr

from connectors.hubspot import HubSpotAdapter, HubSpotConfig
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS, HubSpotApi
from tests.conformance.shapes import load, raw, shape_diff
from tests.connectors.samples_hubspot import dataset
from tests.harnesses import api_of


class Replay:
    """A loopback server answering each GET path with a recorded body, and noting the requests it got."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                replay.requests.append((url.path, parse_qs(url.query)))
                body = replay.answers.get(url.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                data = (body or '{"status": "error", "message": "not recorded"}').encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def replay() -> Iterator[Replay]:
    server = Replay({"/crm/v3/objects/contacts": raw("hubspot", "contacts_list_page")})
    yield server
    server.close()


def test_recorded_contacts_page_maps_to_contacts(replay: Replay) -> None:
    adapter = HubSpotAdapter(
        HubSpotConfig(
            access_token=SecretStr("pat-replayed"),
            base_url=replay.url,
            sleep=lambda seconds: None,
            now=lambda: datetime(2023, 3, 1, tzinfo=UTC),
        )
    )
    try:
        pages = list(adapter.read_contacts(None))
    finally:
        adapter.close()
    contacts = [c for p in pages for c in p.contacts]
    assert pages[-1].done and [c.id for c in contacts] == ["1", "51"]
    maria = contacts[0]
    assert maria.fields["email"] == "emailmaria@hubspot.com" and maria.fields["first_name"] == "Maria"
    assert maria.fields["last_name"] == "Johnson (Sample Contact)"
    assert maria.updated_at == datetime(2023, 2, 24, 14, 7, 59, 929000, tzinfo=UTC)  # lastmodifieddate, ms kept
    # the page had no paging.next: one list call, no second page asked for
    assert [path for path, _ in replay.requests] == ["/crm/v3/objects/contacts"]
    assert "after" not in replay.requests[0][1]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(crms=("hubspot",), seed=7)) as sb:
        api_of(sb, HubSpotApi).load(dataset(2, activities=False))
        yield sb


def test_sandbox_contacts_page_has_the_vendor_shape(sandbox: Sandbox) -> None:
    response = requests.get(
        f"{sandbox.hubspot_url}/crm/v3/objects/contacts",
        headers={"Authorization": f"Bearer {SANDBOX_CREDENTIALS['private_app_token']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    ours = response.json()
    assert len(ours["results"]) == 2  # the whole portal: a last page, like the recorded one
    assert shape_diff(load("hubspot", "contacts_list_page"), ours) == []
