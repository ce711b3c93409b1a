"""``HubSpotAdapter``: HubSpot contacts, engagements, deals and owners as leadsync records.

Reading contacts
    Backfill (``read_contacts(None)``): ``GET /crm/v3/objects/contacts`` with ``after`` paging, 100 per call
    (or, with ``backfill="search"``, the incremental search from the epoch at 200 per call).  Its cursors
    resume the listing; the last one is an incremental cursor at the backfill's start minus an overlap.

    Incremental (``read_contacts(cursor)``): ``POST .../contacts/search`` sorted by ``lastmodifieddate``
    ascending, 200 per call, every call a fresh query from the cursor ``(ts, id)``:
    ``lastmodifieddate > ts OR (lastmodifieddate = ts AND hs_object_id > id)``.  So the 10,000-results cap
    of a search never applies, and records changed while we page cannot shift the pages (no offsets).
    HubSpot documents no order among equal timestamps, so a full page is only trusted up to its last
    timestamp: the records at that timestamp are read again by the next query, and a page made entirely of
    one timestamp switches to walking that timestamp by ``hs_object_id``.  Contacts are yielded in
    ``(lastmodifieddate, id)`` order, so each page's cursor is exact: no record is lost or repeated at
    equal timestamps.  Every read first re-reads ``search_overlap_seconds`` behind its cursor (for changes
    the index showed late), but never before the cursor's ``checked``: what a read saw after the index had
    matured is never read again, so a sync with nothing new is one search call.

Activities
    Sales emails, meetings, calls, notes and tasks: ``POST /crm/v4/associations/contacts/{type}/batch/read``
    (1,000 contacts per call) per engagement type, then ``POST /crm/v3/objects/{type}/batch/read`` (100
    engagements per call).  Form submissions, marketing email events and (Enterprise) page views: read where
    HubSpot keeps them, by ``behaviour.BehaviourIndex`` (see there), and matched to the contact by email or id.

    Activity changes (``read_activity_changes``): no call.  A new engagement, form fill, marketing email
    event or page view updates the contact's rollups (``notes_last_updated``, ``recent_conversion_date``,
    ``hs_email_open``, ``hs_analytics_num_page_views``...), which are read fields: ``read_contacts`` returns
    the contact with a field changed, so the sync never takes it for an echo of its own write.

Writing
    ``ContactWriter`` (``writes.py``): batch updates of 100, per-record results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from connectors.base import ActivityPage, RemovalPage
from connectors.errors import ConfigurationError, FatalApiError
from connectors.fields import FieldSchema, SchemaField
from connectors.hubspot.behaviour import BehaviourIndex
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.config import HubSpotConfig
from connectors.hubspot.cursor import (
    Archived,
    Listing,
    Position,
    parse_cursor,
    search_filters,
)
from connectors.hubspot.history import read_field_history
from connectors.hubspot.mapping import (
    ENGAGEMENT_PROPERTIES,
    PROPERTY_TYPES,
    contact_key,
    contact_properties,
    parse_time,
    to_activities,
    to_contact,
    to_ms,
)
from connectors.hubspot.outcomes import read_outcomes
from connectors.hubspot.removals import read_removals
from connectors.hubspot.writes import BATCH, ContactWriter
from connectors.paging import HubSpotAfter, chunks, pages
from connectors.records import (
    Activity,
    ApiUsage,
    Contact,
    ContactPage,
    FieldChangeRecord,
    FieldCheck,
    FieldSpec,
    FieldUpdate,
    Outcome,
    Owner,
    WriteResult,
)

LIST_PAGE = 100
SEARCH_PAGE = 200
SEARCH_MAX_BODY = 3000  # HubSpot refuses search request bodies over 3,000 characters
MAX_EXCLUDED = 100  # ids excluded with NOT_IN in one filter (assumed limit, as for IN)
ASSOCIATION_BATCH = 1000


class HubSpotAdapter:
    crm = "hubspot"

    def __init__(self, config: HubSpotConfig, client: HubSpotClient | None = None):
        self.config = config
        self.client = client or HubSpotClient(config)
        self.properties = contact_properties(config.field_map, config.extra_fields)
        self._extra = [n for n in config.extra_fields if n not in config.field_map]
        self._writer = ContactWriter(config, self.client)
        self.behaviour = BehaviourIndex(config, self.client)
        self._email_property = config.field_map.get("email", "email")
        self._emails: dict[str, str] = {}  # contact id -> email, from every contact read (to match behaviour)
        self._conversions: dict[str, int] = {}  # contact id -> recent_conversion_date (ms), from the same reads
        self.on_listing_page: Callable[[int], None] | None = None  # progress per API page (ReportsListingPages)

    # -- contacts ----------------------------------------------------------------------------------------
    def read_contacts(self, cursor: str | None) -> Iterator[ContactPage]:
        self.behaviour.mark_stale()
        if cursor is None:
            if self.config.backfill == "search":
                yield from self._search_pages(Position(0, 0))
                return
            since = self.config.now() - timedelta(seconds=self.config.backfill_overlap_seconds)
            yield from self._list_pages(Listing(None, to_ms(since)))
            return
        state = parse_cursor(cursor)
        if isinstance(state, Listing):
            yield from self._list_pages(state)
        else:
            yield from self._overlapped(state)

    def _overlapped(self, pos: Position) -> Iterator[ContactPage]:
        """The search from ``search_overlap_seconds`` before ``pos``, for changes the index showed late, but
        not before ``pos.checked`` (read once the index had matured: nothing more can show there); the cursors
        handed out never go back behind ``pos``, so an overlap with nothing new costs no ground."""
        overlap = round(self.config.search_overlap_seconds * 1000)
        start = max(pos.ts - max(overlap, 0), pos.checked)
        begin = pos if start == pos.ts else Position(start, 0)
        for page in self._search_pages(begin, pos.checked):
            reached = parse_cursor(page.cursor) if page.cursor else pos
            if isinstance(reached, Position) and (
                (reached.ts, reached.id) < (pos.ts, pos.id) or (reached.ts, reached.id) == (begin.ts, begin.id)
            ):  # nothing past ``pos`` yet: keep it, with what this read made sure of
                page = replace(page, cursor=Position(pos.ts, pos.id, max(pos.checked, reached.checked)).json())
            yield page

    def cursor_at(self, since: datetime) -> str:
        return Position(to_ms(since), 0).json()

    def count_contacts(self, cursor: str | None) -> int:
        """How many contacts ``read_contacts(cursor)`` will yield, at the cost of one search call."""
        state = parse_cursor(cursor) if cursor else None
        groups = self._filters(state) if isinstance(state, Position) else []
        if isinstance(state, Listing) and (state.after or "").isdigit():  # the list resumes at that id (crm-api.md)
            groups = [{"filters": [{"propertyName": "hs_object_id", "operator": "GTE", "value": state.after}]}]
        data, _, _ = self.client.call(
            "contacts.search",
            partial(
                self.client.contacts_search.do_search_with_http_info,
                {"filterGroups": groups, "limit": 1, "properties": ["hs_object_id"]},
                _request_timeout=self.config.timeout,
            ),
            search=True,
        )
        return int(data.total or 0)

    def _to_contact(self, obj: Any) -> Contact:
        contact = to_contact(obj, self.config.field_map, self._extra)
        props = obj.properties or {}
        if props.get(self._email_property):
            self._emails[contact.id] = str(props[self._email_property])
        converted = parse_time(props.get("recent_conversion_date"))
        if converted is not None:
            self._conversions[contact.id] = to_ms(converted)
        return contact

    def _list_pages(self, state: Listing) -> Iterator[ContactPage]:
        buffer: list[Contact] = []
        paginator = HubSpotAfter(state.after, endpoint="contacts.list")
        for data in pages(self._list_contacts, paginator):
            buffer.extend(self._to_contact(obj) for obj in data.results or [])
            if self.on_listing_page is not None:
                self.on_listing_page(len(data.results or []))
            if not paginator.has_next:
                yield ContactPage(tuple(buffer), Position(state.since, 0).json(), done=True)
                return
            if len(buffer) >= self.config.page_size:
                yield ContactPage(tuple(buffer), Listing(str(paginator.token), state.since).json())
                buffer = []

    def _list_contacts(self, request: dict[str, Any]) -> Any:
        data, _, _ = self.client.call(
            "contacts.list",
            partial(
                self.client.contacts_basic.get_page_with_http_info,
                limit=LIST_PAGE,
                after=request.get("after"),
                properties=self.properties,
                archived=False,
                _request_timeout=self.config.timeout,
            ),
        )
        return data

    def _filters(self, pos: Position, held: Sequence[Contact] = ()) -> list[dict[str, Any]]:
        """``search_filters``, kept ``search_lag_seconds`` behind now when the portal's index lags."""
        lag = self.config.search_lag_seconds
        until = to_ms(self.config.now() - timedelta(seconds=lag)) if lag > 0 else None
        return search_filters(pos, held, until)

    def _search_body(self, groups: list[dict[str, Any]], sort: str) -> dict[str, Any]:
        return {
            "filterGroups": groups,
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": SEARCH_PAGE,
        }

    def _search(self, body: dict[str, Any]) -> tuple[list[Contact], int]:
        """One search call: its contacts in (lastmodifieddate, id) order, and how many match in all."""
        size = len(json.dumps(body, separators=(",", ":")))
        if size > SEARCH_MAX_BODY:
            raise ConfigurationError(
                f"The HubSpot contacts search would send {size} characters; HubSpot accepts {SEARCH_MAX_BODY}. "
                f"Read fewer extra fields (now {len(self.properties)} properties).",
                crm="hubspot",
            )
        data, _, _ = self.client.call(
            "contacts.search",
            partial(self.client.contacts_search.do_search_with_http_info, body, _request_timeout=self.config.timeout),
            search=True,
        )
        found = sorted((self._to_contact(obj) for obj in data.results or []), key=contact_key)
        if self.on_listing_page is not None:
            self.on_listing_page(len(found))
        return found, int(data.total or 0)

    def _matured(self) -> int:
        """The time (ms) before which every change shows in search by now: ``search_lag_seconds`` plus
        ``search_overlap_seconds`` ago (the longest index delay leadsync assumes)."""
        margin = max(self.config.search_lag_seconds, 0) + max(self.config.search_overlap_seconds, 0)
        return max(to_ms(self.config.now() - timedelta(seconds=margin)), 0)

    def _search_pages(self, start: Position, checked: int = 0) -> Iterator[ContactPage]:
        """Contacts after ``start`` in cursor order; the pages carry ``checked`` until the read ends, the last
        one what this read makes sure of (``_matured``, taken before its first call)."""
        matured = max(checked, self._matured())
        pos = Position(start.ts, start.id, checked)
        held: list[Contact] = []  # the last page's final timestamp group: seen, not yet known complete
        buffer: list[Contact] = []
        while True:
            body = self._search_body(self._filters(pos, held), "lastmodifieddate")
            if held and (len(held) > MAX_EXCLUDED or len(json.dumps(body)) > SEARCH_MAX_BODY):
                held = []  # too many to exclude by id: read them again from the last complete position
                body = self._search_body(self._filters(pos), "lastmodifieddate")
            found, total = self._search(body)
            if len(found) < SEARCH_PAGE or total <= len(found):  # the rest of the result: all complete
                rest = sorted([*held, *found], key=contact_key)
                buffer.extend(rest)
                if rest:
                    pos = Position(*contact_key(rest[-1]), checked)
                yield from self._full_pages(buffer, checked)
                yield ContactPage(tuple(buffer), Position(pos.ts, pos.id, matured).json(), done=True)
                return
            last_ts = contact_key(found[-1])[0]
            complete = sorted([*held, *(c for c in found if contact_key(c)[0] < last_ts)], key=contact_key)
            if held and last_ts == contact_key(held[0])[0]:
                complete = []  # the held timestamp fills whole pages: walk it by id instead
            if complete:
                buffer.extend(complete)
                pos = Position(*contact_key(complete[-1]), checked)
                held = [c for c in found if contact_key(c)[0] == last_ts]
            else:  # pages made of one timestamp: walk it by id, which orders it completely
                walk_from = pos.id if pos.ts == last_ts else 0
                held = []
                for chunk in self._walk_timestamp(last_ts, walk_from):
                    buffer.extend(chunk)
                    pos = Position(last_ts, int(chunk[-1].id), checked)
                    yield from self._full_pages(buffer, checked)
            yield from self._full_pages(buffer, checked)

    def _full_pages(self, buffer: list[Contact], checked: int) -> Iterator[ContactPage]:
        """Pages of exactly ``page_size`` cut from ``buffer`` (complete contacts in cursor order), each with the
        position of its last contact; the rest stays in ``buffer``.  Exact pages keep the activity reads at
        their minimum: a page of 1,000 is one associations call per engagement type, 1,001 would be two."""
        size = self.config.page_size
        while len(buffer) >= size:
            page = buffer[:size]
            del buffer[:size]
            yield ContactPage(tuple(page), Position(*contact_key(page[-1]), checked).json())

    def _walk_timestamp(self, ts: int, after_id: int) -> Iterator[list[Contact]]:
        while True:
            groups = [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(ts)},
                        {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)},
                    ]
                }
            ]
            chunk, total = self._search(self._search_body(groups, "hs_object_id"))
            if chunk:
                yield chunk
                after_id = int(chunk[-1].id)
            if len(chunk) < SEARCH_PAGE or total <= len(chunk):
                return

    def _batch_read(self, ids: Sequence[str], properties: Sequence[str]) -> Any:
        """One ``contacts.batch_read`` call (at most ``BATCH`` ids) for ``properties``."""
        body = {"inputs": [{"id": i} for i in ids], "properties": list(properties), "propertiesWithHistory": []}
        data, _, _ = self.client.call(
            "contacts.batch_read",
            partial(
                self.client.contacts_batch.read_with_http_info,
                body,
                archived=False,
                _request_timeout=self.config.timeout,
            ),
        )
        return data

    def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        out: dict[str, Contact] = {}
        for chunk in chunks(dict.fromkeys(ids), BATCH):
            data = self._batch_read(chunk, self.properties)
            for obj in data.results or []:  # unknown ids come back in errors[]: left out
                contact = self._to_contact(obj)
                out.setdefault(contact.id, contact)
        return list(out.values())

    # -- deleted and merged contacts (``removals.py``) ---------------------------------------------------
    def read_removals(self, cursor: str | None) -> Iterator[RemovalPage]:
        return read_removals(self.client, self.config, cursor, self.get_contacts)

    def removals_cursor_at(self, since: datetime) -> str:
        return Archived(to_ms(since)).json()

    # -- activities --------------------------------------------------------------------------------------
    def read_activities(self, contact_ids: Sequence[str]) -> Mapping[str, list[Activity]]:
        ids = list(dict.fromkeys(str(i) for i in contact_ids))
        out: dict[str, list[Activity]] = {cid: [] for cid in ids}
        for etype in self.config.engagement_types:
            links = self._associations(ids, etype)
            engagement_ids = list(links)
            for chunk in chunks(engagement_ids, BATCH):
                body = {
                    "inputs": [{"id": i} for i in chunk],
                    "properties": list(ENGAGEMENT_PROPERTIES.get(etype, ("hs_timestamp",))),
                    "propertiesWithHistory": [],
                }
                data, _, _ = self.client.call(
                    f"{etype}.batch_read",
                    partial(
                        self.client.objects_batch.read_with_http_info,
                        etype,
                        body,
                        archived=False,
                        _request_timeout=self.config.timeout,
                    ),
                )
                for obj in data.results or []:
                    for activity in to_activities(
                        etype, obj, links.get(str(obj.id), []), self.config.activity_type_map
                    ):
                        out.setdefault(activity.contact_id, []).append(activity)
        conversions = {i: self._conversions[i] for i in ids if i in self._conversions}
        for cid, acts in self.behaviour.for_contacts(self._emails_of(ids), conversions).items():
            out.setdefault(cid, []).extend(acts)
        for acts in out.values():
            acts.sort(key=lambda a: (a.occurred_at, a.id))
        return out

    def _emails_of(self, ids: Sequence[str]) -> dict[str, str]:
        """Contact id -> email (empty when it has none): from the contacts read so far, else one batch read per
        100 unknown ids."""
        unknown = [i for i in ids if i not in self._emails]
        for chunk in chunks(unknown, BATCH):
            data = self._batch_read(chunk, [self._email_property])
            for obj in data.results or []:
                email = (obj.properties or {}).get(self._email_property)
                if email:
                    self._emails[str(obj.id)] = str(email)
        return {i: self._emails.get(i, "") for i in ids}

    def behaviour_sources(self) -> list[str]:
        """Where this portal's behaviour is read from, one sentence each (for ``leadsync check``)."""
        return self.behaviour.describe()

    def _associations(self, contact_ids: Sequence[str], etype: str) -> dict[str, list[str]]:
        """Engagement id -> the contact ids it is associated with (v4 batch read, 1,000 contacts per call)."""
        links: dict[str, list[str]] = {}
        for chunk in chunks(contact_ids, ASSOCIATION_BATCH):
            # each contact's associations page on their own: one paginator per contact, sent as its input
            paginators = {cid: HubSpotAfter(endpoint="associations.batch_read") for cid in chunk}
            inputs: list[dict[str, str]] = [{"id": cid} for cid in chunk]
            while inputs:
                body = {"inputs": inputs}
                data, _, _ = self.client.call(
                    "associations.batch_read",
                    partial(
                        self.client.associations.get_page_with_http_info,
                        "contacts",
                        etype,
                        body,
                        _request_timeout=self.config.timeout,
                    ),
                )
                inputs = []
                for result in data.results or []:  # contacts without any come back in errors[]
                    from_id = str(result._from.id)
                    for to in result.to or []:
                        links.setdefault(str(to.to_object_id), []).append(from_id)
                    paginator = paginators.setdefault(from_id, HubSpotAfter(endpoint="associations.batch_read"))
                    paginator.update_state(result)
                    if paginator.has_next:
                        inputs.append({"id": from_id, **paginator.next_request()})
        return links

    def read_activity_changes(self, cursor: str | None) -> Iterator[ActivityPage]:
        """Nothing to read: every behaviour HubSpot records moves a contact rollup the contacts search reads
        (``DEFAULT_EXTRA_FIELDS``: a form fill ``recent_conversion_date``, an email open or click
        ``hs_email_open`` / ``hs_email_click``, a bounce ``hs_email_bounce``, an unsubscribe ``hs_email_optout``,
        a page view ``hs_analytics_num_page_views``, an engagement ``notes_last_updated``), so ``read_contacts``
        returns the contact with a field changed (never an echo) and its activities are read then."""
        until = to_ms(self.config.now())
        since = 0
        if cursor is not None:
            state = parse_cursor(cursor)
            since = state.ts if isinstance(state, Position) else state.since
        yield ActivityPage((), Position(max(until, since), 0).json(), done=True)

    # -- field history (optional: ``connectors.base.ReadsFieldHistory``) ---------------------------------
    def field_history(self, contact_ids: Sequence[str], fields: Sequence[str]) -> Mapping[str, list[FieldChangeRecord]]:
        """Property history of ``fields`` (read field names: canonical or extra), 50 contacts per batch read."""
        wanted = {**{n: n for n in self._extra}, **self.config.field_map}
        properties = {key: wanted[key] for key in fields if wanted.get(key)}
        return read_field_history(self.client, contact_ids, properties, timeout=self.config.timeout)

    # -- outcomes and owners -----------------------------------------------------------------------------
    def read_outcomes(self) -> Iterator[Outcome]:
        return read_outcomes(self.client, self.config)

    def read_owners(self) -> list[Owner]:
        owners: list[Owner] = []
        for archived in (False, True):  # archived owners can still own contacts: report them inactive

            def fetch(request: dict[str, Any], archived: bool = archived) -> Any:
                data, _, _ = self.client.call(
                    "owners.list",
                    partial(
                        self.client.owners.get_page_with_http_info,
                        after=request.get("after"),
                        limit=500,
                        archived=archived,
                        _request_timeout=self.config.timeout,
                    ),
                )
                return data

            for data in pages(fetch, HubSpotAfter(endpoint="owners.list")):
                for o in data.results or []:
                    name = " ".join(p for p in (o.first_name, o.last_name) if p)
                    teams = tuple(t.name for t in o.teams or [])
                    owners.append(Owner(str(o.id), name, o.email or "", active=not archived, teams=teams))
        return owners

    # -- fields ------------------------------------------------------------------------------------------
    def check_fields(self, specs: Sequence[FieldSpec], *, create: bool = False) -> FieldCheck:
        existing = {p.name: p for p in self._properties()}
        present = [s.name for s in specs if s.name in existing]
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        notes = [
            f"{s.name} exists as {existing[s.name].type}, leadsync writes {s.type}"
            for s in specs
            if s.name in existing and PROPERTY_TYPES.get(s.type, (s.type,))[0] != existing[s.name].type
        ]
        if create and missing:
            self._ensure_group()
            for spec in missing:
                if self._create_property(spec):
                    created.append(spec.name)
                else:
                    present.append(spec.name)  # created meanwhile (409): it exists
            missing = []
        instructions = ""
        if missing:
            listing = "; ".join(f"{s.name} ({s.type}, label {s.label!r})" for s in missing)
            instructions = (
                f"Create these contact properties in HubSpot (Settings > Properties > Contact properties, group "
                f"{self.config.property_group!r}), or run the check with field creation allowed: {listing}."
            )
        if notes:
            instructions = (instructions + " " if instructions else "") + "Type mismatch: " + "; ".join(notes) + "."
        return FieldCheck(
            present=tuple(present),
            created=tuple(created),
            missing=tuple(s.name for s in missing),
            instructions=instructions,
            field_keys={s.name: s.name for s in specs},
        )

    def contact_field_names(self) -> list[FieldSchema]:
        """The contact properties, from the properties API (one call)."""
        fields = tuple(
            SchemaField(p.name, p.label or "", p.type or "", options=tuple(str(o.value) for o in p.options or ()))
            for p in self._properties()
        )
        return [FieldSchema("contact", fields, field_map=self.config.field_map)]

    def _properties(self) -> list[Any]:
        """The contact properties (the properties API answers them all in one call)."""
        data, _, _ = self.client.call(
            "properties.list",
            partial(
                self.client.properties.get_all_with_http_info,
                "contacts",
                archived=False,
                _request_timeout=self.config.timeout,
            ),
        )
        return list(data.results or [])

    def _create(self, operation: str, create: Callable[..., Any], body: dict[str, Any]) -> bool:
        """Create a contact property or property group; False when it exists already (409: idempotent)."""
        try:
            self.client.call(
                operation, partial(create, "contacts", body, _request_timeout=self.config.timeout), require="name"
            )
        except FatalApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def _ensure_group(self) -> None:
        body = {"name": self.config.property_group, "label": self.config.property_group_label, "displayOrder": -1}
        self._create("property_groups.create", self.client.groups.create_with_http_info, body)

    def _create_property(self, spec: FieldSpec) -> bool:
        ptype, field_type = PROPERTY_TYPES.get(spec.type, ("string", "text"))
        body: dict[str, Any] = {
            "name": spec.name,
            "label": spec.label,
            "type": ptype,
            "fieldType": field_type,
            "groupName": self.config.property_group,
            "description": spec.description,
        }
        if spec.options:
            body["options"] = [{"label": o, "value": o, "displayOrder": i} for i, o in enumerate(spec.options)]
        return self._create("properties.create", self.client.properties.create_with_http_info, body)

    # -- writes ------------------------------------------------------------------------------------------
    def write(self, updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        return self._writer.write(updates)

    # -- usage -------------------------------------------------------------------------------------------
    def usage(self) -> ApiUsage:
        return self.client.usage()

    def close(self) -> None:
        self.client.close()
