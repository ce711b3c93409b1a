"""The monthly calibration report also goes to the team's notification channels (Slack, Teams, e-mail), as
configured for owner notifications, received here by local Slack and Teams webhooks and a local SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.sync.fakes import Clock, WebhookReceiver
from tests.sync.test_calibration_alerts import run_monthly_job
from tests.sync.test_notify import SMTP_PASSWORD, Inbox

REPORT = "calibration-hubspot-2026-01-05.html"
SUBJECT = "[leadsync] monthly calibration report for hubspot"


@pytest.fixture
def receivers() -> Iterator[dict[str, WebhookReceiver]]:
    made = {name: WebhookReceiver() for name in ("alert", "slack", "teams")}
    yield made
    for receiver in made.values():
        receiver.close()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.close()


def test_the_report_reaches_slack_teams_email_and_the_alert_webhook(
    tmp_path: Path, clock: Clock, receivers: dict[str, WebhookReceiver], inbox: Inbox
) -> None:
    notify = {
        "slack_webhook_url": receivers["slack"].url,
        "teams_webhook_url": receivers["teams"].url,
        "manager_email": "sales-lead@acme.test",
        "smtp_host": "127.0.0.1",
        "smtp_port": inbox.port,
        "smtp_security": "plain",
        "smtp_username": "leadsync",
        "smtp_password": SMTP_PASSWORD,
        "smtp_from": "leadsync@acme.test",
    }
    base = "https://reports.example.test/leadsync/"
    daemon = {"webhook_url": SecretStr(receivers["alert"].url), "report_base_url": base}
    run_monthly_job(tmp_path, clock, daemon, notify)
    link = f"Report: {base}{REPORT}"

    (alert,) = receivers["alert"].texts
    (slack,) = receivers["slack"].texts
    assert slack == alert  # one message, two channels
    assert slack.startswith(":bar_chart: leadsync monthly calibration report for hubspot:\n")
    assert "Read 8 contacts from hubspot: 4 won (50%)." in slack and slack.endswith(link)

    (card_body,) = receivers["teams"].bodies
    (attachment,) = card_body["attachments"]  # type: ignore[misc]
    (block,) = attachment["content"]["body"]  # type: ignore[index]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"  # type: ignore[index]
    assert block["wrap"] is True and block["text"].startswith("leadsync monthly calibration report for hubspot:")
    assert "Read 8 contacts from hubspot" in block["text"] and block["text"].endswith(link)

    (mail,) = inbox.messages
    assert mail["Subject"] == SUBJECT and mail["To"] == "sales-lead@acme.test"
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Read 8 contacts from hubspot: 4 won (50%)." in body and link in body and ":bar_chart:" not in body
    assert inbox.logins == ["leadsync"]
    assert (tmp_path / "reports" / REPORT).exists()


def test_a_slack_webhook_that_is_also_the_alert_webhook_hears_the_report_once(
    tmp_path: Path, clock: Clock, receivers: dict[str, WebhookReceiver]
) -> None:
    shared = receivers["slack"].url
    run_monthly_job(tmp_path, clock, {"webhook_url": SecretStr(shared)}, {"slack_webhook_url": shared})
    (text,) = receivers["slack"].texts
    assert "monthly calibration report" in text and text.endswith(str((tmp_path / "reports" / REPORT).resolve()))


def test_without_an_alert_webhook_the_notification_channels_still_get_it(
    tmp_path: Path, clock: Clock, receivers: dict[str, WebhookReceiver]
) -> None:
    run_monthly_job(tmp_path, clock, {}, {"teams_webhook_url": receivers["teams"].url})
    (card_body,) = receivers["teams"].bodies
    text = card_body["attachments"][0]["content"]["body"][0]["text"]  # type: ignore[index]
    assert "Read 8 contacts from hubspot" in text
    assert text.endswith(f"Report: {(tmp_path / 'reports' / REPORT).resolve()}")
    assert receivers["alert"].bodies == [] and receivers["slack"].bodies == []
