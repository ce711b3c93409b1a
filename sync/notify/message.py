"""What an owner is told, and how it reads in Slack, Teams (an Adaptive Card) and e-mail.

A ``Notice`` is plain data built from a contact and its score; the renderers are pure functions of it and
the reader's time zone, so each channel says the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from connectors.records import Contact
from scoring import ScoreResult
from sync.links import record_url as record_url  # moved to sync.links; this import path still works

TOP_REASONS = 3
ADAPTIVE_CARD_VERSION = "1.4"  # what Teams renders from a Workflows webhook (see docs/notifications.md)

EVENT_TITLES = {
    "p1": "became P1",
    "sql": "became a sales-qualified lead (SQL)",
    "owner": "was assigned to you",
    "escalation": "is past its response SLA with no call, e-mail or meeting logged",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One contact's news for one owner: ``events`` are keys of ``EVENT_TITLES``, most urgent first."""

    crm: str
    contact_id: str
    name: str
    events: tuple[str, ...]
    owner_id: str | None = None
    email: str = ""
    company: str = ""
    score: float | None = None
    tier: str | None = None
    stage: str | None = None
    reasons: tuple[str, ...] = ()
    link: str = ""
    sla_due_at: datetime | None = None
    extra: tuple[str, ...] = field(default=())  # further lines (an escalation says since when)

    @property
    def headline(self) -> str:
        what = " and ".join(EVENT_TITLES.get(e, e) for e in self.events)
        return f"{self.name} {what}"


def contact_name(contact: Contact) -> str:
    name = " ".join(str(contact.get(f) or "").strip() for f in ("first_name", "last_name")).strip()
    return name or str(contact.get("email") or "").strip() or f"contact {contact.id}"


def top_reasons(result: ScoreResult, limit: int = TOP_REASONS) -> tuple[str, ...]:
    """The reasons that moved the score most, each as ``label (+12)``."""
    ranked = sorted(result.reasons, key=lambda r: -abs(r.points))
    return tuple(f"{r.label} ({r.points:+.0f})" for r in ranked[:limit] if r.points)


def notice_for(
    crm: str,
    contact: Contact,
    result: ScoreResult | None,
    events: Sequence[str],
    *,
    owner_id: str | None,
    link: str,
    score: float | None = None,
    tier: str | None = None,
    sla_due_at: datetime | None = None,
    extra: Sequence[str] = (),
) -> Notice:
    return Notice(
        crm=crm,
        contact_id=contact.id,
        name=contact_name(contact),
        events=tuple(events),
        owner_id=owner_id,
        email=str(contact.get("email") or "").strip(),
        company=str(contact.get("company") or "").strip(),
        score=result.total if result is not None else score,
        tier=result.tier if result is not None else tier,
        stage=result.stage if result is not None else None,
        reasons=top_reasons(result) if result is not None else (),
        link=link,
        sla_due_at=result.sla_due_at if result is not None else sla_due_at,
        extra=tuple(extra),
    )


# -- renderers ------------------------------------------------------------------------------------------
def due_text(due: datetime | None, tz: str) -> str:
    if due is None:
        return ""
    local = due.astimezone(ZoneInfo(tz))
    return f"{local.strftime('%Y-%m-%d %H:%M')} {local.tzname() or tz}"


def _facts(notice: Notice, tz: str) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if notice.email:
        facts.append(("E-mail", notice.email))
    if notice.company:
        facts.append(("Company", notice.company))
    if notice.score is not None:
        facts.append(("Score", f"{notice.score:g}"))
    if notice.tier:
        facts.append(("Tier", notice.tier))
    if notice.stage:
        facts.append(("Stage", notice.stage.upper()))
    if notice.sla_due_at is not None:
        facts.append(("Respond by", due_text(notice.sla_due_at, tz)))
    return facts


def slack_payload(notice: Notice, tz: str) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: ``text`` in Slack's mrkdwn, which Mattermost reads too."""
    title = f"<{notice.link}|{notice.name}>" if notice.link else notice.name
    rest = notice.headline.removeprefix(notice.name)
    lines = [f":rotating_light: *{title}*{rest} ({notice.crm}, contact {notice.contact_id})"]
    lines.append(" · ".join(f"{k}: {v}" for k, v in _facts(notice, tz)))
    if notice.reasons:
        lines.append("Why: " + "; ".join(notice.reasons))
    lines.extend(notice.extra)
    return {"text": "\n".join(line for line in lines if line)}


def teams_payload(notice: Notice, tz: str) -> dict[str, Any]:
    """A Teams Workflows webhook body: a message with one Adaptive Card attachment."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": notice.headline, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in _facts(notice, tz)]},
    ]
    if notice.reasons:
        body.append({"type": "TextBlock", "text": "Why: " + "; ".join(notice.reasons), "wrap": True})
    body.extend({"type": "TextBlock", "text": line, "wrap": True} for line in notice.extra)
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
    }
    if notice.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": f"Open in {notice.crm}", "url": notice.link}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def email_message(notice: Notice, tz: str, *, sender: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[leadsync] {notice.headline}"
    message["From"] = sender
    message["To"] = to
    lines = [f"{notice.headline} ({notice.crm}, contact {notice.contact_id}).", ""]
    lines += [f"{k}: {v}" for k, v in _facts(notice, tz)]
    if notice.reasons:
        lines += ["", "Why:", *(f"- {r}" for r in notice.reasons)]
    if notice.extra:
        lines += ["", *notice.extra]
    if notice.link:
        lines += ["", f"Open the record: {notice.link}"]
    message.set_content("\n".join(lines) + "\n")
    return message


def summary_text(crm: str, suppressed: int, sent: int, cap: int, kind: str) -> str:
    return (
        f"leadsync {kind} on {crm}: {sent} notification(s) sent and {suppressed} more not sent "
        f"(at most {cap} per run, LEADSYNC_NOTIFY__MAX_PER_RUN). See the CRM's priority tier field for the rest."
    )
