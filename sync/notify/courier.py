"""Delivery of notifications to Slack-compatible and Teams webhooks and to SMTP, off the run's thread.

A run only queues; one background thread delivers, retrying a few times (connection errors, 429, 5xx, SMTP
4xx), and a notification that still cannot be delivered is logged and dropped: delivery never fails a run.
Webhook URLs and the SMTP password are secrets: a log line names the channel and whom it was for, never the
URL, and an exception is logged by its type only (requests puts the URL in its messages).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import requests
from pydantic import SecretStr

from sync.notify.message import Notice, email_message, slack_payload, teams_payload
from sync.outbox import Outbox, Refused, RetryLater, hide_webhook_url, retry_after_seconds, send_with_retries
from sync.settings import NotifySettings

log = logging.getLogger("leadsync.notify")

Channel = Literal["slack", "teams", "email"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one notification goes: a webhook URL (a secret) or an e-mail address, read in time zone ``tz``."""

    channel: Channel
    address: SecretStr
    tz: str = "UTC"
    label: str = ""  # whom it is for, fit for a log line ("owner 123", "manager")

    def describe(self) -> str:
        return f"{self.channel} ({self.label})" if self.label else self.channel


@dataclass(frozen=True, slots=True)
class _Item:
    target: Target
    notice: Notice | None = None
    text: str = ""
    subject: str = "[leadsync] notifications"  # of a plain-text item's e-mail


class Courier:
    """Queues notifications and delivers them on a background thread; ``close()`` waits for the queue."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        timeout: float = 5.0,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.backoff = backoff
        self.sleep = sleep
        self.delivered = 0
        self.dropped = 0
        self._outbox: Outbox[_Item] = Outbox("leadsync-notify", self._deliver_all, log)
        self._session = requests.Session()

    def send(self, notice: Notice, target: Target) -> None:
        self._put(_Item(target, notice=notice))

    def send_text(self, text: str, target: Target, *, subject: str = "") -> None:
        self._put(_Item(target, text=text, subject=subject) if subject else _Item(target, text=text))

    def _put(self, item: _Item) -> None:
        if item.target.channel != "email":
            hide_webhook_url(item.target.address.get_secret_value())
        self._outbox.put(item)

    def flush(self, timeout: float = 30.0) -> bool:
        return self._outbox.flush(timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._outbox.close(timeout, "notification(s)")
        self._session.close()

    def _deliver_all(self, items: list[_Item]) -> None:
        for item in items:
            try:
                self._deliver(item)
            except Exception:  # a bug in one delivery must not stop the others
                log.exception("could not deliver a notification to %s", item.target.describe())

    # -- one delivery, retried --------------------------------------------------------------------------------
    def _deliver(self, item: _Item) -> None:
        def send() -> None:
            if item.target.channel == "email":
                self._email(item)
            else:
                self._webhook(item)

        problem = send_with_retries(
            send,
            attempts=self.settings.attempts,
            backoff=self.backoff,
            sleep=self.sleep,
            transient=(requests.RequestException, OSError, smtplib.SMTPException),
            describe=_safe_problem,
        )
        if problem is None:
            self.delivered += 1
            return
        self.dropped += 1
        what = item.notice.headline if item.notice is not None else item.text.partition("\n")[0]
        log.warning("could not deliver a notification to %s (%s); it was: %s", item.target.describe(), problem, what)

    def _webhook(self, item: _Item) -> None:
        target = item.target
        body: dict[str, Any]
        if item.notice is not None:
            body = (slack_payload if target.channel == "slack" else teams_payload)(item.notice, target.tz)
        elif target.channel == "slack":
            body = {"text": item.text}
        else:
            card = {
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{"type": "TextBlock", "text": item.text, "wrap": True}],
            }
            body = {
                "type": "message",
                "attachments": [
                    {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
                ],
            }
        response = self._session.post(target.address.get_secret_value(), json=body, timeout=self.timeout)
        if response.status_code < 300:
            return
        if response.status_code == 429:
            raise RetryLater(f"HTTP {response.status_code}", retry_after_seconds(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            raise RetryLater(f"HTTP {response.status_code}", None)
        raise Refused(f"HTTP {response.status_code}: the webhook refused the message")

    def _email(self, item: _Item) -> None:
        s = self.settings
        if not s.smtp_host:
            raise Refused("LEADSYNC_NOTIFY__SMTP_HOST is not set")
        to = item.target.address.get_secret_value()
        if item.notice is not None:
            message = email_message(item.notice, item.target.tz, sender=s.smtp_from, to=to)
        else:
            from email.message import EmailMessage

            message = EmailMessage()
            message["Subject"], message["From"], message["To"] = item.subject, s.smtp_from, to
            message.set_content(item.text + "\n")
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if s.smtp_security == "ssl":
            client = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=context)
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            if s.smtp_security == "starttls":
                client.starttls(context=context)
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                client.login(s.smtp_username, password)
            client.send_message(message)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise Refused(f"{type(exc).__name__}: check the LEADSYNC_NOTIFY__SMTP_* settings") from None
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def _safe_problem(exc: Exception) -> str:
    """The exception's text may name the URL: only its type (and an SMTP code) is safe to log."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"
