"""Putting data in without HTTP: bulk loading of a ``Dataset`` (owners, contacts, engagements, form
submissions, email events, web analytics events, deals) and the helpers tests use to change records as a
HubSpot user would (touch, merge, archive, add an activity).  Each activity goes where HubSpot keeps its kind
(``mapping``): a form fill is a submission of a form, a marketing-email open an email event, a page view a
web analytics event, the rest CRM engagements."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connectors.sandbox.hubspot import records
from connectors.sandbox.hubspot.context import Context
from connectors.sandbox.hubspot.email_events import EmailEvents
from connectors.sandbox.hubspot.events import PAGE_VIEW, WebEvents
from connectors.sandbox.hubspot.forms import Forms
from connectors.sandbox.hubspot.mapping import (
    BEHAVIOUR_TYPES,
    EMAIL_EVENT_TYPES,
    FORM_TYPES,
    SALES_TYPES,
    UNHOMED_TYPES,
    WEB_TYPES,
    campaign_id,
    email_event_extra,
    engagement_props,
    form_name,
    page_url,
    page_view_properties,
    person_props,
    rollup_updates,
)
from connectors.sandbox.hubspot.model import iso, prop_str, to_ms
from connectors.sandbox.store import Change, listening, note_change

if TYPE_CHECKING:
    from connectors.sandbox.dataset import Dataset


class Loader:
    def __init__(self, ctx: Context, forms: Forms, email_events: EmailEvents, web_events: WebEvents):
        self.ctx = ctx
        self.forms = forms
        self.email_events = email_events
        self.web_events = web_events

    def load(self, dataset: Dataset) -> dict[str, str]:
        """Load people, owners, activities and outcomes in bulk; returns person key -> contact id."""
        now = self.ctx.now_ms()
        by_person = dataset.activities_by_person()
        with self.ctx.store.tx() as conn:
            owner_of = self._load_owners(conn, dataset, now)
            contact_ids = records.next_ids(conn, len(dataset.people))
            ids: dict[str, str] = {}
            contact_rows = []
            for cid, person in zip(contact_ids, dataset.people, strict=True):
                ids[person.key] = str(cid)
                acts = by_person.get(person.key, [])
                props = person_props(person, owner_of)
                modified = to_ms(person.updated_at)
                if acts:
                    last = max(to_ms(a.occurred_at) for a in acts)
                    props["notes_last_updated"] = iso(last)
                    sales = [to_ms(a.occurred_at) for a in acts if a.type in SALES_TYPES]
                    if sales:
                        props["hs_last_sales_activity_timestamp"] = iso(max(sales))
                    modified = max(modified, last)  # an activity updates the rollups, hence lastmodifieddate
                    fills = sorted((a for a in acts if a.type in FORM_TYPES), key=lambda a: a.occurred_at)
                    if fills:
                        props["recent_conversion_date"] = iso(to_ms(fills[-1].occurred_at))
                        props["recent_conversion_event_name"] = form_name(fills[-1].type, fills[-1].attributes)
                stored = json.dumps({k: v for k, v in props.items() if v not in (None, "")})
                contact_rows.append(("contacts", cid, to_ms(person.created_at), modified, 0, stored))
            conn.executemany("INSERT INTO hs_objects VALUES (?, ?, ?, ?, ?, ?)", contact_rows)

            acts_all = [a for a in dataset.activities if a.person_key in ids]
            people = {p.key: p for p in dataset.people}
            engagements = [a for a in acts_all if a.type not in BEHAVIOUR_TYPES]
            act_ids = records.next_ids(conn, len(engagements))
            object_rows, assoc_rows = [], []
            for aid, act in zip(act_ids, engagements, strict=True):
                otype, eprops = engagement_props(act.type, act.subject, act.attributes, act.occurred_at)
                at = to_ms(act.occurred_at)
                object_rows.append((otype, aid, at, at, 0, json.dumps(eprops)))
                assoc_rows.append((int(ids[act.person_key]), otype, aid))
            self._load_behaviour(conn, [a for a in acts_all if a.type in BEHAVIOUR_TYPES], people, ids)
            outcomes = [o for o in dataset.outcomes if o.person_key in ids]
            deal_ids = records.next_ids(conn, len(outcomes))
            for did, outcome in zip(deal_ids, outcomes, strict=True):
                at = to_ms(outcome.closed_at)
                deal = {
                    "dealname": outcome.name or f"Deal {did}",
                    "dealstage": "closedwon" if outcome.won else "closedlost",
                    "pipeline": "default",
                    "closedate": iso(at),
                    "amount": prop_str(outcome.amount),
                }
                object_rows.append(("deals", did, at, at, 0, json.dumps(deal)))
                assoc_rows.append((int(ids[outcome.person_key]), "deals", did))
            conn.executemany("INSERT INTO hs_objects VALUES (?, ?, ?, ?, ?, ?)", object_rows)
            conn.executemany("INSERT OR IGNORE INTO hs_assoc VALUES (?, ?, ?)", assoc_rows)
        return ids

    def _load_behaviour(self, conn: Any, acts: list[Any], people: Mapping[str, Any], ids: Mapping[str, str]) -> None:
        """Form fills as submissions, marketing-email events and page views as HubSpot records them."""
        submissions, email_rows, web_rows = [], [], []
        for seq, act in enumerate(acts):
            person, at = people[act.person_key], to_ms(act.occurred_at)
            if act.type in FORM_TYPES:
                guid = self.forms.ensure_form(conn, form_name(act.type, act.attributes), at)
                values = {"email": person.email, "firstname": person.first_name, "lastname": person.last_name}
                submissions.append(Forms.submission_row(guid, at, page_url(act.type, act.attributes), values, seq))
            elif act.type in EMAIL_EVENT_TYPES:
                extra = email_event_extra(act.type, act.attributes, act.subject)
                campaign = campaign_id(act.attributes, act.subject)
                kind = EMAIL_EVENT_TYPES[act.type]
                email_rows.append(EmailEvents.event_row(kind, person.email, at, campaign, extra, seq))
            else:
                props = page_view_properties(act.attributes, act.subject)
                web_rows.append(WebEvents.event_row(int(ids[act.person_key]), PAGE_VIEW, at, props, seq))
        self.forms.insert_submissions(conn, submissions)
        EmailEvents.insert(conn, email_rows)
        WebEvents.insert(conn, web_rows)

    @staticmethod
    def _load_owners(conn: Any, dataset: Dataset, now: int) -> dict[str, str]:
        """Insert the dataset's owners; returns owner key -> HubSpot owner id."""
        owner_ids = records.next_ids(conn, len(dataset.owners), "owner")
        owner_of: dict[str, str] = {}
        owner_rows = []
        for oid, owner in zip(owner_ids, dataset.owners, strict=True):
            owner_of[owner.key] = str(oid)
            teams = [
                {"id": str(1000 + zlib.crc32(t.encode()) % 9000), "name": t, "primary": i == 0}
                for i, t in enumerate(owner.teams)
            ]
            owner_rows.append(
                (
                    oid,
                    oid + 1_000_000,
                    owner.email,
                    owner.first_name,
                    owner.last_name,
                    int(not owner.active),
                    json.dumps(teams),
                    now,
                )
            )
        conn.executemany("INSERT INTO hs_owners VALUES (?, ?, ?, ?, ?, ?, ?, ?)", owner_rows)
        return owner_of

    # -- test helpers -------------------------------------------------------------------------------------------
    def touch(self, contact_id: str, at: datetime | None = None, **fields: Any) -> None:
        at_ms = to_ms(at) if at is not None else self.ctx.now_ms()
        with self.ctx.store.tx() as conn:
            oid = records.resolve(conn, "contacts", int(contact_id))
            if oid is None:
                raise KeyError(f"no HubSpot contact {contact_id}")
            records.patch(conn, "contacts", oid, {k: prop_str(v) for k, v in fields.items()}, at_ms)
            conn.execute("UPDATE hs_objects SET modified_ms = ? WHERE type = 'contacts' AND id = ?", (at_ms, oid))
            records.mark_changed(conn, "contacts", oid, self.ctx.now_ms())

    def set_modified(self, contact_ids: Iterable[str], at: datetime) -> None:
        with self.ctx.store.tx() as conn:
            conn.executemany(
                "UPDATE hs_objects SET modified_ms = ? WHERE type = 'contacts' AND id = ?",
                [(to_ms(at), int(c)) for c in contact_ids],
            )

    def add_activity(self, contact_id: str, kind: str, occurred_at: datetime | None, attrs: dict[str, Any]) -> str:
        """Record one activity where HubSpot keeps its kind; returns the id HubSpot gives it."""
        when = occurred_at or self.ctx.sandbox.clock.now()
        subject = str(attrs.pop("subject", ""))
        text = {k: str(v) for k, v in attrs.items()}
        now = self.ctx.now_ms()
        at = to_ms(when)
        with self.ctx.store.tx() as conn:
            cid = records.resolve(conn, "contacts", int(contact_id))
            if cid is None:
                raise KeyError(f"no HubSpot contact {contact_id}")
            (seq,) = records.next_ids(conn, 1)
            contact = json.loads(records.fetch(conn, "contacts", cid)["props"])
            email = str(contact.get("email") or "")
            if kind in FORM_TYPES:
                guid = self.forms.ensure_form(conn, form_name(kind, text), at)
                values = {
                    "email": email,
                    "firstname": contact.get("firstname", ""),
                    "lastname": contact.get("lastname", ""),
                }
                row = Forms.submission_row(guid, at, page_url(kind, text), values, seq)
                self.forms.insert_submissions(conn, [row])
                new_id = row[2]
            elif kind in EMAIL_EVENT_TYPES:
                extra = email_event_extra(kind, text, subject)
                email_row = EmailEvents.event_row(
                    EMAIL_EVENT_TYPES[kind], email, at, campaign_id(text, subject), extra, seq
                )
                EmailEvents.insert(conn, [email_row])
                new_id = email_row[0]
            elif kind in WEB_TYPES:
                web_row = WebEvents.event_row(cid, PAGE_VIEW, at, page_view_properties(text, subject), seq)
                WebEvents.insert(conn, [web_row])
                new_id = web_row[0]
            elif kind in UNHOMED_TYPES:
                raise ValueError(
                    f"HubSpot has no record of its own for a {kind} activity (the loader keeps it as a note)"
                )
            else:
                otype, props = engagement_props(kind, subject, text, when)
                conn.execute(
                    "INSERT INTO hs_objects VALUES (?, ?, ?, ?, 0, ?)", (otype, seq, at, now, json.dumps(props))
                )
                records.associate(conn, cid, otype, seq, now)
                new_id = str(seq)
            self._bump_rollups(conn, cid, kind, attrs, when, now)
            if kind in FORM_TYPES and listening(conn):
                stored = records.fetch(conn, "contacts", cid)
                # the legacy contact shape a workflow posts: timestamps as milliseconds, read-only ones included
                contact = json.loads(stored["props"]) | {
                    "createdate": str(stored["created_ms"]),
                    "lastmodifieddate": str(stored["modified_ms"]),
                    "hs_object_id": str(cid),
                }
                extra = {"form": form_name(kind, text)}
                note_change(conn, Change("hubspot", "form", "contacts", str(cid), when, contact, None, extra))
        return new_id

    @staticmethod
    def _bump_rollups(conn: Any, cid: int, kind: str, attrs: Mapping[str, Any], when: datetime, now: int) -> None:
        row = conn.execute("SELECT props FROM hs_objects WHERE type = 'contacts' AND id = ?", (cid,)).fetchone()
        updates = rollup_updates(json.loads(row[0]), kind, attrs, when)
        if updates:
            records.patch(conn, "contacts", cid, updates, now)

    def record(self, contact_id: str) -> dict[str, Any]:
        with self.ctx.store.read() as conn:
            oid = records.resolve(conn, "contacts", int(contact_id))
            row = None if oid is None else records.fetch(conn, "contacts", oid)
        if row is None:
            raise KeyError(f"no HubSpot contact {contact_id}")
        props = records.props_of("contacts", row)
        return records.render("contacts", row, sorted(props))

    def merge(self, primary_id: str, merged_id: str) -> str:
        now = self.ctx.now_ms()
        with self.ctx.store.tx() as conn:
            primary = records.resolve(conn, "contacts", int(primary_id))
            old = records.resolve(conn, "contacts", int(merged_id))
            if primary is None or old is None or primary == old:
                raise KeyError(f"cannot merge contact {merged_id} into {primary_id}")
            row = conn.execute("SELECT props FROM hs_objects WHERE type = 'contacts' AND id = ?", (primary,)).fetchone()
            props = json.loads(row[0])
            merged = [p for p in (props.get("hs_merged_object_ids") or "").split(";") if p]
            merged.append(str(old))
            conn.execute("DELETE FROM hs_objects WHERE type = 'contacts' AND id = ?", (old,))
            conn.execute("UPDATE hs_merged SET new_id = ? WHERE type = 'contacts' AND new_id = ?", (primary, old))
            conn.execute("INSERT OR REPLACE INTO hs_merged VALUES ('contacts', ?, ?)", (old, primary))
            conn.execute("UPDATE OR IGNORE hs_assoc SET contact_id = ? WHERE contact_id = ?", (primary, old))
            conn.execute("DELETE FROM hs_assoc WHERE contact_id = ?", (old,))
            records.patch(conn, "contacts", primary, {"hs_merged_object_ids": ";".join(merged)}, now)
            extra = {"primaryObjectId": primary, "mergedObjectIds": [old], "newObjectId": primary}
            note_change(
                conn,
                Change("hubspot", "merge", "contacts", str(primary), self.ctx.sandbox.clock.now(), {}, None, extra),
            )
        return str(primary)

    def archive(self, contact_id: str) -> None:
        with self.ctx.store.tx() as conn:
            conn.execute(
                "UPDATE hs_objects SET archived = 1, modified_ms = ? WHERE type = 'contacts' AND id = ?",
                (self.ctx.now_ms(), int(contact_id)),
            )
            note_change(
                conn, Change("hubspot", "delete", "contacts", str(int(contact_id)), self.ctx.sandbox.clock.now())
            )

    def count(self, otype: str) -> int:
        with self.ctx.store.read() as conn:
            return int(
                conn.execute("SELECT COUNT(*) FROM hs_objects WHERE type = ? AND archived = 0", (otype,)).fetchone()[0]
            )
