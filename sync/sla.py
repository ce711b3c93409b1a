"""Response SLAs of prioritized leads: the first touch, the met/missed report, and the escalation job.

A lead is prioritized when its score puts it in a tracked tier (``LEADSYNC_SLA__TIERS``, P1 and P2); its
due time is the model's ``respond_within`` after the activity that triggered the tier.  Its first touch is
the earliest call, e-mail or meeting logged by a person at or after that activity (``is_touch``: what
counts per CRM is in docs/notifications.md).  Met: touched by the due time.  Missed: touched later, or not
touched and the due time has passed.  Pending: not touched, not yet due.

The daemon's escalation job (``EscalationJob``) finds leads still untouched at their due time and tells
their owner and the manager channels, once: the escalation is recorded before it is sent.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter

from connectors.records import Activity, ActivityType, Contact, Owner
from sync.notify.courier import Courier
from sync.notify.message import due_text, notice_for
from sync.notify.routing import Router, unique
from sync.settings import Settings
from sync.state import SlaLead, StateStore, open_store

log = logging.getLogger("leadsync.sla")

Outcome = Literal["met", "missed", "pending"]
OUTCOMES: tuple[Outcome, ...] = ("met", "missed", "pending")
REPORT_WINDOWS = (7, 30)
TOUCH_TYPES = frozenset({ActivityType.CALL.value, ActivityType.MEETING.value, ActivityType.EMAIL_SENT.value})
# HubSpot engagement source types (connectors/hubspot/mapping.py) that a person at the company logged
_HUBSPOT_EMAIL_TOUCH = frozenset({"SENT", "OPENED", "CLICKED"})  # outgoing one-to-one e-mails only
_HUBSPOT_CALL_MISS = frozenset({"CANCELED", "FAILED", "QUEUED"})
_HUBSPOT_MEETING_MISS = frozenset({"CANCELED"})


# -- what counts as a touch -----------------------------------------------------------------------------
def is_touch(crm: str, activity: Activity) -> bool:
    """Whether ``activity`` is a call, e-mail or meeting a person (a seller) logged with the lead."""
    attrs = activity.attributes
    if crm == "hubspot":
        kind, _, detail = activity.source_type.upper().partition(":")
        if kind == "CALL":
            return detail not in _HUBSPOT_CALL_MISS
        if kind == "MEETING":
            return detail not in _HUBSPOT_MEETING_MISS
        return kind == "EMAIL" and detail in _HUBSPOT_EMAIL_TOUCH
    if crm == "salesforce":
        sobject = str(attrs.get("sobject") or activity.source_type.partition(":")[0])
        if sobject == "Event":
            return True  # a calendar event with the lead: a meeting or call a user put on the calendar
        status = str(attrs.get("status") or "Completed")
        return sobject == "Task" and activity.type in TOUCH_TYPES and status.lower() == "completed"
    if crm == "pipedrive":
        return bool(attrs.get("done")) and bool(attrs.get("owner_id")) and activity.type in TOUCH_TYPES
    return activity.type in TOUCH_TYPES


def first_touch(crm: str, activities: Iterable[Activity], since: datetime) -> Activity | None:
    touches = [a for a in activities if a.occurred_at >= since and is_touch(crm, a)]
    return min(touches, key=lambda a: (a.occurred_at, a.id)) if touches else None


# -- the report -----------------------------------------------------------------------------------------
def outcome(lead: SlaLead, now: datetime) -> Outcome | None:
    """Met, missed or pending; None for a lead without a due time (nothing to measure it against)."""
    if lead.due_at is None:
        return None
    if lead.touched_at is not None:
        return "met" if lead.touched_at <= lead.due_at else "missed"
    return "missed" if lead.due_at <= now else "pending"


@dataclass(frozen=True, slots=True)
class SlaRow:
    days: int
    tier: str
    owner_id: str
    met: int
    missed: int
    pending: int
    escalated: int

    @property
    def met_rate(self) -> float | None:
        decided = self.met + self.missed
        return self.met / decided if decided else None

    def as_dict(self) -> dict[str, object]:
        rate = self.met_rate
        return {
            "days": self.days,
            "tier": self.tier,
            "owner_id": self.owner_id,
            "met": self.met,
            "missed": self.missed,
            "pending": self.pending,
            "escalated": self.escalated,
            "met_rate": None if rate is None else round(rate, 4),
        }


def sla_report(leads: Sequence[SlaLead], now: datetime, days: int) -> list[SlaRow]:
    """Per tier and owner (``""``: no owner), the leads prioritized in the last ``days`` days by outcome."""
    since = now - timedelta(days=days)
    counts: dict[tuple[str, str], Counter[str]] = {}
    for lead in leads:
        result = outcome(lead, now)
        if result is None or lead.prioritized_at < since or lead.prioritized_at > now:
            continue
        bucket = counts.setdefault((lead.tier, lead.owner_id or ""), Counter())
        bucket[result] += 1
        bucket["escalated"] += lead.escalated_at is not None
    return [
        SlaRow(days, tier, owner, c["met"], c["missed"], c["pending"], c["escalated"])
        for (tier, owner), c in sorted(counts.items())
    ]


def report_for(store: StateStore, crm: str, now: datetime, windows: Sequence[int] = REPORT_WINDOWS) -> list[SlaRow]:
    leads = store.sla_since(crm, now - timedelta(days=max(windows)))
    return [row for days in windows for row in sla_report(leads, now, days)]


class SlaMetrics:
    """``leadsync_sla_leads`` (gauge: leads by tier, owner, window and outcome) and escalations sent."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.leads = Gauge(
            "leadsync_sla_leads",
            "Prioritized leads of the last N days (window: 7d, 30d) by response-SLA outcome (met, missed, pending).",
            ["crm", "tier", "owner", "window", "outcome"],
            registry=registry,
        )
        self.escalations = PromCounter(
            "leadsync_sla_escalations",
            "Leads escalated for being untouched at their response due time.",
            ["crm", "tier"],
            registry=registry,
        )

    def update(self, crm: str, rows: Sequence[SlaRow]) -> None:
        self.leads.clear()
        for row in rows:
            for name in OUTCOMES:
                self.leads.labels(crm, row.tier, row.owner_id, f"{row.days}d", name).set(getattr(row, name))


# -- escalation -----------------------------------------------------------------------------------------
def escalate(
    crm: str,
    store: StateStore,
    router: Router,
    courier: Courier,
    now: datetime,
    *,
    link: Callable[[str, str], str],
) -> list[SlaLead]:
    """Escalate every lead untouched at its due time and not escalated yet; returns them, marked."""
    due = store.sla_due(crm, now)
    if not due:
        return []
    marked = [replace(lead, escalated_at=now) for lead in due]
    with store.transaction():  # recorded first: a crash while sending never repeats an escalation
        store.sla_save(crm, marked)
    inputs = store.load_inputs(crm, [lead.contact_id for lead in marked])
    for lead in marked:
        stored = inputs.get(lead.contact_id)
        contact = stored.contact if stored is not None else Contact(id=lead.contact_id, updated_at=now)
        tz = router.timezone(lead.owner_id)
        extra = [
            f"Prioritized {lead.tier} at {due_text(lead.prioritized_at, tz)}; owner "
            f"{lead.owner_id or '(none)'}; nothing logged by {due_text(now, tz)}."
        ]
        notice = notice_for(
            crm,
            contact,
            None,
            ["escalation"],
            owner_id=lead.owner_id,
            link=link(contact.id, contact.object_type),
            score=stored.total if stored is not None else None,
            tier=lead.tier,
            sla_due_at=lead.due_at,
            extra=extra,
        )
        targets = unique(router.owner_targets("escalation", lead.owner_id) + router.manager_targets("escalation"))
        for target in targets:
            courier.send(notice, target)
        log.info(
            "escalated contact %s (%s, due %s) to %d channel(s)", lead.contact_id, lead.tier, lead.due_at, len(targets)
        )
    return marked


class EscalationJob:
    """The daemon's periodic job: escalate what is due, then refresh the SLA gauges."""

    def __init__(
        self,
        settings: Settings,
        registry: CollectorRegistry | None = None,
        *,
        owners: Callable[[], Sequence[Owner]] = lambda: (),
        courier_factory: Callable[[], Courier] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = SlaMetrics(registry) if registry is not None else None
        self.owners = owners
        self.courier_factory = courier_factory or (lambda: Courier(settings.notify))

    def tick(self, now: datetime) -> None:
        """One scheduled run: its failure is logged, and the next tick tries again."""
        try:
            self.run(now)
        except Exception:
            log.exception("the SLA escalation job failed; it runs again at its next tick")

    def run(self, now: datetime) -> list[SlaLead]:
        from sync.leads import record_link

        crm = self.settings.crm
        courier = self.courier_factory()
        try:
            with open_store(self.settings.state_url) as store:
                escalated = escalate(
                    crm,
                    store,
                    Router(self.settings.notify, self.owners),
                    courier,
                    now,
                    link=lambda cid, object_type: record_link(self.settings, cid, object_type),
                )
                if self.metrics is not None:
                    for lead in escalated:
                        self.metrics.escalations.labels(crm, lead.tier).inc()
                    self.metrics.update(crm, report_for(store, crm, now))
        finally:
            courier.close()
        return escalated
