"""What a run tells people and remembers about hot leads: owner notifications and response-SLA tracking.

``LeadWatch.observe(contact, before, after, owner, now)`` is the one entry point: any run (sync, backfill,
rescore, the daemon's, a webhook batch) calls it for a contact it scored and recorded.  It

- notifies the owner when the contact became P1, became SQL, or changed owner (``LEADSYNC_NOTIFY__EVENTS``
  says which channels hear which event; ``sync.notify.routing`` finds the addresses);
- opens an SLA record when the contact entered a tracked tier, and closes it at the first touch found in the
  contact's activities (``sync.sla``).

A backfill notifies nobody unless ``NOTIFY__IN_BACKFILL`` is true; any run sends at most ``NOTIFY__MAX_PER_RUN``
notifications and then one summary.  Nothing here fails a run: errors are logged.  The pipeline calls
``before(page)`` ahead of recording a page (the stored state is the "before") and ``recorded(...)`` after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.records import Activity, Contact, FieldValue, Owner
from scoring import Model, ScoreResult
from scoring.model_values import duration_seconds
from sync.links import record_link as record_link  # sync.sla and older callers import it from here
from sync.notify.courier import Courier, Target
from sync.notify.message import notice_for, summary_text
from sync.notify.routing import Router
from sync.pipeline_parts import PageWatch
from sync.settings import Settings
from sync.sla import first_touch
from sync.state import ScoringInputs, SlaLead, StateStore

if TYPE_CHECKING:
    from sync.pipeline_parts import _PageOutcome

log = logging.getLogger("leadsync.leads")


@dataclass(frozen=True, slots=True)
class LeadState:
    """A contact as leadsync last knew it: its tier, stage and owner."""

    tier: str | None
    stage: str | None
    owner_id: str | None

    @classmethod
    def from_inputs(cls, inputs: ScoringInputs, written: Mapping[str, FieldValue] | None = None) -> LeadState:
        # the owner leadsync wrote since is what the CRM holds, not the owner read before that write
        owner = (written or {}).get("owner_id", inputs.contact.get("owner_id"))
        return cls(inputs.tier, inputs.stage, _text(owner))


@dataclass(frozen=True, slots=True)
class Seen:
    contact: Contact
    before: LeadState | None
    after: ScoreResult
    owner: str | None
    activities: Sequence[Activity] = ()
    assigned: bool = False  # leadsync wrote this owner in this run


def lead_events(
    before: LeadState | None, after: ScoreResult, owner: str | None, *, assigned: bool = False
) -> list[str]:
    """The news in one scoring: ``p1``, ``sql``, ``owner`` (a new contact counts as assigned only if leadsync
    assigned it: a backfill must not announce every existing owner)."""
    events = []
    if after.tier == "P1" and (before is None or before.tier != "P1"):
        events.append("p1")
    if after.stage == "sql" and (before is None or before.stage != "sql"):
        events.append("sql")
    if owner and (assigned or (before is not None and before.owner_id != owner)):
        events.append("owner")
    return events


def respond_within(model: Model) -> dict[str, timedelta]:
    """Each tier's SLA from its triggering activity, from the model's ``tiers``."""
    return {spec.tier: timedelta(seconds=duration_seconds(spec.respond_within)) for spec in model.tiers}


class LeadWatch(PageWatch):
    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        *,
        kind: str,
        respond: Mapping[str, timedelta] | None = None,
        owners: Callable[[], Sequence[Owner]] = lambda: (),
        courier: Courier | None = None,
    ) -> None:
        self.settings = settings
        self.crm = settings.crm
        self.store = store
        self.kind = kind
        self.respond = dict(respond or {})
        self.router = Router(settings.notify, owners)
        self._courier = courier
        self.quiet = kind == "backfill" and not settings.notify.in_backfill
        self.sent = 0
        self.capped = 0
        self.held_back = 0  # notifications a quiet backfill did not send

    @property
    def courier(self) -> Courier:
        if self._courier is None:
            self._courier = Courier(self.settings.notify)
        return self._courier

    # -- the entry point ---------------------------------------------------------------------------------
    def observe(
        self,
        contact: Contact,
        before: LeadState | None,
        after: ScoreResult,
        owner: str | None,
        now: datetime,
        *,
        activities: Sequence[Activity] = (),
        assigned: bool = False,
    ) -> list[str]:
        """Notify and track one scored contact; returns its events (``p1``, ``sql``, ``owner``)."""
        return self.observe_many([Seen(contact, before, after, owner, activities, assigned)], now).get(contact.id, [])

    def observe_many(self, seen: Sequence[Seen], now: datetime) -> dict[str, list[str]]:
        self._track(seen, now)
        out: dict[str, list[str]] = {}
        for item in seen:
            events = lead_events(item.before, item.after, item.owner, assigned=item.assigned)
            if events:
                out[item.contact.id] = events
                self._notify(item, events)
        return out

    # -- the pipeline's two calls ------------------------------------------------------------------------
    def before(self, page: _PageOutcome) -> dict[str, LeadState]:
        try:
            ids = [c.id for c in page.contacts if c.id in page.results]
            inputs = self.store.load_inputs(self.crm, ids) if ids else {}
            written = self.store.get_written(self.crm, list(inputs)) if inputs else {}
            return {cid: LeadState.from_inputs(item, written.get(cid)) for cid, item in inputs.items()}
        except Exception:  # what was known before is for notifications: losing it must not fail the run
            log.exception("could not read the contacts' previous state; their changes are not notified")
            return {}

    def recorded(
        self,
        page: _PageOutcome,
        before: Any,
        now: datetime,
        *,
        on_p1: Callable[[Contact, ScoreResult], None] | None = None,
        written: Sequence[str] = (),
    ) -> int:
        landed = {r.requested_id or r.contact_id for r in page.write_results if r.ok}
        seen: list[Seen] = []
        for contact in page.contacts:
            result = page.results.get(contact.id)
            if result is None:
                continue
            owner_change = next((c for c in page.changes.get(contact.id, ()) if c.kind == "owner" and c.new), None)
            assigned = owner_change is not None and contact.id in landed
            owner = _text(owner_change.new) if owner_change is not None and assigned else _text(contact.get("owner_id"))
            acts = tuple(page.activities.get(contact.id, ()))
            seen.append(Seen(contact, (before or {}).get(contact.id), result, owner, acts, assigned))
        try:
            self.observe_many(seen, now)
        except Exception:  # a notification or SLA record must never fail the run that scored the contact
            log.exception("could not notify or track the SLA of %d contact(s)", len(seen))
        return super().recorded(page, before, now, on_p1=on_p1, written=written)

    def finish(self) -> None:
        """After the run: one summary for what the cap held back, then deliver what is queued."""
        if self.held_back:
            log.info("%s: %d notification(s) not sent (NOTIFY__IN_BACKFILL is false)", self.kind, self.held_back)
        if self.capped:
            text = summary_text(self.crm, self.capped, self.sent, self.settings.notify.max_per_run, self.kind)
            log.warning("%s", text)
            for target in self.router.team_targets():
                self.courier.send_text(text, target)
        if self._courier is not None:
            self._courier.close()

    # -- parts -------------------------------------------------------------------------------------------
    def _notify(self, item: Seen, events: list[str]) -> None:
        grouped: dict[tuple[str, str], tuple[Target, list[str]]] = {}
        for event in events:
            for target in self.router.owner_targets(event, item.owner):
                key = (target.channel, target.address.get_secret_value())
                grouped.setdefault(key, (target, []))[1].append(event)
        if not grouped:
            return
        link = record_link(self.settings, item.contact.id, item.contact.object_type)
        for target, its_events in grouped.values():
            if self.quiet:
                self.held_back += 1
                continue
            if self.sent >= self.settings.notify.max_per_run:
                self.capped += 1
                continue
            notice = notice_for(self.crm, item.contact, item.after, its_events, owner_id=item.owner, link=link)
            self.courier.send(notice, target)
            self.sent += 1

    def _track(self, seen: Sequence[Seen], now: datetime) -> None:
        tiers = list(self.settings.sla.tiers)
        if not tiers or not seen:
            return
        open_leads = self.store.sla_open(self.crm, [item.contact.id for item in seen])
        changed: list[SlaLead] = []
        for item in seen:
            known = open_leads.get(item.contact.id)
            lead = self._tracked(known, item, tiers, now)
            if lead is not None and lead != known:
                changed.append(lead)
        if changed:
            with self.store.transaction():
                self.store.sla_save(self.crm, changed)

    def _tracked(self, lead: SlaLead | None, item: Seen, tiers: list[str], now: datetime) -> SlaLead | None:
        tier, due = item.after.tier, item.after.sla_due_at
        if tier in tiers:
            entered = item.before is None or item.before.tier not in tiers
            if lead is None and entered:
                lead = SlaLead(item.contact.id, tier, item.owner, self._became(tier, due, now), due)
            elif lead is not None and tiers.index(tier) < _rank(lead.tier, tiers):
                # a P2 that became P1: the tighter SLA of the new trigger replaces the old one
                lead = replace(
                    lead, tier=tier, due_at=due, prioritized_at=self._became(tier, due, now), escalated_at=None
                )
        if lead is None:
            return None
        if item.owner and lead.owner_id != item.owner:
            lead = replace(lead, owner_id=item.owner)
        touch = first_touch(self.crm, item.activities, lead.prioritized_at)
        if touch is not None:
            lead = replace(lead, touched_at=touch.occurred_at, touch_activity_id=touch.id)
        return lead

    def _became(self, tier: str, due: datetime | None, now: datetime) -> datetime:
        """When the triggering activity happened (the due time less the tier's SLA), never after ``now``."""
        window = self.respond.get(tier)
        if due is None or window is None:
            return now
        return min(due - window, now)


def _rank(tier: str, tiers: list[str]) -> int:
    return tiers.index(tier) if tier in tiers else len(tiers)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def watch_for(
    settings: Settings, store: StateStore, model: Model, kind: str, owners: Callable[[], Iterable[Owner]]
) -> LeadWatch:
    return LeadWatch(settings, store, kind=kind, respond=respond_within(model), owners=lambda: list(owners()))
