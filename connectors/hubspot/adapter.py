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
    equal timestamps.

Activities
    ``POST /crm/v4/associations/contacts/{type}/batch/read`` (1,000 contacts per call) per engagement
    type, then ``POST /crm/v3/objects/{type}/batch/read`` (100 engagements per call).  New activities are
    found by the contacts search itself: associating an engagement with a contact updates the contact's
    activity rollups (``notes_last_updated``, ``hs_last_sales_activity_timestamp``...), which moves its
    ``lastmodifieddate``.  ``read_activity_changes`` therefore costs no call and yields no activity.

Writing
    ``POST /crm/v3/objects/contacts/batch/update``, 100 per call; a 207 maps per record (matched through
    ``objectWriteTraceId``); a merged id is written to, and reported as, the surviving contact.  A
    ``lifecyclestage`` HubSpot refuses because it would move backwards is cleared (``""``) and set again
    for those records only (two more batch calls), since HubSpot only moves the stage forward.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from connectors.base import ActivityPage
from connectors.errors import ConfigurationError, FatalApiError
from connectors.http import parse_float
from connectors.hubspot._client import HubSpotClient
from connectors.hubspot._mapping import (
    ENGAGEMENT_PROPERTIES,
    contact_key,
    contact_properties,
    parse_time,
    to_activities,
    to_contact,
    to_ms,
)
from connectors.hubspot.config import HubSpotConfig
from connectors.paging import HubSpotAfter, chunks, pages
from connectors.records import (
    Activity,
    ApiUsage,
    Contact,
    ContactPage,
    FieldCheck,
    FieldSpec,
    FieldUpdate,
    FieldValue,
    Outcome,
    Owner,
    WriteResult,
    WriteStatus,
)

LIST_PAGE = 100
SEARCH_PAGE = 200
SEARCH_MAX_BODY = 3000  # HubSpot refuses search request bodies over 3,000 characters
MAX_EXCLUDED = 100  # ids excluded with NOT_IN in one filter (assumed limit, as for IN)
BATCH = 100
ASSOCIATION_BATCH = 1000
CURSOR_VERSION = 1
_PROPERTY_TYPES = {
    "number": ("number", "number"),
    "string": ("string", "text"),
    "datetime": ("datetime", "date"),
    "date": ("date", "date"),
    "enumeration": ("enumeration", "select"),
    "bool": ("bool", "booleancheckbox"),
}
_NAME_PROBLEMS = {"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"}


@dataclass(frozen=True, slots=True)
class _Position:
    """Incremental cursor: every contact with (lastmodifieddate, id) <= (ts, id) has been yielded."""

    ts: int
    id: int

    def json(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "ts": self.ts, "id": str(self.id)})


@dataclass(frozen=True, slots=True)
class _Listing:
    """Backfill cursor: list from ``after``; hand over to incremental reads at ``since`` when done."""

    after: str | None
    since: int

    def json(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "list_after": self.after, "since": self.since})


def _parse_cursor(cursor: str) -> _Position | _Listing:
    try:
        data = json.loads(cursor)
        if "list_after" in data:
            return _Listing(data["list_after"], int(data["since"]))
        return _Position(int(data["ts"]), int(data.get("id") or 0))
    except (ValueError, TypeError, KeyError) as exc:
        raise FatalApiError(
            f"The stored HubSpot cursor {cursor!r} is not one this adapter wrote.", crm="hubspot"
        ) from exc


@dataclass(slots=True)
class _Pending:
    index: int
    contact_id: str
    properties: dict[str, str]


def _prop_value(value: FieldValue) -> str:
    if value is None:
        return ""  # HubSpot clears a property with "", not null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class HubSpotAdapter:
    crm = "hubspot"

    def __init__(self, config: HubSpotConfig, client: HubSpotClient | None = None):
        self.config = config
        self.client = client or HubSpotClient(config)
        self.properties = contact_properties(config.field_map, config.extra_fields)
        self._extra = [n for n in config.extra_fields if n not in config.field_map]

    # -- contacts ----------------------------------------------------------------------------------------
    def read_contacts(self, cursor: str | None) -> Iterator[ContactPage]:
        if cursor is None:
            if self.config.backfill == "search":
                yield from self._search_pages(_Position(0, 0))
                return
            since = self.config.now() - timedelta(seconds=self.config.backfill_overlap_seconds)
            yield from self._list_pages(_Listing(None, to_ms(since)))
            return
        state = _parse_cursor(cursor)
        if isinstance(state, _Listing):
            yield from self._list_pages(state)
        else:
            yield from self._search_pages(state)

    def cursor_at(self, since: datetime) -> str:
        return _Position(to_ms(since), 0).json()

    def count_contacts(self, cursor: str | None) -> int:
        """How many contacts ``read_contacts(cursor)`` will yield, at the cost of one search call."""
        state = _parse_cursor(cursor) if cursor else None
        groups = self._groups(state) if isinstance(state, _Position) else []
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
        return to_contact(obj, self.config.field_map, self._extra)

    def _list_pages(self, state: _Listing) -> Iterator[ContactPage]:
        buffer: list[Contact] = []
        paginator = HubSpotAfter(state.after, endpoint="contacts.list")
        for data in pages(self._list_contacts, paginator):
            buffer.extend(self._to_contact(obj) for obj in data.results or [])
            if not paginator.has_next:
                yield ContactPage(tuple(buffer), _Position(state.since, 0).json(), done=True)
                return
            if len(buffer) >= self.config.page_size:
                yield ContactPage(tuple(buffer), _Listing(str(paginator.token), state.since).json())
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

    def _groups(self, pos: _Position, held: Sequence[Contact] = ()) -> list[dict[str, Any]]:
        """Filter groups for "after ``pos``", or, with ``held``, "after the held records' timestamp, or at it
        but not one of them" (the held records are a timestamp group that may continue past the last page)."""
        groups: list[list[dict[str, Any]]]
        if held:
            ts = str(contact_key(held[0])[0])
            groups = [
                [{"propertyName": "lastmodifieddate", "operator": "GT", "value": ts}],
                [
                    {"propertyName": "lastmodifieddate", "operator": "EQ", "value": ts},
                    {"propertyName": "hs_object_id", "operator": "NOT_IN", "values": [c.id for c in held]},
                ],
            ]
        elif pos.id == 0:
            groups = [[{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(pos.ts)}]]
        else:
            groups = [
                [{"propertyName": "lastmodifieddate", "operator": "GT", "value": str(pos.ts)}],
                [
                    {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(pos.ts)},
                    {"propertyName": "hs_object_id", "operator": "GT", "value": str(pos.id)},
                ],
            ]
        if self.config.search_lag_seconds > 0:
            until = self.config.now() - timedelta(seconds=self.config.search_lag_seconds)
            bound = {"propertyName": "lastmodifieddate", "operator": "LT", "value": str(to_ms(until))}
            groups = [[*g, bound] for g in groups]
        return [{"filters": g} for g in groups]

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
        return found, int(data.total or 0)

    def _search_pages(self, start: _Position) -> Iterator[ContactPage]:
        pos = start
        held: list[Contact] = []  # the last page's final timestamp group: seen, not yet known complete
        buffer: list[Contact] = []
        while True:
            body = self._search_body(self._groups(pos, held), "lastmodifieddate")
            if held and (len(held) > MAX_EXCLUDED or len(json.dumps(body)) > SEARCH_MAX_BODY):
                held = []  # too many to exclude by id: read them again from the last complete position
                body = self._search_body(self._groups(pos), "lastmodifieddate")
            found, total = self._search(body)
            if len(found) < SEARCH_PAGE or total <= len(found):  # the rest of the result: all complete
                rest = sorted([*held, *found], key=contact_key)
                buffer.extend(rest)
                if rest:
                    pos = _Position(*contact_key(rest[-1]))
                yield from self._full_pages(buffer)
                yield ContactPage(tuple(buffer), pos.json(), done=True)
                return
            last_ts = contact_key(found[-1])[0]
            complete = sorted([*held, *(c for c in found if contact_key(c)[0] < last_ts)], key=contact_key)
            if held and last_ts == contact_key(held[0])[0]:
                complete = []  # the held timestamp fills whole pages: walk it by id instead
            if complete:
                buffer.extend(complete)
                pos = _Position(*contact_key(complete[-1]))
                held = [c for c in found if contact_key(c)[0] == last_ts]
            else:  # pages made of one timestamp: walk it by id, which orders it completely
                walk_from = pos.id if pos.ts == last_ts else 0
                held = []
                for chunk in self._walk_timestamp(last_ts, walk_from):
                    buffer.extend(chunk)
                    pos = _Position(last_ts, int(chunk[-1].id))
                    yield from self._full_pages(buffer)
            yield from self._full_pages(buffer)

    def _full_pages(self, buffer: list[Contact]) -> Iterator[ContactPage]:
        """Pages of exactly ``page_size`` cut from ``buffer`` (complete contacts in cursor order), each with the
        position of its last contact; the rest stays in ``buffer``.  Exact pages keep the activity reads at
        their minimum: a page of 1,000 is one associations call per engagement type, 1,001 would be two."""
        size = self.config.page_size
        while len(buffer) >= size:
            page = buffer[:size]
            del buffer[:size]
            yield ContactPage(tuple(page), _Position(*contact_key(page[-1])).json())

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

    def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        out: dict[str, Contact] = {}
        for chunk in chunks(dict.fromkeys(ids), BATCH):
            body = {"inputs": [{"id": i} for i in chunk], "properties": self.properties, "propertiesWithHistory": []}
            data, _, _ = self.client.call(
                "contacts.batch_read",
                partial(
                    self.client.contacts_batch.read_with_http_info,
                    body,
                    archived=False,
                    _request_timeout=self.config.timeout,
                ),
            )
            for obj in data.results or []:  # unknown ids come back in errors[]: left out
                contact = self._to_contact(obj)
                out.setdefault(contact.id, contact)
        return list(out.values())

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
        for acts in out.values():
            acts.sort(key=lambda a: (a.occurred_at, a.id))
        return out

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
        """Nothing to read: a new engagement moves its contact's ``lastmodifieddate`` (see module docstring),
        so ``read_contacts`` already returns every contact with new activities.  Costs no call."""
        yield ActivityPage((), cursor, done=True)

    # -- outcomes and owners -----------------------------------------------------------------------------
    def read_outcomes(self) -> Iterator[Outcome]:
        won, lost = set(self.config.won_stages), set(self.config.lost_stages)

        def fetch(request: dict[str, Any]) -> Any:
            data, _, _ = self.client.call(
                "deals.list",
                partial(
                    self.client.objects_basic.get_page_with_http_info,
                    "deals",
                    limit=LIST_PAGE,
                    after=request.get("after"),
                    properties=["dealstage", "closedate", "amount", "dealname"],
                    associations=["contacts"],
                    archived=False,
                    _request_timeout=self.config.timeout,
                ),
            )
            return data

        for data in pages(fetch, HubSpotAfter(endpoint="deals.list")):
            for deal in data.results or []:
                props = deal.properties or {}
                stage = props.get("dealstage")
                if stage not in won and stage not in lost:
                    continue
                amount = parse_float(props.get("amount"))
                closed = parse_time(props.get("closedate"))
                assoc = (deal.associations or {}).get("contacts")
                for link in (assoc.results if assoc else None) or []:
                    yield Outcome(str(link.id), stage in won, closed, amount, source_id=str(deal.id))

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
        data, _, _ = self.client.call(
            "properties.list",
            partial(
                self.client.properties.get_all_with_http_info,
                "contacts",
                archived=False,
                _request_timeout=self.config.timeout,
            ),
        )
        existing = {p.name: p for p in data.results or []}
        present = [s.name for s in specs if s.name in existing]
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        notes = [
            f"{s.name} exists as {existing[s.name].type}, leadsync writes {s.type}"
            for s in specs
            if s.name in existing and _PROPERTY_TYPES.get(s.type, (s.type,))[0] != existing[s.name].type
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
        ptype, field_type = _PROPERTY_TYPES.get(spec.type, ("string", "text"))
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
        results: list[WriteResult | None] = [None] * len(updates)
        pending: list[_Pending] = []
        for i, update in enumerate(updates):
            props = {self.config.field_map.get(k, k): _prop_value(v) for k, v in update.values.items()}
            if not props:
                results[i] = WriteResult(update.contact_id, WriteStatus.SKIPPED, requested_id=update.contact_id)
            else:
                pending.append(_Pending(i, str(update.contact_id), props))
        for batch in _batches_without_duplicates(pending, BATCH):
            self._write_batch(batch, results)
        return [
            r or WriteResult(u.contact_id, WriteStatus.RETRY, "no result from HubSpot", requested_id=u.contact_id)
            for r, u in zip(results, updates, strict=True)
        ]

    def _update(self, batch: Sequence[_Pending], values: Sequence[Mapping[str, str]] | None = None) -> Any:
        inputs = [
            {
                "id": p.contact_id,
                "properties": dict(values[n] if values else p.properties),
                "objectWriteTraceId": str(p.index),
            }
            for n, p in enumerate(batch)
        ]
        data, _, _ = self.client.call(
            "contacts.batch_update",
            partial(
                self.client.contacts_batch.update_with_http_info,
                {"inputs": inputs},
                _request_timeout=self.config.timeout,
            ),
        )
        return data

    def _write_batch(self, batch: list[_Pending], results: list[WriteResult | None]) -> None:
        try:
            data = self._update(batch)
        except FatalApiError as exc:
            if exc.status != 400:
                raise
            self._isolate_invalid(batch, results, exc)
            return
        refused = self._record_results(batch, data, results)
        backwards = [p for p in refused if p.properties.get("lifecyclestage")]
        if backwards and self.config.clear_lifecycle_to_move_back:
            # HubSpot only moves lifecyclestage forward: clear it, then set it, for those records only.
            self._update(backwards, [{"lifecyclestage": ""} for _ in backwards])
            self._record_results(backwards, self._update(backwards), results)

    def _record_results(
        self, batch: Sequence[_Pending], data: Any, results: list[WriteResult | None]
    ) -> list[_Pending]:
        """Fill ``results`` from one batch answer; returns the records refused for a backwards lifecyclestage."""
        by_trace = {str(p.index): p for p in batch}
        by_id = {p.contact_id: p for p in batch}
        for obj in data.results or []:
            p = by_trace.get(str(obj.object_write_trace_id)) or by_id.get(str(obj.id))
            if p is not None:
                results[p.index] = WriteResult(str(obj.id), WriteStatus.OK, requested_id=p.contact_id)
        backwards: list[_Pending] = []
        for err in getattr(data, "errors", None) or []:
            context = err.context or {}
            targets = [by_trace[t] for t in context.get("objectWriteTraceId") or [] if t in by_trace]
            targets = targets or [by_id[i] for i in context.get("ids") or [] if i in by_id]
            details = err.errors or []
            code = str(details[0].code) if details and details[0].code else str(err.category or "")
            for p in targets:
                if "lifecyclestage" in str(err.message) and "backward" in str(err.message):
                    backwards.append(p)
                results[p.index] = WriteResult(
                    p.contact_id, WriteStatus.FAILED, str(err.message or ""), code, requested_id=p.contact_id
                )
        return backwards

    def _isolate_invalid(self, batch: list[_Pending], results: list[WriteResult | None], exc: FatalApiError) -> None:
        """A 400 refuses the whole batch for one bad value: fail only the records that carry it.

        A property that does not exist or is read-only fails every record writing it (named in the answer);
        any other bad value is found by splitting the batch in halves (log2(100) extra calls at most).
        """
        body = _json(self.client.last_body)
        message = str(body.get("message") or exc.message)
        named: dict[str, tuple[str, str]] = {}  # property -> (code, message)
        codes: list[str] = []
        for err in body.get("errors") or []:
            code = str(err.get("code") or "")
            codes.append(code)
            if code in _NAME_PROBLEMS:
                for name in (err.get("context") or {}).get("propertyName") or []:
                    named[str(name)] = (code, str(err.get("message") or message))
        bad: dict[int, tuple[str, str]] = {}
        for p in batch:
            hit = next((named[n] for n in p.properties if n in named), None)
            if hit is not None:
                bad[p.index] = hit
        if not bad and len(batch) > 1:  # a bad value somewhere: split the batch until the record is found
            half = len(batch) // 2
            self._write_batch(batch[:half], results)
            self._write_batch(batch[half:], results)
            return
        if not bad:
            bad[batch[0].index] = (codes[0] if codes else str(body.get("category") or "VALIDATION_ERROR"), message)
        for p in batch:
            if p.index in bad:
                code, why = bad[p.index]
                results[p.index] = WriteResult(p.contact_id, WriteStatus.FAILED, why, code, requested_id=p.contact_id)
        good = [p for p in batch if p.index not in bad]
        if good:
            self._write_batch(good, results)

    # -- usage -------------------------------------------------------------------------------------------
    def usage(self) -> ApiUsage:
        daily = _int(self.client.header("X-HubSpot-RateLimit-Daily"))
        remaining = _int(self.client.header("X-HubSpot-RateLimit-Daily-Remaining"))
        extra: dict[str, Any] = {
            "retries": dict(self.client.retries()),
            "burst_max": _int(self.client.header("X-HubSpot-RateLimit-Max")),
            "burst_remaining": _int(self.client.header("X-HubSpot-RateLimit-Remaining")),
            "interval_ms": _int(self.client.header("X-HubSpot-RateLimit-Interval-Milliseconds")),
            "paced_seconds": self.client.api.pacer.slept + self.client.search_api.pacer.slept,
        }
        return ApiUsage(
            calls_by_endpoint=dict(self.client.calls()),
            quota_used=None if daily is None or remaining is None else daily - remaining,
            quota_limit=daily,
            extra=extra,
        )

    def close(self) -> None:
        self.client.close()


def _batches_without_duplicates(items: Sequence[_Pending], size: int) -> Iterator[list[_Pending]]:
    """Batches of at most ``size`` with no contact twice (HubSpot refuses duplicate ids in one batch)."""
    remaining = list(items)
    while remaining:
        batch: list[_Pending] = []
        seen: set[str] = set()
        rest: list[_Pending] = []
        for item in remaining:
            if len(batch) < size and item.contact_id not in seen:
                batch.append(item)
                seen.add(item.contact_id)
            else:
                rest.append(item)
        yield batch
        remaining = rest


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None
