"""Owner notifications: delivered to a local SMTP server (aiosmtpd) and local Slack / Teams webhook receivers,
routed per owner, held back in a backfill, capped per run, and raised by a real sync run."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from pydantic import SecretStr

from connectors.http import redact
from connectors.records import Contact, Owner
from scoring import score
from sync.leads import LeadState, LeadWatch, lead_events
from sync.notify.courier import Courier, Target
from sync.notify.message import notice_for, record_url, teams_payload
from sync.settings import NotifySettings
from sync.state import open_store
from tests.sync.fakes import T0, Clock, FakeCRM, WebhookReceiver, make_app, make_settings

SMTP_PASSWORD = "smtp-pa55-SECRET"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An SMTP server on 127.0.0.1 that keeps what it receives; LOGIN/PLAIN auth against one user."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Envelope] = []
        self.logins: list[str] = []
        self.received = threading.Event()
        inbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
                inbox.envelopes.append(envelope)
                inbox.messages.append(message_from_bytes(envelope.original_content or b""))
                inbox.received.set()
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and data.login == b"leadsync"
                and data.password == SMTP_PASSWORD.encode()
            )
            if ok:
                inbox.logins.append(data.login.decode())
            return AuthResult(success=ok)

        self.port = free_port()  # aiosmtpd checks its server by connecting to the port it was given: not 0
        self.controller = Controller(
            Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticate, auth_require_tls=False
        )
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.close()


@pytest.fixture
def slack(receivers: Callable[[], WebhookReceiver]) -> WebhookReceiver:
    return receivers()


@pytest.fixture
def teams(receivers: Callable[[], WebhookReceiver]) -> WebhookReceiver:
    return receivers()


def smtp_settings(inbox: Inbox, **more: Any) -> NotifySettings:
    return NotifySettings(
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_security="plain",
        smtp_username="leadsync",
        smtp_password=SecretStr(SMTP_PASSWORD),
        smtp_from="leadsync@acme.test",
        **more,
    )


def hot_contact(crm: FakeCRM, cid: str = "c1", owner: str = "u1") -> Contact:
    crm.add_contact(cid, first_name="Ann", last_name="Lee", email="ann@acme.test", title="VP Sales", owner_id=owner)
    crm.add_activity(cid, "demo_request")
    return crm.contacts[cid]


def test_email_reaches_the_smtp_server_with_name_score_reasons_link_and_local_due_time(
    tmp_path: Path, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    crm = FakeCRM(clock=Clock(T0))
    contact = hot_contact(crm)
    app = make_app(make_settings(tmp_path), crm, lambda: T0)
    result = score(app.model, contact, crm.activities["c1"], T0)
    link = record_url("hubspot", "c1", hubspot_portal_id="4711")
    notice = notice_for("hubspot", contact, result, ["p1"], owner_id="u1", link=link)
    courier = Courier(smtp_settings(inbox), backoff=0)
    caplog.set_level(logging.DEBUG)
    courier.send(notice, Target("email", SecretStr("ann.owner@acme.test"), "Europe/Berlin", "owner u1"))
    courier.close()

    assert courier.delivered == 1 and inbox.logins == ["leadsync"]
    assert inbox.envelopes[0].rcpt_tos == ["ann.owner@acme.test"]
    mail = inbox.messages[0]
    assert mail["Subject"] == "[leadsync] Ann Lee became P1"
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Score: 70" in body and "Tier: P1" in body
    assert "VP title (+30)" in body and "demo request (+40)" in body
    assert "https://app.hubspot.com/contacts/4711/record/0-1/c1" in body
    # T0 is 09:00 UTC; the SLA is 10 minutes; Berlin is UTC+1 in January
    assert "Respond by: 2026-01-05 10:10 CET" in body
    assert SMTP_PASSWORD not in caplog.text


def test_slack_and_teams_payloads_have_their_shapes(
    tmp_path: Path, slack: WebhookReceiver, teams: WebhookReceiver
) -> None:
    crm = FakeCRM(clock=Clock(T0))
    contact = hot_contact(crm)
    app = make_app(make_settings(tmp_path), crm, lambda: T0)
    result = score(app.model, contact, crm.activities["c1"], T0)
    notice = notice_for("hubspot", contact, result, ["p1", "owner"], owner_id="u1", link="https://crm.test/c1")
    courier = Courier(NotifySettings(), backoff=0)
    courier.send(notice, Target("slack", SecretStr(slack.url), "UTC"))
    courier.send(notice, Target("teams", SecretStr(teams.url), "America/New_York"))
    courier.close()

    (text,) = slack.texts
    assert text.startswith(":rotating_light: *<https://crm.test/c1|Ann Lee>* became P1 and was assigned to you")
    assert "Respond by: 2026-01-05 09:10 UTC" in text and "Why: " in text
    (body,) = teams.bodies
    assert body["type"] == "message"
    (attachment,) = body["attachments"]  # type: ignore[misc]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Ann Lee became P1 and was assigned to you"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Score"] == "70" and facts["Respond by"] == "2026-01-05 04:10 EST"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in hubspot", "url": "https://crm.test/c1"}]
    assert teams_payload(notice, "UTC")["attachments"][0]["content"]["body"][1]["facts"][-1]["value"].endswith("UTC")


def test_failed_deliveries_are_retried_then_dropped_and_logged_without_the_url(
    slack: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    notice = notice_for("hubspot", Contact("c9", T0, {"first_name": "Bo"}), None, ["p1"], owner_id=None, link="")
    waits: list[float] = []
    courier = Courier(NotifySettings(attempts=3), sleep=waits.append)
    slack.statuses = [503, 502]
    courier.send(notice, Target("slack", SecretStr(slack.url)))
    assert courier.flush(10)
    assert courier.delivered == 1 and len(slack.bodies) == 1 and waits == [1.0, 2.0]

    slack.statuses = [404]
    caplog.set_level(logging.DEBUG)
    courier.send(notice, Target("slack", SecretStr(slack.url), label="owner u1"))
    courier.close()
    assert courier.dropped == 1 and len(slack.bodies) == 1, "a 4xx is not retried"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("leadsync"))
    assert "could not deliver a notification to slack (owner u1) (HTTP 404" in ours
    assert "SECRET" not in ours
    # HTTP libraries log request paths at DEBUG: the redactor every log handler uses hides the webhook's
    assert "SECRET" not in redact(f'"POST {urlsplit(slack.url).path} HTTP/1.1" 404 2')


def test_an_unreachable_smtp_server_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=9, smtp_security="plain", attempts=2)
    courier = Courier(settings, sleep=lambda s: None)
    notice = notice_for("hubspot", Contact("c9", T0, {}), None, ["sql"], owner_id=None, link="")
    courier.send(notice, Target("email", SecretStr("x@acme.test")))
    courier.close()
    assert courier.dropped == 1 and "ConnectionRefusedError" in caplog.text


# -- routing and the run's rules ------------------------------------------------------------------------------
def watch_for(tmp_path: Path, notify: dict[str, Any], *, kind: str = "sync", owners: list[Owner] | None = None) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings = make_settings(tmp_path, notify=notify)
    store = open_store(settings.state_url)
    watch = LeadWatch(
        settings, store, kind=kind, owners=lambda: owners or [], courier=Courier(settings.notify, backoff=0)
    )
    return watch, store


def scored(tmp_path: Path, crm: FakeCRM, cid: str) -> Any:
    app = make_app(make_settings(tmp_path), crm, lambda: T0)
    return score(app.model, crm.contacts[cid], crm.activities[cid], T0)


def test_each_owner_is_told_on_their_own_channels(
    tmp_path: Path, inbox: Inbox, slack: WebhookReceiver, teams: WebhookReceiver
) -> None:
    own = WebhookReceiver()
    try:
        notify = {
            **smtp_settings(inbox).model_dump(),
            "events": {"p1": ["slack", "email"], "owner": ["email"]},
            "slack_webhook_url": slack.url,
            "owners": {"u1": {"slack_webhook_url": own.url, "email": "u1@route.test"}},
        }
        directory = [Owner("u1", "Una", "una@crm.test"), Owner("u2", "Udo", "udo@crm.test")]
        watch, store = watch_for(tmp_path, notify, owners=directory)
        crm = FakeCRM(clock=Clock(T0))
        for cid, owner in (("c1", "u1"), ("c2", "u2")):
            hot_contact(crm, cid, owner)
        for cid, owner in (("c1", "u1"), ("c2", "u2")):
            events = watch.observe(crm.contacts[cid], None, scored(tmp_path, crm, cid), owner, T0)
            assert events == ["p1"]
        watch.finish()
        store.close()
        assert len(own.bodies) == 1 and "contact c1" in own.texts[0], "u1's own Slack webhook"
        assert len(slack.bodies) == 1 and "contact c2" in slack.texts[0], "u2 has none: the team channel"
        assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == ["u1@route.test", "udo@crm.test"]
        assert not teams.bodies, "teams is not routed for p1 here"
    finally:
        own.close()


def test_events_p1_sql_and_owner_changes() -> None:
    def result(tier: str | None, stage: str) -> Any:
        from scoring.result import ScoreResult

        return ScoreResult("c1", 80, 40, 40, "A", None, "A1", stage, tier, None, (), "v1", T0, None)

    assert lead_events(None, result("P1", "sql"), "u1") == ["p1", "sql"], "new contact: its owner is not news"
    assert lead_events(None, result(None, "lead"), "u1", assigned=True) == ["owner"]
    same = LeadState("P1", "sql", "u1")
    assert lead_events(same, result("P1", "sql"), "u1") == []
    assert lead_events(same, result("P1", "sql"), "u2") == ["owner"]
    assert lead_events(LeadState(None, "mql", None), result("P1", "mql"), None) == ["p1"]


def test_a_backfill_tells_nobody_unless_asked_and_any_run_is_capped_with_a_summary(
    tmp_path: Path, slack: WebhookReceiver
) -> None:
    crm = FakeCRM(clock=Clock(T0))
    for i in range(5):
        hot_contact(crm, f"c{i}", f"u{i}")
    results = {cid: scored(tmp_path, crm, cid) for cid in crm.contacts}

    quiet, store = watch_for(tmp_path / "a", {"slack_webhook_url": slack.url}, kind="backfill")
    for cid, result in results.items():
        quiet.observe(crm.contacts[cid], None, result, str(crm.contacts[cid].get("owner_id")), T0)
    quiet.finish()
    store.close()
    assert slack.bodies == [] and quiet.held_back == 5

    capped, store = watch_for(tmp_path / "b", {"slack_webhook_url": slack.url, "in_backfill": True, "max_per_run": 2})
    for cid, result in results.items():
        capped.observe(crm.contacts[cid], None, result, str(crm.contacts[cid].get("owner_id")), T0)
    capped.finish()
    store.close()
    texts = slack.texts
    assert len(texts) == 3 and sum("became P1" in t for t in texts) == 2
    assert "2 notification(s) sent and 3 more not sent (at most 2 per run" in texts[-1]


def test_a_sync_notifies_the_owner_once_when_a_contact_becomes_p1(tmp_path: Path, slack: WebhookReceiver) -> None:
    clock = Clock(T0)
    crm = FakeCRM(clock=clock)
    crm.add_contact("c1", first_name="Ann", title="VP Sales", owner_id="u1")
    settings = make_settings(tmp_path, notify={"slack_webhook_url": slack.url, "events": {"p1": ["slack"]}})
    app = make_app(settings, crm, clock)
    assert app.run("backfill").status.value == "ok"
    assert slack.bodies == []

    clock.advance(minutes=1)
    crm.add_activity("c1", "demo_request")
    app = make_app(settings, crm, clock)
    app.run("sync")
    assert len(slack.texts) == 1 and "*Ann* became P1" in slack.texts[0]

    clock.advance(minutes=1)
    crm.touch("c1", title="VP Sales and Marketing")
    app = make_app(settings, crm, clock)
    app.run("sync")
    assert len(slack.texts) == 1, "still P1: not news again"
    with open_store(settings.state_url) as store:
        (lead,) = store.sla_open("hubspot", ["c1"]).values()
    demo_at = T0 + timedelta(minutes=1)
    assert (lead.tier, lead.owner_id, lead.prioritized_at, lead.due_at) == (
        "P1",
        "u1",
        demo_at,
        demo_at + timedelta(minutes=10),
    )
