"""``SalesforceAdapter``: Leads and/or Contacts, their Tasks, Events and CampaignMembers, Opportunities and
Users, through simple-salesforce over one ``requests`` session.

Calls (the daily API allocation is the limit; every REST request counts one, OAuth token requests none):

- contacts: one SOQL query per object then ``nextRecordsUrl`` batches of 2,000 (the maximum), ordered by
  ``SystemModstamp, Id``; incremental reads start ``overlap_seconds`` before the cursor and dedupe.
- activities and outcomes: several queries packed into one Composite call (up to 5 queries, or
  query-more batches, per call), so an unchanged incremental costs one call for contacts and one for
  Task + Event + CampaignMember changes.  A backfill reads every activity of the contacts it will list by
  semi-joins on its own bound, ahead of the listing and in the same full calls (``backfill.py``).
- the model's fields outside the defaults: which ones each object has comes from its describe, kept in
  ``fields_cache`` (the state store) between runs (``describe.py``).
- writes: sObject Collections of 200; more than one collection goes as up to 5 collections in one Composite
  call (1,000 records per call), always with ``Sforce-Auto-Assign: FALSE`` so assignment rules do not
  re-route owners.  Converted leads are never sent (``CANNOT_UPDATE_CONVERTED_LEAD``).

Lists of ids in SOQL are cut so every request URI (or Composite subrequest URL) stays under
``max_url_bytes`` (Salesforce refuses URIs over 16,384 bytes).  ``check_fields(create=True)`` creates the
missing write-back fields over the Tooling API and grants them to the integration user (``fields.py``);
without ``create`` it lists what an admin must add in Setup (and the field-level security to grant).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

import requests

from connectors.base import ActivityPage
from connectors.errors import ConnectorError
from connectors.fields import FieldSchema, SchemaField
from connectors.http import redact
from connectors.paging import SalesforceNextUrl, pages, snapshot_bound
from connectors.records import (
    CANONICAL_FIELDS,
    Activity,
    ApiUsage,
    Contact,
    ContactPage,
    FieldChangeRecord,
    FieldCheck,
    FieldSpec,
    FieldUpdate,
    FieldValue,
    Outcome,
    Owner,
    WriteResult,
    WriteStatus,
)
from connectors.salesforce.backfill import BackfillActivities
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.config import SalesforceConfig
from connectors.salesforce.cursor import Cursor, StreamCursor, parse_sf_datetime, sf_text, soql_datetime
from connectors.salesforce.describe import ObjectFields
from connectors.salesforce.fields import NewField, api_name, create_fields, grant_access, writable
from connectors.salesforce.history import read_history
from connectors.salesforce.mapping import (
    ACTIVITY_FIELDS,
    ACTIVITY_OBJECTS,
    contact_fields,
    quote,
    select_list,
    sobject_of,
    to_activity,
    to_contact,
)
from connectors.salesforce.outcomes import read_outcomes
from connectors.salesforce.writes import map_results, send_collections

log = logging.getLogger(__name__)

# FieldSpec.type -> (Salesforce field type, how Setup names it)
SPEC_TYPES: Mapping[str, tuple[str, str]] = {
    "number": ("double", "Number, length 16, 2 decimal places"),
    "string": ("string", "Text, length 255"),
    "datetime": ("datetime", "Date/Time"),
    "enumeration": ("picklist", "Picklist"),
    "multiselect": ("multipicklist", "Picklist (Multi-Select), 4 visible lines"),
}


class SalesforceAdapter:
    crm = "salesforce"

    def __init__(self, config: SalesforceConfig, *, session: requests.Session | None = None):
        config.validate()
        redact.add(*config.secrets())
        self.config = config
        self.client = SalesforceClient(config, session)
        self._protected: set[str] = set()
        self._converted_contact: dict[str, str] = {}  # converted lead id -> its Contact id
        self._field_keys: dict[str, str] = {}
        self.fields = ObjectFields(self.client, config)  # the objects' describe, kept in the fields cache
        self._backfill: BackfillActivities | None = None  # a backfill's activities, read ahead (backfill.py)
        self._backfill_until = ""

    @property
    def mode(self) -> str:
        return self.client.mode

    @property
    def logins(self) -> int:
        return self.client.logins

    def login(self) -> None:
        """Get a session now (otherwise the first call logs in); in session mode, only build the client."""
        self.client.login()

    # -- contacts ------------------------------------------------------------------------------------------
    def _read_map(self, sobject: str) -> Mapping[str, str]:
        """The object's field map with the model's fields it has (``describe.py``: a field the org lacks would
        fail the query with INVALID_FIELD, so it is left out, with a note)."""
        return self.fields.read_map(sobject)

    def _contact_soql(self, sobject: str) -> str:
        fields = contact_fields(sobject, self._read_map(sobject), self.config.extra_fields)
        return f"SELECT {select_list(fields)} FROM {sobject}"

    def _to_contact(self, record: Mapping[str, Any], sobject: str) -> Contact:
        contact = to_contact(record, sobject, self._read_map(sobject), self.config.extra_fields)
        if contact.protected:
            self._protected.add(contact.id)
            if record.get("ConvertedContactId"):
                self._converted_contact[contact.id] = str(record["ConvertedContactId"])
        return contact

    def _stream_batches(
        self, sobject: str, stream: StreamCursor, until: str | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """(records, last) batches of one object's changes since ``stream`` (and before ``until``, Salesforce
        datetime text, when given), in SystemModstamp, Id order.

        A read from a cursor goes through ``queryAll`` and also returns the rows deleted since, with
        ``IsDeleted`` and ``MasterRecordId`` (the survivor of a merge): same calls, no extra one (crm-api §3.6).
        Salesforce's batchSize floor is 200; a smaller ``page_size`` is read with LIMIT and a keyset on
        (SystemModstamp, Id), one call per page.
        """
        since = stream.since(self.config.overlap_seconds)
        removed = since is not None  # a backfill has nothing to move state away from

        def select() -> str:  # built per first query: a describe read again after INVALID_FIELD changes it
            soql = self._contact_soql(sobject)
            return soql.replace(" FROM ", ", IsDeleted, MasterRecordId FROM ", 1) if removed else soql

        conditions = [f"SystemModstamp >= {since}"] if since is not None else []
        if until is not None:
            conditions.append(f"SystemModstamp < {soql_datetime(parse_sf_datetime(until))}")
        order = " ORDER BY SystemModstamp, Id"
        if self.config.page_size >= 200:
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            paginator = SalesforceNextUrl(endpoint="queryAll" if removed else "query")

            def fetch(request: Mapping[str, Any]) -> Any:
                soql = select() + where + order
                if "next_url" not in request and self._backfill is not None and soql in self._backfill.firsts:
                    return self._backfill.firsts.pop(soql)  # read with the backfill's activities
                return self.fields.retry_stale(lambda: self.client.query_page(soql, request, removed))

            for body in pages(fetch, paginator):
                yield body["records"], not paginator.has_next
            return
        after: tuple[str, str] | None = None
        while True:
            keyset = list(conditions)
            if after is not None:
                stamp = soql_datetime(parse_sf_datetime(after[0]))
                keyset.append(f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {quote(after[1])}))")
            where = f" WHERE {' AND '.join(keyset)}" if keyset else ""
            limit = f"{where}{order} LIMIT {self.config.page_size}"
            records: list[dict[str, Any]] = self.fields.retry_stale(partial(self._query_with, select, limit, removed))[
                "records"
            ]
            last = len(records) < self.config.page_size
            yield records, last
            if last:
                return
            after = (str(records[-1]["SystemModstamp"]), str(records[-1]["Id"]))

    def _query_with(self, select: Callable[[], str], tail: str, include_deleted: bool) -> Any:
        return self.client.query(select() + tail, paged=False, include_deleted=include_deleted)

    def read_contacts(self, cursor: str | None) -> Iterator[ContactPage]:
        state = Cursor.loads(cursor, "contacts")
        if cursor is None:
            # A read from the start (a backfill) ends where it began: the writes made behind it move
            # SystemModstamp forward, and reading those records again, here or on resuming, would read the
            # whole org twice.  The page cursors carry the bound; the last one drops it for the next sync.
            if self._backfill is None or self._backfill.firsts.keys() != set(self._backfill_listings()):
                self._start_backfill()
            state.until = self._backfill_until
        else:
            self._close_backfill()
        objects = list(self.config.objects)
        for position, sobject in enumerate(objects):
            stream = state.stream(sobject)
            for records, last in self._stream_batches(sobject, stream, state.until):
                fresh = [r for r in records if stream.is_new(r["Id"], r["SystemModstamp"])]
                contacts = self._with_merges(
                    [self._to_contact(r, sobject) for r in fresh if not r.get("IsDeleted")], fresh
                )
                deleted = tuple(str(r["Id"]) for r in fresh if r.get("IsDeleted") and not r.get("MasterRecordId"))
                stream.advance(
                    ((r["Id"], r["SystemModstamp"]) for r in records), self.config.overlap_seconds, self.config.max_seen
                )
                done = last and position == len(objects) - 1
                if done:
                    state.until = None
                if self._backfill is not None:
                    self._backfill.listed(c.id for c in contacts)
                yield ContactPage(tuple(contacts), state.dumps(), done=done, deleted_ids=deleted)

    def _backfill_listings(self) -> list[str]:
        """The first query of each object's backfill listing (what ``_stream_batches`` sends from the start)."""
        until = soql_datetime(parse_sf_datetime(self._backfill_until))
        order = " ORDER BY SystemModstamp, Id"
        return [f"{self._contact_soql(o)} WHERE SystemModstamp < {until}{order}" for o in self.config.objects]

    def _start_backfill(self) -> None:
        """Take the backfill's snapshot bound and read every activity below it by semi-joins, with the first
        batch of the listing (``backfill.py``); with page sizes below 200 (LIMIT pages), only the bound."""
        self._close_backfill()
        self._backfill_until = sf_text(snapshot_bound(self.config.now, self.config.sleep))
        if self.config.page_size < 200:
            return
        until = soql_datetime(parse_sf_datetime(self._backfill_until))

        def attempt() -> BackfillActivities:  # again from scratch when a describe read again changes the SOQL
            backfill = BackfillActivities(self.client, self.config.objects, until)
            try:
                backfill.read(backfill.stream_soqls(self._activity_soql), self._backfill_listings())
            except BaseException:
                backfill.close()
                raise
            return backfill

        self._backfill = self.fields.retry_stale(attempt)

    def _close_backfill(self) -> None:
        if self._backfill is not None:
            self._backfill.close()
            self._backfill = None
        self.client.prefetched.clear()

    def _with_merges(self, contacts: list[Contact], records: Sequence[Mapping[str, Any]]) -> list[Contact]:
        """``contacts`` with ``merged_from`` set on the survivors of the merged rows among ``records`` (a
        survivor not on this page is read and added)."""
        merged: dict[str, list[str]] = {}
        for record in records:
            if record.get("IsDeleted") and record.get("MasterRecordId"):
                merged.setdefault(str(record["MasterRecordId"]), []).append(str(record["Id"]))
        if not merged:
            return contacts
        here = {c.id for c in contacts}
        contacts = contacts + self.get_contacts([sid for sid in merged if sid not in here])
        return [
            replace(c, merged_from=tuple(dict.fromkeys([*c.merged_from, *merged[c.id]]))) if c.id in merged else c
            for c in contacts
        ]

    def count_contacts(self, cursor: str | None) -> int:
        """About how many records ``read_contacts(cursor)`` will yield (for progress), one COUNT() per object."""
        state = Cursor.loads(cursor, "contacts")
        if cursor is None:  # a backfill: its listing's first batches say how many (totalSize), no COUNT()
            self._start_backfill()
            if self._backfill is not None:
                return sum(int(body.get("totalSize") or 0) for body in self._backfill.firsts.values())
        until = state.until if cursor is not None else self._backfill_until
        total = 0
        for sobject in self.config.objects:
            stream = state.stream(sobject)
            conditions = []
            if stream.ts is not None and stream.last_id is not None:
                stamp = soql_datetime(parse_sf_datetime(stream.ts))
                conditions.append(
                    f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {quote(stream.last_id)}))"
                )
            elif (since := stream.since(0)) is not None:
                conditions.append(f"SystemModstamp >= {since}")
            if until is not None:
                conditions.append(f"SystemModstamp < {soql_datetime(parse_sf_datetime(until))}")
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            total += int(self.client.query(f"SELECT COUNT() FROM {sobject}{where}", paged=False)["totalSize"])
        return total

    def cursor_at(self, since: datetime) -> str:
        """A cursor for ``read_contacts`` and ``read_activity_changes`` handing out changes from ``since``."""
        return Cursor.at(since).dumps()

    def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        return self.fields.retry_stale(lambda: self._get_contacts(ids))

    def _get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        soqls: list[str] = []
        kinds: list[str] = []
        for sobject in self.config.objects:
            mine = [i for i in dict.fromkeys(ids) if sobject_of(i) == sobject]
            for soql in self.client.id_chunks(f"{self._contact_soql(sobject)} WHERE Id IN ", mine):
                soqls.append(soql)
                kinds.append(sobject)
        found: dict[str, Contact] = {}
        for n, records in enumerate(self.client.query_all(soqls)):
            for record in records:
                contact = self._to_contact(record, kinds[n])
                found[contact.id] = contact
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    # -- field history (optional: ``connectors.base.ReadsFieldHistory``) -----------------------------------
    def field_history(self, contact_ids: Sequence[str], fields: Sequence[str]) -> Mapping[str, list[FieldChangeRecord]]:
        """``LeadHistory``/``ContactHistory`` rows of ``fields`` (read field names), for tracked fields only."""
        read_maps = {o: {**{n: n for n in self.config.extra_fields}, **self._read_map(o)} for o in self.config.objects}
        return read_history(self.client, read_maps, contact_ids, fields)

    # -- activities ----------------------------------------------------------------------------------------
    def _activity_soql(self, sobject: str) -> str:
        return f"SELECT {select_list(['Id', 'SystemModstamp', *ACTIVITY_FIELDS[sobject]])} FROM {sobject}"

    def _owner_of(self, sobject: str, record: Mapping[str, Any]) -> str | None:
        if sobject != "CampaignMember":
            who = record.get("WhoId")
            return str(who) if who else None
        if "Lead" in self.config.objects and record.get("LeadId"):
            return str(record["LeadId"])
        return str(record["ContactId"]) if record.get("ContactId") else None

    def read_activities(self, contact_ids: Sequence[str]) -> Mapping[str, list[Activity]]:
        requested = list(dict.fromkeys(contact_ids))
        # Conversion moves a lead's activities to its Contact: read them there, report them on the lead.
        alias: dict[str, list[str]] = {}
        for lead in requested:
            if sobject_of(lead) == "Lead" and (converted := self._converted_contact.get(lead)):
                alias.setdefault(converted, []).append(lead)
        rows: list[tuple[str, Mapping[str, Any]]] = []
        rest = requested
        if self._backfill is not None:  # read ahead with the backfill's listing (backfill.py)
            served = self._backfill.take(requested)
            links = [*served, *(self._converted_contact[i] for i in served if i in self._converted_contact)]
            rows += self._backfill.records(links)
            rest = [i for i in requested if i not in set(served)]
        if rest:
            rows += self._query_activities(rest, alias)
        wanted = set(requested)
        out: dict[str, dict[str, Activity]] = {i: {} for i in requested}
        for sobject, record in rows:
            owners: list[str] = []
            if sobject == "CampaignMember":
                links = [str(record[k]) for k in ("LeadId", "ContactId") if record.get(k)]
            else:
                links = [str(record["WhoId"])] if record.get("WhoId") else []
            for link in links:
                if link in wanted:
                    owners.append(link)
                owners.extend(alias.get(link, []))
            for owner in dict.fromkeys(owners):
                activity = to_activity(sobject, record, owner, self.config.activity_type_map)
                out[owner][activity.id] = activity
        return {i: sorted(acts.values(), key=lambda a: (a.occurred_at, a.id)) for i, acts in out.items()}

    def _query_activities(self, ids: Sequence[str], alias: Mapping[str, list[str]]) -> list[tuple[str, Any]]:
        """(activity object, record) of the activities of ``ids`` and of their converted Contacts, by id lists."""
        leads = [i for i in ids if sobject_of(i) == "Lead"]
        contacts = [i for i in ids if sobject_of(i) == "Contact"]
        converted = [c for c, of in alias.items() if set(of) & set(leads)]
        who_ids = list(dict.fromkeys([*leads, *contacts, *converted]))
        contact_side = list(dict.fromkeys([*contacts, *converted]))
        soqls: list[str] = []
        kinds: list[str] = []
        for sobject in ("Task", "Event"):
            for soql in self.client.id_chunks(f"{self._activity_soql(sobject)} WHERE WhoId IN ", who_ids):
                soqls.append(soql)
                kinds.append(sobject)
        for field_name, some in (("LeadId", leads), ("ContactId", contact_side)):
            for soql in self.client.id_chunks(f"{self._activity_soql('CampaignMember')} WHERE {field_name} IN ", some):
                soqls.append(soql)
                kinds.append("CampaignMember")
        return [(kinds[n], record) for n, records in enumerate(self.client.query_all(soqls)) for record in records]

    def read_activity_changes(self, cursor: str | None) -> Iterator[ActivityPage]:
        state = Cursor.loads(cursor, "activities")
        soqls = []
        for sobject in ACTIVITY_OBJECTS:
            soql = self._activity_soql(sobject)
            since = state.stream(sobject).since(self.config.overlap_seconds)
            if since is not None:
                soql += f" WHERE SystemModstamp >= {since}"
            soqls.append(soql + " ORDER BY SystemModstamp, Id")
        rounds = self.client.query_rounds(soqls)
        pending_round = next(rounds, None)
        while pending_round is not None:
            activities: list[Activity] = []
            for i, body in pending_round:
                sobject = ACTIVITY_OBJECTS[i]
                stream: StreamCursor = state.stream(sobject)
                for record in body["records"]:
                    owner = self._owner_of(sobject, record)
                    if owner and stream.is_new(record["Id"], record["SystemModstamp"]):
                        activities.append(to_activity(sobject, record, owner, self.config.activity_type_map))
                stream.advance(
                    ((r["Id"], r["SystemModstamp"]) for r in body["records"]),
                    self.config.overlap_seconds,
                    self.config.max_seen,
                )
            following = next(rounds, None)
            yield ActivityPage(tuple(activities), state.dumps(), done=following is None)
            pending_round = following

    # -- outcomes and owners ---------------------------------------------------------------------------------
    def read_outcomes(self) -> Iterator[Outcome]:
        return read_outcomes(self.client, self.config)

    def read_owners(self) -> list[Owner]:
        (users,) = self.client.query_all(
            ["SELECT Id, Name, Email, IsActive, Department FROM User WHERE IsActive = true ORDER BY Name"]
        )
        return [
            Owner(
                id=str(u["Id"]),
                name=str(u.get("Name") or ""),
                email=str(u.get("Email") or ""),
                active=bool(u.get("IsActive")),
                teams=(str(u["Department"]),) if u.get("Department") else (),
            )
            for u in users
        ]

    # -- fields ------------------------------------------------------------------------------------------
    def _describe(self) -> dict[str, dict[str, Any]]:
        return self.fields.describe()

    def check_fields(self, specs: Sequence[FieldSpec], *, create: bool = False) -> FieldCheck:
        """Which write-back fields the integration user can write; with ``create``, the missing ones are created
        over the Tooling API and granted through the ``Leadsync_Integration`` permission set (``fields.py``)."""
        present, absent, keys = writable(self._describe(), specs)
        created: list[str] = []
        failure = ""
        if create and absent:
            wanted = [NewField(sobject, api_name(spec.name), spec) for spec, objects in absent for sobject in objects]
            try:
                made = create_fields(self.client, wanted)
                grant_access(self.client, self.client.user_id(), [f.full_name for f in made])
            except ConnectorError as exc:
                failure = redact(str(exc))
            now_present, still, keys = writable(self._describe(), specs)
            created = [spec.name for spec, _ in absent if spec.name not in {s.name for s, _ in still}]
            present = [name for name in now_present if name not in created]
            absent = still
        self._field_keys.update(keys)
        instructions = ""
        if absent:
            lines = []
            for spec, objects in absent:
                _, setup = SPEC_TYPES.get(spec.type, ("string", "Text, length 255"))
                if spec.type == "enumeration" and spec.options:
                    setup += f" (values: {', '.join(spec.options)})"
                for sobject in objects:
                    lines.append(
                        f"  - {sobject}: field label '{spec.label}', API name {api_name(spec.name)}, type {setup}"
                    )
            instructions = (
                "Create these custom fields in Salesforce Setup > Object Manager > <object> > Fields & "
                "Relationships > New, then give the integration user's profile or permission set "
                "field-level security Visible (not Read-Only) on each:\n" + "\n".join(lines)
            )
            if failure:
                instructions = (
                    f"leadsync could not create them itself ({failure}): `check --create-fields` needs an "
                    "integration user with Customize Application and Assign Permission Sets. " + instructions
                )
        return FieldCheck(
            present=tuple(present),
            created=tuple(created),
            missing=tuple(spec.name for spec, _ in absent),
            instructions=instructions,
            field_keys=keys,
        )

    def contact_field_names(self) -> list[FieldSchema]:
        """Each contact object's fields, from its describe (one call; one Composite call for Lead and Contact)."""
        return [
            FieldSchema(
                sobject,
                tuple(
                    SchemaField(
                        str(f["name"]),
                        str(f.get("label") or ""),
                        str(f.get("type") or ""),
                        options=tuple(str(v["value"]) for v in f.get("picklistValues") or () if v.get("active")),
                    )
                    for f in body.get("fields", [])
                ),
                field_map=self.config.fields_for(sobject),
                case_sensitive=False,
            )
            for sobject, body in self._describe().items()
        ]

    # -- writes ------------------------------------------------------------------------------------------
    def _translate(self, update: FieldUpdate, sobject: str) -> dict[str, FieldValue] | str:
        field_map = self.config.fields_for(sobject)
        out: dict[str, FieldValue] = {}
        for key, value in update.values.items():
            if key in field_map:
                name = field_map[key]
            elif key in CANONICAL_FIELDS:
                return f"No {sobject} field is mapped to '{key}'; add it to the Salesforce field_map to write it."
            else:
                name = self._field_keys.get(key, key)
            if "." in name:
                return f"'{key}' maps to {name}, a field of a related record, which leadsync does not write."
            out[name] = value
        return out

    def write(self, updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(updates)
        items: list[tuple[int, dict[str, Any]]] = []
        for index, update in enumerate(updates):
            cid = update.contact_id
            sobject = sobject_of(cid) or {"lead": "Lead", "contact": "Contact"}.get(update.object_type.lower())
            if sobject not in ("Lead", "Contact"):
                results[index] = WriteResult(cid, WriteStatus.FAILED, f"{cid} is not a Lead or Contact id.", "", cid)
                continue
            if cid in self._protected:
                results[index] = WriteResult(
                    cid,
                    WriteStatus.SKIPPED,
                    "This lead is converted; Salesforce does not allow updates to converted leads.",
                    "CANNOT_UPDATE_CONVERTED_LEAD",
                    cid,
                )
                continue
            values = self._translate(update, sobject)
            if isinstance(values, str):
                results[index] = WriteResult(cid, WriteStatus.FAILED, values, "UNMAPPED_FIELD", cid)
                continue
            if not values:
                results[index] = WriteResult(cid, WriteStatus.SKIPPED, "Nothing to write.", "", cid)
                continue
            items.append((index, {"attributes": {"type": sobject}, "id": cid, **values}))
        size, per_call = self.config.records_per_collection, self.config.collections_per_call
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        for start in range(0, len(chunks), per_call):
            group = chunks[start : start + per_call]
            for chunk, (status, body) in zip(group, send_collections(self.client, group), strict=True):
                map_results(updates, chunk, status, body, results, self._protected)
        return [r if r is not None else WriteResult("", WriteStatus.FAILED, "not processed") for r in results]

    # -- usage ---------------------------------------------------------------------------------------------
    def usage(self) -> ApiUsage:
        return ApiUsage(
            calls_by_endpoint=dict(self.client.calls()),
            quota_used=self.client.quota_used,
            quota_limit=self.client.quota_limit,
            extra={"retries": dict(self.client.retries()), "logins": self.client.logins},
        )

    def close(self) -> None:
        self._close_backfill()
        self.client.close()
