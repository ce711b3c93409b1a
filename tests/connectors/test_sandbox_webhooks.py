"""The sandbox sends webhooks as the vendors do, and leadsync's intake (``sync/server``) accepts and stores them.

Each test runs the real intake app on uvicorn and a sandbox whose sender posts to it; a small ASGI wrapper in
front of the app can answer 500 for the first requests (a receiver outage) and counts what reached it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.salesforce.ids import ORG_ID
from connectors.sandbox.seed import generate
from connectors.sandbox.webhooks import WebhookConfig
from sync.server import EventQueue, ServerThread, build_app
from sync.server.targets import Target, event_target
from sync.settings import Settings
from sync.state import QueuedEvent, open_store
from tests.harnesses import CRMS

HS_SECRET = "hs-app-secret-test"
PD_PASSWORD = "pd-password-test"
SF_SECRET = "sf-secret-test"
FAST = {"hubspot": (0.05,) * 10, "hubspot_workflow": (0.05,) * 3, "pipedrive": (0.05,) * 3, "salesforce": (0.05,) * 5}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass
class Outage:
    """ASGI wrapper: the first ``fail`` webhook requests get a 500; ``seen`` counts requests per path."""

    app: Any
    fail: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/webhooks/"):
            self.seen[scope["path"]] = self.seen.get(scope["path"], 0) + 1
            if self.fail > 0:
                self.fail -= 1
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b"receiver down"})
                return
        await self.app(scope, receive, send)


@dataclass
class Receiver:
    url: str
    outage: Outage
    state_url: str

    def stored(self, crm: str) -> list[QueuedEvent]:
        store = open_store(self.state_url)
        try:
            return store.claim_events(crm, 1000, now=datetime.now(UTC) + timedelta(days=1))
        finally:
            store.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    server_section = {
        "hubspot_app_secret": HS_SECRET,
        "pipedrive_user": "leadsync",
        "pipedrive_password": PD_PASSWORD,
        "salesforce_org_id": ORG_ID,
        "salesforce_secret": SF_SECRET,
    }
    state = tmp_path / "state.db"
    settings = Settings(_env_file=None, state_url=str(state), server=server_section)  # type: ignore[call-arg]
    queue = EventQueue(settings.state_url)
    queue.open()
    outage = Outage(build_app(settings, queue=queue))
    server = ServerThread(outage, settings.server, host="127.0.0.1", port=0).start()  # type: ignore[arg-type]
    try:
        yield Receiver(f"{server.url}/webhooks", outage, str(state))
    finally:
        server.stop()
        queue.close()


def _hooks(receiver: Receiver, **overrides: Any) -> WebhookConfig:
    settings: dict[str, Any] = {
        "url": receiver.url,
        "hubspot_app_secret": HS_SECRET,
        "pipedrive_password": PD_PASSWORD,
        "salesforce_secret": SF_SECRET,
        "retry_delays": FAST,
        "batch_window": 0.02,
    }
    return WebhookConfig(**(settings | overrides))


@pytest.fixture
def make_sandbox() -> Iterator[Callable[[WebhookConfig, str], tuple[Sandbox, dict[str, str]]]]:
    started: list[Sandbox] = []

    def make(hooks: WebhookConfig, crm: str) -> tuple[Sandbox, dict[str, str]]:
        sandbox = Sandbox(SandboxConfig(crms=(crm,), rate_limits=False, webhooks=hooks))
        ids = sandbox.load_into(crm, generate(4, 7, datetime(2025, 3, 1, tzinfo=UTC), 1.0))
        started.append(sandbox.start())
        return sandbox, ids

    yield make
    for sandbox in started:
        sandbox.stop()


def _change(sandbox: Sandbox, crm: str, contact_id: str) -> None:
    """A seller edits one contact in the CRM (the sandbox's test hook)."""
    api: Any = sandbox.apis[crm]
    if crm == "hubspot":
        api.touch(contact_id, jobtitle="Head of Revenue")
    elif crm == "pipedrive":
        api.touch(contact_id, name="Ada Lovelace")
    else:
        api.touch(contact_id, Title="Head of Revenue")


def _wait(sandbox: Sandbox) -> None:
    assert sandbox.webhooks is not None
    assert sandbox.webhooks.wait_idle(20), sandbox.webhooks.stats()


@pytest.mark.parametrize("crm", sorted(CRMS))
def test_a_change_is_delivered_signed_and_stored_with_the_contact_id(
    crm: str, receiver: Receiver, make_sandbox: Any
) -> None:
    sandbox, ids = make_sandbox(_hooks(receiver), crm)
    contact_id = next(iter(ids.values()))
    _change(sandbox, crm, contact_id)
    _wait(sandbox)
    stored = receiver.stored(crm)
    assert stored, sandbox.webhooks.attempts
    assert {q.event.object_id for q in stored} == {contact_id}
    assert all(a.status == 200 for a in sandbox.webhooks.attempts)
    if crm == "hubspot":
        kinds = {(q.event.kind, q.event.payload.get("propertyName")) for q in stored}
        assert ("contact.propertyChange", "jobtitle") in kinds
        assert all(q.event.payload["portalId"] == 62515 for q in stored)
    if crm == "pipedrive":
        (event,) = stored
        assert event.event.kind == "change.person"
        assert event.event.payload["data"]["name"] == "Ada Lovelace"
        assert event.event.payload["previous"]["name"] != "Ada Lovelace"
    if crm == "salesforce":
        assert stored[0].event.payload["Title"] == "Head of Revenue"


def test_activities_and_form_submissions_are_delivered(receiver: Receiver, make_sandbox: Any) -> None:
    sandbox, ids = make_sandbox(_hooks(receiver), "pipedrive")
    person = next(iter(ids.values()))
    activity_id = sandbox.apis["pipedrive"].add_activity(person, "call", subject="Discovery call")  # type: ignore[attr-defined]
    _wait(sandbox)
    (event,) = receiver.stored("pipedrive")
    assert (event.event.kind, event.event.object_id) == ("create.activity", activity_id)
    assert str(event.event.payload["data"]["person_id"]) == person

    hubspot, hs_ids = make_sandbox(_hooks(receiver), "hubspot")
    contact = next(iter(hs_ids.values()))
    hubspot.apis["hubspot"].add_activity(contact, "demo_request")  # type: ignore[attr-defined]
    _wait(hubspot)
    stored = receiver.stored("hubspot")
    workflow = [q for q in stored if q.event.kind == "contact.workflow"]
    assert [q.event.object_id for q in workflow] == [contact]
    assert workflow[0].event.payload["properties"]["email"]["value"]
    # the rollups a form fill bumps come as property changes too
    assert any(q.event.payload.get("propertyName") == "recent_conversion_date" for q in stored)


def test_a_salesforce_form_fill_is_a_campaign_member_whose_callout_names_its_lead(
    receiver: Receiver, make_sandbox: Any
) -> None:
    sandbox, ids = make_sandbox(_hooks(receiver), "salesforce")
    lead = next(i for i in ids.values() if i.startswith("00Q"))
    sandbox.apis["salesforce"].add_activity(lead, "form_submission")  # type: ignore[attr-defined]
    _wait(sandbox)
    members = [q.event for q in receiver.stored("salesforce") if q.event.object_type == "CampaignMember"]
    assert len(members) == 1 and members[0].payload["LeadId"] == lead
    assert event_target(members[0], salesforce_object="Lead") == Target(lead)


def test_a_change_through_the_api_is_sent_without_waiting_for_the_receiver(
    receiver: Receiver, make_sandbox: Any
) -> None:
    receiver.outage.fail = 2
    sandbox, ids = make_sandbox(_hooks(receiver), "pipedrive")
    person = next(iter(ids.values()))
    token = sandbox.credentials("pipedrive")["api_token"]
    answer = requests.patch(
        f"{sandbox.pipedrive_url}/api/v2/persons/{person}",
        params={"api_token": token},
        json={"name": "Grace Hopper"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    _wait(sandbox)
    (event,) = receiver.stored("pipedrive")
    assert event.event.payload["meta"]["change_source"] == "api"
    # two 500s, then delivered on the second retry: Pipedrive's meta.attempt counts from 1
    assert [a.status for a in sandbox.webhooks.attempts] == [500, 500, 200]
    assert event.event.payload["meta"]["attempt"] == 3


@pytest.mark.parametrize("crm", sorted(CRMS))
def test_retry_after_a_500_delivers_once_accepted(crm: str, receiver: Receiver, make_sandbox: Any) -> None:
    receiver.outage.fail = 1
    sandbox, ids = make_sandbox(_hooks(receiver), crm)
    contact_id = next(iter(ids.values()))
    _change(sandbox, crm, contact_id)
    _wait(sandbox)
    statuses = [a.status for a in sandbox.webhooks.attempts]
    assert statuses[0] == 500 and statuses[-1] == 200 and sandbox.webhooks.dropped == 0
    stored = receiver.stored(crm)
    assert {q.event.object_id for q in stored} == {contact_id}
    if crm == "hubspot":
        assert all(q.event.payload["attemptNumber"] == 1 for q in stored)  # HubSpot counts from 0


@pytest.mark.parametrize(
    ("crm", "wrong", "tries"),
    [
        ("hubspot", {"hubspot_app_secret": "not-the-secret"}, 1),  # HubSpot does not retry a 401
        ("pipedrive", {"pipedrive_password": "not-the-password"}, 4),  # Pipedrive retries 3 more times
        ("salesforce", {"salesforce_secret": "not-the-secret"}, 6),
    ],
)
def test_a_wrong_secret_is_refused_and_nothing_is_stored(
    crm: str, wrong: dict[str, str], tries: int, receiver: Receiver, make_sandbox: Any
) -> None:
    sandbox, ids = make_sandbox(_hooks(receiver, **wrong), crm)
    _change(sandbox, crm, next(iter(ids.values())))
    _wait(sandbox)
    assert [a.status for a in sandbox.webhooks.attempts] == [401] * tries
    assert sandbox.webhooks.dropped == 1
    assert receiver.stored(crm) == []


@pytest.mark.parametrize("crm", sorted(CRMS))
def test_duplicates_and_shuffled_deliveries_are_stored_once(crm: str, receiver: Receiver, make_sandbox: Any) -> None:
    hooks = _hooks(receiver, duplicate_rate=1.0, shuffle_seconds=0.2, batch_window=0.0)
    sandbox, ids = make_sandbox(hooks, crm)
    for contact_id in ids.values():
        _change(sandbox, crm, contact_id)
    _wait(sandbox)
    attempts = sandbox.webhooks.attempts
    assert sum(a.duplicate for a in attempts) == sum(not a.duplicate for a in attempts) > 0
    stored = receiver.stored(crm)
    keys = [q.event.event_id for q in stored]
    assert len(keys) == len(set(keys))
    assert {q.event.object_id for q in stored} == set(ids.values())


def test_hubspot_batches_at_most_100_events_per_request(receiver: Receiver, make_sandbox: Any) -> None:
    sandbox, ids = make_sandbox(_hooks(receiver, batch_window=0.5), "hubspot")
    api: Any = sandbox.apis["hubspot"]
    contact_id = next(iter(ids.values()))
    api.touch(contact_id, **{f"leadsync_note_{n}": f"value {n}" for n in range(130)})
    _wait(sandbox)
    sizes = [a.events for a in sandbox.webhooks.attempts]
    assert sizes == [100, 30]
    assert len(receiver.stored("hubspot")) == 130


def test_the_hubspot_signature_is_hubspots_v3(receiver: Receiver) -> None:
    from connectors.sandbox.webhooks import hubspot_signature_v3
    from sync.server.verify import hubspot_signature_v3 as intake_signature

    body = json.dumps([{"eventId": 1}]).encode()
    args = {"method": "POST", "uri": f"{receiver.url}/hubspot", "body": body, "timestamp": "1741082400000"}
    assert hubspot_signature_v3(HS_SECRET, **args) == intake_signature(HS_SECRET, **args)  # type: ignore[arg-type]


def test_the_cli_options_configure_webhooks_and_print_the_intake_settings() -> None:
    from connectors.sandbox.webhooks.options import webhook_config
    from sync.sandbox_cli import env_lines
    from sync.settings import Settings

    options = {"webhook_url": "http://127.0.0.1:8787/webhooks", "webhook_pipedrive_auth": "hooks:s3cret"}
    hooks = webhook_config(options, ("pipedrive", "salesforce"), seed=7)
    assert hooks is not None and hooks.target("pipedrive") == "http://127.0.0.1:8787/webhooks/pipedrive"
    sandbox = Sandbox(SandboxConfig(crms=("pipedrive", "salesforce"), webhooks=hooks))
    lines = [line for line in env_lines(sandbox, ["pipedrive", "salesforce"]) if line.startswith("LEADSYNC_SERVER__")]
    assert "LEADSYNC_SERVER__PIPEDRIVE_USER=hooks" in lines and "LEADSYNC_SERVER__PIPEDRIVE_PASSWORD=s3cret" in lines
    pairs = [line.removeprefix("LEADSYNC_SERVER__").split("=", 1) for line in lines]
    server = {key.lower(): value for key, value in pairs}
    settings = Settings(_env_file=None, server=server)  # type: ignore[call-arg]
    assert settings.server.salesforce_org_id == ORG_ID  # leadsync reads every printed line
    assert webhook_config({"webhook_url": None}, ("hubspot",), seed=7) is None
