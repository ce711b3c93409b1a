"""Webhook intake: signatures, the durable de-duplicated queue, refusals, and one run on a real uvicorn."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from sync.server import EventQueue, ServerThread, build_app
from sync.server.verify import hubspot_uri
from sync.settings import Settings
from sync.state import StateStore, WebhookEvent, open_store

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
HS_SECRET = "hs-app-secret-7f3a9c"
PD_PASSWORD = "pd-password-51be0e"
SF_SECRET = "sf-shared-secret-c0ffee"
SF_ORG = "00D5g000004XyZaEAK"
BODY_MARKER = "alice.private@example.com"


def _settings(state: Path, **server: Any) -> Settings:
    section = {
        "hubspot_app_secret": HS_SECRET,
        "pipedrive_user": "leadsync",
        "pipedrive_password": PD_PASSWORD,
        "salesforce_org_id": SF_ORG,
        "salesforce_secret": SF_SECRET,
        **server,
    }
    return Settings(_env_file=None, state_url=str(state), server=section)  # type: ignore[call-arg]


class Intake:
    """An app on a state file with a settable clock; ``restart()`` drops the app and its queue, keeps the file."""

    def __init__(self, state: Path, **server: Any) -> None:
        self.state = state
        self.settings = _settings(state, **server)
        self.now = NOW
        self._start()

    def _start(self) -> None:
        self.queue = EventQueue(str(self.state))
        self.queue.open()
        app = build_app(self.settings, queue=self.queue, clock=lambda: self.now)
        self.client = TestClient(app, base_url="https://hooks.example.com")

    def restart(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        self.client.close()
        self.queue.close()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    running = Intake(tmp_path / "state.db")
    yield running
    running.close()


def _hubspot_events(*ids: int, contact: int = 501) -> bytes:
    events = [
        {
            "eventId": event_id,
            "subscriptionId": 12345,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": int(NOW.timestamp() * 1000) - 2000,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": contact,
            "propertyName": "email",
            "propertyValue": BODY_MARKER,
            "changeSource": "CRM",
        }
        for event_id in ids
    ]
    return json.dumps(events).encode()


def _sign(body: bytes, *, url: str, secret: str = HS_SECRET, at: datetime = NOW) -> dict[str, str]:
    """The v3 signature written out from HubSpot's steps, independently of sync.server.verify."""
    timestamp = str(int(at.timestamp() * 1000))
    message = f"POST{url}".encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


HS_URL = "https://hooks.example.com/webhooks/hubspot"


def _post_hubspot(intake: Intake, body: bytes, **sign: Any) -> httpx.Response:
    return intake.client.post("/webhooks/hubspot", content=body, headers=_sign(body, url=HS_URL, **sign))


def _pending(state: Path, crm: str) -> int:
    with open_store(state) as store:
        return store.count_pending_events(crm)


# -- HubSpot -----------------------------------------------------------------------------------------------
def test_a_validly_signed_hubspot_delivery_is_stored_before_the_answer(intake: Intake) -> None:
    response = _post_hubspot(intake, _hubspot_events(1, 2))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 2, "new": 2}
    with open_store(intake.state) as store:
        claimed = store.claim_events("hubspot", 10, now=NOW)
    assert [(q.event.event_id, q.event.object_type, q.event.object_id) for q in claimed] == [
        ("1", "contact", "501"),
        ("2", "contact", "501"),
    ]
    assert claimed[0].event.kind == "contact.propertyChange"
    assert claimed[0].event.occurred_at == NOW - timedelta(seconds=2)
    assert claimed[0].event.payload["propertyValue"] == BODY_MARKER


@pytest.mark.parametrize(
    ("sign", "why"),
    [
        ({"secret": "someone-elses-secret"}, "does not match"),
        ({"at": NOW - timedelta(minutes=5, seconds=1)}, "away from now"),
        ({"at": NOW + timedelta(minutes=6)}, "away from now"),
    ],
    ids=["wrong-secret", "expired-timestamp", "future-timestamp"],
)
def test_a_hubspot_delivery_with_a_bad_signature_or_timestamp_is_refused(
    intake: Intake, sign: dict[str, Any], why: str
) -> None:
    response = _post_hubspot(intake, _hubspot_events(1), **sign)
    assert response.status_code == 401
    assert why in response.json()["error"]
    assert _pending(intake.state, "hubspot") == 0


def test_a_hubspot_signature_over_another_url_or_body_is_refused(intake: Intake) -> None:
    body = _hubspot_events(1)
    other_url = intake.client.post(
        "/webhooks/hubspot", content=body, headers=_sign(body, url="https://evil.example.com/webhooks/hubspot")
    )
    tampered = intake.client.post("/webhooks/hubspot", content=_hubspot_events(2), headers=_sign(body, url=HS_URL))
    unsigned = intake.client.post("/webhooks/hubspot", content=body)
    assert [other_url.status_code, tampered.status_code, unsigned.status_code] == [401, 401, 401]
    assert _pending(intake.state, "hubspot") == 0


def test_a_replayed_hubspot_delivery_is_acknowledged_but_stored_once(intake: Intake) -> None:
    body = _hubspot_events(7, 8)
    first = _post_hubspot(intake, body)
    intake.now = NOW + timedelta(minutes=1)  # still inside the window: the signature alone cannot tell
    replay = _post_hubspot(intake, body)
    overlapping = _post_hubspot(intake, _hubspot_events(8, 9), at=NOW + timedelta(minutes=1))
    assert first.json() == {"received": 2, "new": 2}
    assert replay.status_code == 200 and replay.json() == {"received": 2, "new": 0}
    assert overlapping.json() == {"received": 2, "new": 1}
    assert _pending(intake.state, "hubspot") == 3


def test_the_public_url_is_what_hubspot_signed_behind_a_proxy(tmp_path: Path) -> None:
    proxied = Intake(tmp_path / "state.db", public_url="https://leads.example.org/hooks/")
    try:
        body = _hubspot_events(1)
        # the proxy forwards /webhooks/hubspot?x=a%3Ab, HubSpot signed its own URL with the listed escapes decoded
        signed = _sign(body, url="https://leads.example.org/hooks/webhooks/hubspot?x=a:b")
        response = proxied.client.post("/webhooks/hubspot?x=a%3Ab", content=body, headers=signed)
        assert response.status_code == 200, response.text
    finally:
        proxied.close()
    assert hubspot_uri("https://h/p?a=%3a%2F%20") == "https://h/p?a=:/%20"


# -- Pipedrive -----------------------------------------------------------------------------------------------
def _pipedrive(entity_id: int = 3, action: str = "change", stamp: int = 1727447128, **meta: Any) -> bytes:
    return json.dumps(
        {
            "meta": {
                "action": action,
                "entity": "person",
                "version": "2.0",
                "company_id": 12882925,
                "id": f"event-{entity_id}-{action}-{stamp}",  # v2: the event's id (a UUID), kept by a retry
                "entity_id": entity_id,
                "webhook_id": 99,
                "attempt": 1,
                "host": "company.pipedrive.com",
                "timestamp": stamp,
                "change_source": "app",
                **meta,
            },
            "data": {"id": entity_id, "name": "Alice", "emails": [{"value": BODY_MARKER}]},
            "previous": {"name": "Alise"},
        }
    ).encode()


def test_pipedrive_needs_its_basic_credentials_and_duplicates_are_stored_once(intake: Intake) -> None:
    good = ("leadsync", PD_PASSWORD)
    ok = intake.client.post("/webhooks/pipedrive", content=_pipedrive(), auth=good)
    retry = intake.client.post("/webhooks/pipedrive", content=_pipedrive(attempt=2), auth=good)
    later = intake.client.post("/webhooks/pipedrive", content=_pipedrive(stamp=1727447200), auth=good)
    wrong_password = intake.client.post("/webhooks/pipedrive", content=_pipedrive(4), auth=("leadsync", "guess"))
    wrong_user = intake.client.post("/webhooks/pipedrive", content=_pipedrive(4), auth=("admin", PD_PASSWORD))
    none = intake.client.post("/webhooks/pipedrive", content=_pipedrive(4))
    assert [r.status_code for r in (ok, retry, later)] == [200, 200, 200]
    assert [ok.json()["new"], retry.json()["new"], later.json()["new"]] == [1, 0, 1]
    assert [r.status_code for r in (wrong_password, wrong_user, none)] == [401, 401, 401]
    with open_store(intake.state) as store:
        claimed = store.claim_events("pipedrive", 10, now=NOW)
    assert [(q.event.kind, q.event.object_id) for q in claimed] == [("change.person", "3"), ("change.person", "3")]
    assert claimed[0].event.occurred_at == datetime.fromtimestamp(1727447128, UTC)


def test_a_pipedrive_event_id_is_the_key_when_sent(intake: Intake) -> None:
    auth = ("leadsync", PD_PASSWORD)
    first = intake.client.post("/webhooks/pipedrive", content=_pipedrive(id="e-1"), auth=auth)
    again = intake.client.post("/webhooks/pipedrive", content=_pipedrive(id="e-1", stamp=1), auth=auth)
    assert [first.json()["new"], again.json()["new"]] == [1, 0]


# -- Salesforce ----------------------------------------------------------------------------------------------
def _salesforce(org: str = SF_ORG, modified: str = "2025-03-04T09:59:58.000Z") -> bytes:
    return json.dumps(
        {
            "organizationId": org,
            "records": [
                {"attributes": {"type": "Lead"}, "Id": "00Q5g00000AbCdEEAV", "LastModifiedDate": modified},
                {"Id": "00T5g00000XyZwQEAV", "LastModifiedDate": modified},
            ],
        }
    ).encode()


def test_salesforce_needs_the_org_id_and_the_shared_secret(intake: Intake) -> None:
    secret = {"X-Leadsync-Secret": SF_SECRET}
    ok = intake.client.post("/webhooks/salesforce", content=_salesforce(), headers=secret)
    again = intake.client.post("/webhooks/salesforce", content=_salesforce(), headers=secret)
    other_org = intake.client.post("/webhooks/salesforce", content=_salesforce("00D000000000001AAA"), headers=secret)
    no_secret = intake.client.post("/webhooks/salesforce", content=_salesforce())
    bad_secret = intake.client.post(
        "/webhooks/salesforce", content=_salesforce(), headers={"X-Leadsync-Secret": "nope"}
    )
    assert ok.json() == {"received": 2, "new": 2} and again.json() == {"received": 2, "new": 0}
    assert [other_org.status_code, no_secret.status_code, bad_secret.status_code] == [403, 401, 401]
    with open_store(intake.state) as store:
        claimed = store.claim_events("salesforce", 10, now=NOW)
    assert [(q.event.object_type, q.event.object_id) for q in claimed] == [
        ("Lead", "00Q5g00000AbCdEEAV"),
        ("Task", "00T5g00000XyZwQEAV"),
    ]


# -- refusals ------------------------------------------------------------------------------------------------
def test_an_oversized_body_gets_413_whether_declared_or_streamed(tmp_path: Path) -> None:
    small = Intake(tmp_path / "state.db", max_body_bytes=2048)
    try:
        body = _hubspot_events(*range(1, 40))
        assert len(body) > 2048
        declared = _post_hubspot(small, body)

        def chunked() -> Iterator[bytes]:
            yield body[:1000]
            yield body[1000:]

        streamed = small.client.post("/webhooks/pipedrive", content=chunked(), auth=("leadsync", PD_PASSWORD))
        assert declared.status_code == 413 and streamed.status_code == 413
        assert "MAX_BODY_BYTES" in declared.json()["error"]
        assert _pending(small.state, "hubspot") == 0
    finally:
        small.close()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"{}", b"[]", b'[{"eventId": 1}]', b'"a string"'],
    ids=["broken", "not-utf8", "object", "empty-array", "missing-fields", "string"],
)
def test_a_malformed_hubspot_body_gets_400(intake: Intake, body: bytes) -> None:
    response = _post_hubspot(intake, body)
    assert response.status_code == 400
    assert _pending(intake.state, "hubspot") == 0


def test_malformed_pipedrive_and_salesforce_bodies_get_400(intake: Intake) -> None:
    auth = ("leadsync", PD_PASSWORD)
    secret = {"X-Leadsync-Secret": SF_SECRET}
    answers = [
        intake.client.post("/webhooks/pipedrive", content=b"{", auth=auth),
        intake.client.post("/webhooks/pipedrive", content=b'{"meta": {"action": "change"}}', auth=auth),
        intake.client.post("/webhooks/salesforce", content=b"[1]", headers=secret),
        intake.client.post("/webhooks/salesforce", content=_salesforce(modified="yesterday"), headers=secret),
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 400]


def test_refusals_are_logged_without_body_or_secrets(intake: Intake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _post_hubspot(intake, _hubspot_events(1), secret="leaked-" + HS_SECRET)
    _post_hubspot(intake, b'[{"eventId": 1, "note": "' + BODY_MARKER.encode() + b'"}]')
    intake.client.post("/webhooks/pipedrive", content=_pipedrive(), auth=("leadsync", PD_PASSWORD + "x"))
    intake.client.post("/webhooks/salesforce", content=_salesforce(), headers={"X-Leadsync-Secret": SF_SECRET[:-1]})
    _post_hubspot(intake, _hubspot_events(2))  # accepted: logged too
    refused = [r for r in caplog.records if r.name == "leadsync.server" and "refused" in r.getMessage()]
    assert len(refused) == 4
    for secret in (HS_SECRET, PD_PASSWORD, SF_SECRET, BODY_MARKER, "Basic "):
        assert secret not in caplog.text


def test_an_unconfigured_crm_answers_404_and_stores_nothing(tmp_path: Path) -> None:
    bare = Intake(tmp_path / "state.db", hubspot_app_secret=None, salesforce_secret=None)
    try:
        body = _hubspot_events(1)
        assert _post_hubspot(bare, body).status_code == 404
        assert bare.client.post("/webhooks/salesforce", content=_salesforce()).status_code == 404
        health = bare.client.get("/healthz").json()
        assert health["webhooks"]["configured"] == {"hubspot": False, "pipedrive": True, "salesforce": False}
    finally:
        bare.close()


# -- the durable queue ---------------------------------------------------------------------------------------
def test_stored_events_survive_a_restart_and_are_claimed_once(intake: Intake) -> None:
    _post_hubspot(intake, _hubspot_events(1, 2, 3))
    intake.restart()
    assert _post_hubspot(intake, _hubspot_events(3)).json() == {"received": 1, "new": 0}  # still a duplicate
    assert intake.client.get("/healthz").json()["webhooks"]["pending"]["hubspot"] == 3
    with open_store(intake.state) as worker, open_store(intake.state) as other:
        first = worker.claim_events("hubspot", 2, now=NOW)
        second = other.claim_events("hubspot", 10, now=NOW)
        nothing = worker.claim_events("hubspot", 10, now=NOW + timedelta(minutes=1))
        assert [q.event.event_id for q in first] == ["1", "2"]
        assert [q.event.event_id for q in second] == ["3"]
        assert nothing == []
        assert worker.ack_events([q.id for q in first + second], NOW) == 3
    assert _pending(intake.state, "hubspot") == 0
    assert _post_hubspot(intake, _hubspot_events(1)).json()["new"] == 0  # acked events still de-duplicate


def _event(event_id: str, crm: str = "hubspot") -> WebhookEvent:
    return WebhookEvent(
        crm=crm,
        event_id=event_id,
        kind="contact.creation",
        object_type="contact",
        object_id="c-" + event_id,
        occurred_at=NOW,
        payload={"eventId": event_id},
    )


def test_an_unacked_claim_is_handed_out_again_after_its_lease(store: StateStore) -> None:
    assert store.enqueue_events([_event("a"), _event("b"), _event("a"), _event("a", crm="pipedrive")], NOW) == 3
    lease = timedelta(minutes=5)
    claimed = store.claim_events("hubspot", 10, now=NOW, lease=lease)
    assert [(q.event.event_id, q.attempts) for q in claimed] == [("a", 1), ("b", 1)]
    store.ack_events([claimed[0].id], NOW)
    assert store.claim_events("hubspot", 10, now=NOW + lease - timedelta(seconds=1), lease=lease) == []
    again = store.claim_events("hubspot", 10, now=NOW + lease, lease=lease)  # its worker died: b comes back
    assert [(q.event.event_id, q.attempts, q.claimed_at) for q in again] == [("b", 2, NOW + lease)]
    assert store.ack_events([claimed[0].id], NOW) == 0
    assert store.count_pending_events("hubspot") == 1 and store.count_pending_events("pipedrive") == 1
    with pytest.raises(ValueError, match="limit"):
        store.claim_events("hubspot", 0, now=NOW)


# -- /healthz, /metrics, and a real uvicorn ------------------------------------------------------------------
def test_metrics_count_deliveries_and_events(intake: Intake) -> None:
    _post_hubspot(intake, _hubspot_events(1, 2))
    _post_hubspot(intake, _hubspot_events(2))
    _post_hubspot(intake, b"{")
    page = intake.client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'leadsync_webhook_deliveries_total{crm="hubspot",outcome="accepted"} 2.0' in text
    assert 'leadsync_webhook_deliveries_total{crm="hubspot",outcome="400"} 1.0' in text
    assert 'leadsync_webhook_events_total{crm="hubspot",kind="new"} 2.0' in text
    assert 'leadsync_webhook_events_total{crm="hubspot",kind="duplicate"} 1.0' in text
    assert "# HELP leadsync_records" in text  # the daemon's series, on the same registry


def test_a_real_uvicorn_on_loopback_takes_a_signed_delivery(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "state.db")
    queue = EventQueue(settings.state_url)
    queue.open()
    server = ServerThread(build_app(settings, queue=queue), settings.server, host="127.0.0.1", port=0).start()
    try:
        body = _hubspot_events(42)
        url = f"{server.url}/webhooks/hubspot"
        with httpx.Client(timeout=10) as http:
            accepted = http.post(url, content=body, headers=_sign(body, url=url, at=datetime.now(UTC)))
            health = http.get(f"{server.url}/healthz")
            metrics = http.get(f"{server.url}/metrics")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"received": 1, "new": 1}
        assert health.status_code == 200 and health.json()["webhooks"]["pending"]["hubspot"] == 1
        assert "leadsync_webhook_deliveries_total" in metrics.text
    finally:
        server.stop()
        queue.close()
    assert _pending(tmp_path / "state.db", "hubspot") == 1
