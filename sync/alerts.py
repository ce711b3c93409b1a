"""Alerts to a Slack-compatible incoming webhook (``{"text": ...}``): failed runs, quarantined records, new P1s.

Sending never slows or breaks a run: messages go on a queue that a background thread delivers, retrying
briefly (connection errors, 429 with ``Retry-After``, 5xx), and a message that cannot be delivered is logged
and dropped.  P1 leads waiting in the queue together are sent as one message, so a burst does not trip the
webhook's rate limit.  The webhook URL is a secret: it is never logged, and neither is an exception text
that could contain it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests
from pydantic import SecretStr

from connectors.records import Contact
from sync.outbox import Outbox, Refused, RetryLater, hide_webhook_url, retry_after_seconds, send_with_retries

log = logging.getLogger("leadsync.alerts")

MAX_P1_LINES = 20
CALIBRATION_SUMMARY_LINES = 6


@dataclass(frozen=True, slots=True)
class _Message:
    text: str
    p1: bool = False


class Alerter:
    """Posts alerts to ``url`` (None: alerts are only logged).  ``close()`` delivers what is queued."""

    def __init__(
        self,
        url: SecretStr | None,
        *,
        crm: str,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        if url is not None:
            hide_webhook_url(url.get_secret_value())
        self.crm = crm
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self.delivered = 0
        self.dropped = 0
        self._outbox: Outbox[_Message] = Outbox("leadsync-alerts", self._deliver, log)
        self._last_failure: dict[str, str] = {}
        self._session = requests.Session()

    @property
    def enabled(self) -> bool:
        return self._url is not None and bool(self._url.get_secret_value())

    # -- what to say -------------------------------------------------------------------------------------
    def run_finished(
        self,
        *,
        run_id: int | None,
        kind: str,
        status: str,
        error: str | None,
        quarantined: int = 0,
        newly_quarantined: int = 0,
    ) -> None:
        """Alert on a failed run (once per distinct error) and on newly quarantined records."""
        run = f"run {run_id} ({kind})" if run_id is not None else f"the {kind} job"
        if status == "failed":
            message = error or "no error message"
            if self._last_failure.get(kind) == message:
                log.info("%s failed again with the same error; alert not repeated", run)
                return
            self._last_failure[kind] = message
            self.notify(f":red_circle: leadsync {run} on {self.crm} failed: {message}")
            return
        if status in ("ok", "partial") and self._last_failure.pop(kind, None) is not None:
            self.notify(f":large_green_circle: leadsync {kind} on {self.crm} works again ({run}: {status}).")
        if newly_quarantined:
            self.notify(
                f":warning: leadsync {run} on {self.crm} quarantined {newly_quarantined} record(s) the CRM refused"
                f" ({quarantined} in quarantine from this run). See `leadsync show {run_id}`."
            )
        elif quarantined:
            log.info("%s: %d record(s) still refused by the CRM (already reported)", run, quarantined)

    def p1(self, contact: Contact, *, score: float | None, sla_due_at: datetime | None, reason: str) -> None:
        """A contact just became P1: tell the team now, so the response SLA can be met."""
        self._queue_message(_Message(p1_line(contact, score=score, sla_due_at=sla_due_at, reason=reason), p1=True))

    def notify(self, text: str) -> None:
        self._queue_message(_Message(text))

    # -- delivery ----------------------------------------------------------------------------------------
    def _queue_message(self, message: _Message) -> None:
        if not self.enabled:
            log.info("alert (no webhook configured): %s", message.text)
            return
        self._outbox.put(message)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message is delivered or dropped; False when ``timeout`` ran out first."""
        return self._outbox.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._outbox.close(timeout, "alert(s)")
        self._session.close()

    def _deliver(self, messages: list[_Message]) -> None:
        for text in self._compose(messages):
            self._post(text)

    def _compose(self, messages: list[_Message]) -> list[str]:
        texts = [m.text for m in messages if not m.p1]
        p1s = [m.text for m in messages if m.p1]
        if len(p1s) == 1:
            texts.append(f":rotating_light: New P1 lead in {self.crm}: {p1s[0]}")
        elif p1s:
            lines = [f"• {line}" for line in p1s[:MAX_P1_LINES]]
            if len(p1s) > MAX_P1_LINES:
                lines.append(f"…and {len(p1s) - MAX_P1_LINES} more: see the CRM's priority tier field.")
            texts.append(f":rotating_light: {len(p1s)} new P1 leads in {self.crm}:\n" + "\n".join(lines))
        return texts

    def _post(self, text: str) -> None:
        assert self._url is not None
        url = self._url.get_secret_value()

        def send() -> None:
            response = self._session.post(url, json={"text": text}, timeout=self.timeout)
            if response.status_code < 300:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code == 429:
                raise RetryLater(problem, retry_after_seconds(response.headers.get("Retry-After")))
            if response.status_code < 500:
                raise Refused(problem)  # the webhook refuses this request; sending it again will not help
            raise RetryLater(problem)

        problem = send_with_retries(
            send,
            attempts=self.attempts,
            backoff=self.backoff,
            sleep=self.sleep,
            transient=(requests.RequestException,),
            describe=lambda exc: f"{type(exc).__name__} (no response)",  # its text names the URL
        )
        if problem is None:
            self.delivered += 1
            return
        self.dropped += 1
        log.warning(
            "could not deliver an alert to the webhook (%s); check LEADSYNC_DAEMON__WEBHOOK_URL. The alert was: %s",
            problem,
            text,
        )


def calibration_message(crm: str, summary: str, report: str | None) -> str:
    """The monthly calibration alert: the summary's first lines and where the full report is."""
    lines = [line for line in summary.splitlines() if line.strip()]
    shown = lines[:CALIBRATION_SUMMARY_LINES]
    if len(lines) > len(shown):
        shown.append(f"…{len(lines) - len(shown)} more line(s) in the report.")
    where = f"\nReport: {report}" if report else ""
    return f":bar_chart: leadsync monthly calibration report for {crm}:\n" + "\n".join(shown) + where


def p1_line(contact: Contact, *, score: float | None, sla_due_at: datetime | None, reason: str) -> str:
    name = " ".join(str(contact.get(f) or "").strip() for f in ("first_name", "last_name")).strip()
    email = str(contact.get("email") or "").strip()
    who = f"{name} <{email}>" if name and email else (name or email or "(no name)")
    company = str(contact.get("company") or "").strip()
    parts = [f"{who}{f' ({company})' if company else ''}, contact {contact.id}"]
    if score is not None:
        parts.append(f"score {score:g}")
    if sla_due_at is not None:
        parts.append(f"respond by {sla_due_at.strftime('%Y-%m-%d %H:%M %Z').strip()}")
    line = ", ".join(parts)
    return f"{line}. {reason}" if reason else line
