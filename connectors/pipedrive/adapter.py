"""``PipedriveAdapter``: Pipedrive persons, activities, deals and users as leadsync records.

Calls per operation (the API's minimum; N persons, M activities, 500 per page):

- ``read_contacts``: ``GET /api/v2/personFields`` (the custom fields' codes) only when the fields cache
  (``PipedriveConfig.fields_cache``, kept by sync in the state store) lacks a field the run needs, else none +
  ceil(N/500) ``GET /api/v2/persons?sort_by=update_time`` (+ organizations for ``org_name``, kept in the
  fields cache with an ``updated_since`` cursor: see ``orgs.py``).  Only the custom fields needed are
  requested; if more than 15 are needed (the API's cap) the ``custom_fields`` filter is dropped and the
  response carries them all, which costs no extra call.
- ``read_activities``: ``GET /api/v2/activities?person_id=`` per person, or one stream of every activity
  (ceil(M/500) calls, spilled compact to a temporary SQLite file by person so memory stays flat at any
  account size, each person served once to later calls of the same adapter) when that is cheaper: always
  during a backfill (``read_contacts(None)``), otherwise when ceil(newest activity id / 500) (an upper bound
  of the stream's pages, from one ``limit=1`` probe) is at most the persons asked about.
- ``read_activity_changes``: ``GET /api/v2/activities?updated_since=`` (activities do not bump persons).
- ``write``: one ``PATCH /api/v2/persons/{id}`` per person (Pipedrive has no bulk update; custom fields go
  inside ``custom_fields``), paced on the 2-second burst window and checked against the daily token budget
  first (``write_token_cost``, the definition's 5 tokens).  A person merged into another or deleted answers
  404: its result is ``GONE`` (``error_code`` ``"gone"``), and the sync forgets that id.  Pipedrive's v2 API
  does not say which person survived a merge, so ``Contact.merged_from`` stays empty here (docs/crm-api.md 1.8).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from connectors.base import ActivityPage
from connectors.errors import QuotaExhausted, RecordError, TransientError
from connectors.fields import FieldSchema, SchemaField
from connectors.paging import snapshot_bound
from connectors.pipedrive.client import PipedriveClient
from connectors.pipedrive.config import PipedriveConfig
from connectors.pipedrive.cursor import ANY, ChangeCursor, fingerprint, parse_time, rfc3339
from connectors.pipedrive.mapping import (
    CONTACT_KEYS,
    ORG_NAME,
    FieldRegistry,
    PersonField,
    activity_person_id,
    activity_time,
    decode,
    patch_body,
    slug,
)
from connectors.pipedrive.orgs import MAX_IDS, Organizations
from connectors.pipedrive.spill import ActivitySpill, CompactActivity
from connectors.records import (
    Activity,
    ActivityType,
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

log = logging.getLogger(__name__)

MAX_CUSTOM_FIELDS = 15  # custom_fields keys per v2 request
INCLUDE_ONLY = frozenset({"marketing_status", "doi_status"})  # v2 persons: only with include_fields (Campaigns)
ABSENT_RECHECK = timedelta(hours=24)  # how long a field found missing is believed missing without a read
GONE = "gone"  # WriteResult.error_code of a person merged away or deleted (PATCH answered 404)
SPEC_TYPES = {
    "number": "double",
    "string": "varchar",
    "enumeration": "enum",
    "multiselect": "set",
    "datetime": "varchar",
}
# "datetime" is stored as ISO-8601 text: Pipedrive's date field would drop the time of day.
TYPE_LABELS = {"double": "Numerical", "varchar": "Text", "enum": "Single option", "set": "Multiple options"}


class WriteQuotaExhausted(QuotaExhausted):
    """The daily budget cannot cover the remaining writes; ``results`` has one result per update given
    (the unwritten ones are ``RETRY``)."""


class _ReadPlan(NamedTuple):
    reads: list[tuple[str, PersonField | None]]  # (name in Contact.fields, field; None = organization name)
    custom_param: str | None  # value of the custom_fields query parameter
    include_param: str | None = None  # value of include_fields: standard fields v2 sends only when asked


class PipedriveAdapter:
    crm = "pipedrive"

    def __init__(self, config: PipedriveConfig):
        self.config = config
        self._client = PipedriveClient(config)
        self._registry: FieldRegistry | None = None
        self._fields_fresh = False  # the registry was read from Pipedrive in this adapter's life, not the cache
        # names looked for and not found at the last read of the fields, and when that was (kept in the cache)
        self._absent: set[str] = set()
        self._read_at: datetime | None = None
        self._spec_keys: dict[str, str] = {}  # write-back field name (FieldSpec.name) -> hash key
        self._orgs = Organizations(self._client.paginate)  # organization names, kept in the fields cache
        self._activity_spill: ActivitySpill | None = None  # the stream of every activity, once read
        self._full_read = False  # read_contacts(None) ran: every person's activities will be asked for
        self._contacts_read = 0
        self._newest_activity_id: int | None = None
        self._type_rules: dict[str, list[tuple[str, str]]] = {}
        self._type_map: dict[str, str] = {}
        for key, canonical in config.activity_type_map.items():
            if "/" in key:
                type_key, word = key.split("/", 1)
                self._type_rules.setdefault(type_key, []).append((word.lower(), canonical))
            else:
                self._type_map[key] = canonical

    @property
    def client(self) -> PipedriveClient:
        """The HTTP client, for one-call questions such as the fast lane's probe (``probe.py``)."""
        return self._client

    # -- fields ---------------------------------------------------------------------------------------------
    def _fields(self) -> FieldRegistry:
        """Person fields with their codes: from the fields cache when it has them, else read from Pipedrive."""
        if self._registry is None:
            self._registry = self._cached_fields() or self._read_fields()
        return self._registry

    def _cached_fields(self) -> FieldRegistry | None:
        cache = self.config.fields_cache
        blob = cache.get() if cache is not None else None
        if not blob:
            return None
        try:
            data = json.loads(blob)
            registry = FieldRegistry([PersonField.from_json(f) for f in data["fields"]])
            self._absent, self._read_at = set(data.get("absent") or ()), parse_time(data["read_at"])
            self._orgs.load(data.get("organizations"))
            return registry
        except (ValueError, KeyError, TypeError):  # a cache from another version: read the fields again
            log.info("Pipedrive fields cache unreadable; reading the person fields again")
            return None

    def _read_fields(self) -> FieldRegistry:
        """``GET /api/v2/personFields`` (cursor paging), kept in the fields cache for the next runs."""
        listing = self._client.paginate("personFields.list", "/api/v2/personFields", {"limit": 500})
        registry = FieldRegistry([PersonField.from_json(f) for page, _ in listing for f in page])
        self._fields_fresh, self._read_at = True, self.config.now()
        self._registry = registry
        self._absent = {n for n in self._absent if registry.find(n) is None}
        self._save_fields()
        return registry

    def _save_fields(self) -> None:
        if self.config.fields_cache is not None and self._registry is not None and self._read_at is not None:
            fields = [f.to_json() for f in self._registry.fields]
            blob = {"fields": fields, "absent": sorted(self._absent), "read_at": self._read_at.isoformat()}
            if (organizations := self._orgs.dump()) is not None:
                blob["organizations"] = organizations
            self.config.fields_cache.put(json.dumps(blob))
            self._orgs.changed = False

    def _needs_reread(self, names: Sequence[str]) -> bool:
        """Whether fields the run needs are missing from cached fields and may have been created since.

        A name that was missing at the last read too is taken as still missing for ``ABSENT_RECHECK``: a
        model may name a field the account does not have, which must not cost a read every run.
        """
        registry = self._fields()
        missing = {n for n in names if n != ORG_NAME and registry.find(n) is None}
        if not missing or self._fields_fresh:
            return False
        recent = self._read_at is not None and self.config.now() - self._read_at < ABSENT_RECHECK
        return not (recent and missing <= self._absent)

    def _note_absent(self, names: Sequence[str]) -> None:
        """Remember which needed names the fields just read lack (so the next runs do not read them for those)."""
        registry = self._fields()
        absent = {n for n in names if n != ORG_NAME and registry.find(n) is None}
        if self._fields_fresh and not absent <= self._absent:
            self._absent |= absent
            self._save_fields()

    def _refresh_fields(self) -> bool:
        """Read the fields again if they came from the cache (a field or option the run needs is not in it)."""
        if self._fields_fresh:
            return False
        self._read_fields()
        return True

    def _read_plan(self) -> _ReadPlan:
        registry = self._fields()
        wanted = dict(self.config.field_map) | {name: name for name in self.config.extra_fields}
        needed = [*wanted.values(), *self._spec_keys.values()]
        if self._needs_reread(needed):
            registry = self._read_fields()  # a field the run needs is not in the cache: it may be new
        self._note_absent(needed)
        reads: list[tuple[str, PersonField | None]] = []
        for out_name, crm_name in wanted.items():
            if crm_name == ORG_NAME:
                reads.append((out_name, None))
            elif person_field := registry.find(crm_name):
                reads.append((out_name, person_field))
            else:
                log.debug("Pipedrive has no person field %r (for %r); left out", crm_name, out_name)
        for name, key in self._spec_keys.items():
            if (person_field := registry.by_key(key)) is not None and name not in wanted:
                reads.append((name, person_field))
        keys = sorted({f.key for _, f in reads if f is not None and f.custom})
        include = sorted({f.key for _, f in reads if f is not None and f.key in INCLUDE_ONLY})
        # >15 custom fields: no filter at all (all come back) rather than one request per 15 keys
        custom = ",".join(keys) if 0 < len(keys) <= MAX_CUSTOM_FIELDS else None
        return _ReadPlan(reads, custom, ",".join(include) or None)

    # -- contacts -------------------------------------------------------------------------------------------
    def _value(self, raw: Mapping[str, Any], person_field: PersonField | None, orgs: Mapping[int, str]) -> FieldValue:
        if person_field is None:
            return orgs.get(int(raw["org_id"])) if raw.get("org_id") else None
        key = person_field.key
        if person_field.custom:
            return decode(person_field, (raw.get("custom_fields") or {}).get(key))
        if key in CONTACT_KEYS:
            items = raw.get(CONTACT_KEYS[key]) or []
            primary = [i for i in items if i.get("primary")] or items
            return primary[0].get("value") if primary else None
        return decode(person_field, raw.get(key))

    def _contact(self, raw: Mapping[str, Any], plan: _ReadPlan, orgs: Mapping[int, str]) -> Contact:
        fields = {name: self._value(raw, person_field, orgs) for name, person_field in plan.reads}
        return Contact(id=str(raw["id"]), updated_at=parse_time(raw["update_time"]), fields=fields)

    def _contacts(self, raws: Sequence[Mapping[str, Any]], plan: _ReadPlan) -> tuple[Contact, ...]:
        self._contacts_read += len(raws)
        orgs = self._orgs.names_for(raws, self._full_read) if any(f is None for _, f in plan.reads) else {}
        if self._orgs.changed:
            self._save_fields()
        return tuple(self._contact(raw, plan, orgs) for raw in raws)

    def read_contacts(self, cursor: str | None) -> Iterator[ContactPage]:
        """Persons changed since ``cursor`` (all when None), oldest change first, one page per API page."""
        state = ChangeCursor.parse(cursor, "persons")
        if cursor is None:
            # A read from the start (a backfill) ends where it began: the writes made behind it move
            # update_time forward, and reading those persons again, here or on resuming, would read the whole
            # CRM twice.  The page cursors carry the bound; the last one drops it for the next incremental read.
            state.until = math.floor(snapshot_bound(self.config.now, self.config.sleep).timestamp())
        # a new read is a new run: the activity stream spilled by the previous run is stale
        self._drop_activity_spill()
        self._orgs.new_run()
        self._full_read = cursor is None
        plan = self._read_plan()
        params: dict[str, Any] = {"limit": self.config.page_size, "sort_by": "update_time", "sort_direction": "asc"}
        if state.updated_since:
            params["updated_since"] = state.updated_since  # inclusive: the boundary second is read again
        if state.until is not None:
            params["updated_until"] = rfc3339(state.until)  # exclusive
        if plan.custom_param:
            params["custom_fields"] = plan.custom_param
        if plan.include_param:
            params["include_fields"] = plan.include_param
        for persons, more in self._client.paginate("persons.list", "/api/v2/persons", params):
            fresh = [
                p
                for p in persons
                if state.accept(str(p["id"]), int(parse_time(p["update_time"]).timestamp()), fingerprint(p))
            ]
            if not more:
                state.until = None
            yield ContactPage(self._contacts(fresh, plan), state.dumps(), done=not more)

    def cursor_at(self, since: datetime) -> str:
        """A cursor for ``read_contacts`` and ``read_activity_changes`` starting at ``since`` (inclusive)."""
        return ChangeCursor(ANY, math.floor(since.timestamp())).dumps()

    def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        plan = self._read_plan()
        wanted = list(dict.fromkeys(i for i in ids if str(i).isdigit()))
        out: list[Contact] = []
        for start in range(0, len(wanted), MAX_IDS):
            params: dict[str, Any] = {"ids": ",".join(wanted[start : start + MAX_IDS]), "limit": 500}
            if plan.custom_param:
                params["custom_fields"] = plan.custom_param
            if plan.include_param:
                params["include_fields"] = plan.include_param
            for persons, _ in self._client.paginate("persons.list", "/api/v2/persons", params):
                out += self._contacts(persons, plan)
        return out

    # -- activities -----------------------------------------------------------------------------------------
    def _canonical(self, type_key: str, subject: str) -> str:
        lowered = subject.lower()
        for word, canonical in self._type_rules.get(type_key, ()):
            if word in lowered:
                return canonical
        return self._type_map.get(type_key, ActivityType.OTHER.value)

    def _activity(self, person_id: int, item: CompactActivity) -> Activity:
        attributes: dict[str, FieldValue] = {"subject": item.subject, "done": item.done}
        if item.owner_id:
            attributes["owner_id"] = str(item.owner_id)
        if item.deal_id:
            attributes["deal_id"] = str(item.deal_id)
        return Activity(
            id=str(item.id),
            contact_id=str(person_id),
            type=self._canonical(item.type, item.subject),
            occurred_at=datetime.fromtimestamp(item.occurred_at, UTC),
            attributes=attributes,
            source_type=item.type,
        )

    @staticmethod
    def _compact(raw: Mapping[str, Any]) -> CompactActivity:
        return CompactActivity(
            int(raw["id"]),
            str(raw.get("type") or ""),
            str(raw.get("subject") or ""),
            activity_time(raw).timestamp(),
            bool(raw.get("done")),
            raw.get("owner_id"),
            raw.get("deal_id"),
        )

    def _stream_activities(self) -> ActivitySpill:
        spill = ActivitySpill()
        params = {"limit": self.config.page_size}
        try:
            for activities, _ in self._client.paginate("activities.list", "/api/v2/activities", params):
                spill.add(
                    (person_id, self._compact(raw))
                    for raw in activities
                    if (person_id := activity_person_id(raw)) is not None
                )
            spill.seal()
        except BaseException:  # a stream cut short would serve persons too few activities: none at all instead
            spill.close()
            raise
        return spill

    def forget_run_caches(self) -> None:
        """Start a run that reads no listing (the webhook worker's): activities streamed for an earlier run are
        stale, and the contacts it read must not make streaming look worth it."""
        self._drop_activity_spill()
        self._full_read = False
        self._contacts_read = 0

    def _drop_activity_spill(self) -> None:
        if self._activity_spill is not None:
            self._activity_spill.close()
            self._activity_spill = None

    def _stream_pays(self, persons: int) -> bool:
        """Whether streaming every activity costs fewer calls than one call per person."""
        if persons <= self.config.activity_stream_threshold:
            return False
        if self._full_read:
            return True
        if self._newest_activity_id is None:  # ids only grow: the newest id bounds how many activities exist
            params = {"limit": 1, "sort_by": "id", "sort_direction": "desc"}
            newest = self._client.call("activities.list", "GET", "/api/v2/activities", params=params).get("data")
            self._newest_activity_id = int(newest[0]["id"]) if newest else 0
        return math.ceil(self._newest_activity_id / self.config.page_size) <= max(persons, self._contacts_read)

    def read_activities(self, contact_ids: Sequence[str]) -> Mapping[str, list[Activity]]:
        wanted = list(dict.fromkeys(int(i) for i in contact_ids if str(i).isdigit()))
        if self._activity_spill is None and self._stream_pays(len(wanted)):
            self._activity_spill = self._stream_activities()
        streamed = self._activity_spill.take(wanted) if self._activity_spill is not None else {}
        out: dict[str, list[Activity]] = {}
        for person_id in wanted:
            items = streamed.get(person_id)
            if items is None:  # no stream, or this person was served from it before: ask for this person
                params = {"person_id": person_id, "limit": self.config.page_size}
                pages = self._client.paginate("activities.list", "/api/v2/activities", params)
                items = [self._compact(raw) for activities, _ in pages for raw in activities]
            out[str(person_id)] = [self._activity(person_id, item) for item in items]
        return out

    def read_activity_changes(self, cursor: str | None) -> Iterator[ActivityPage]:
        state = ChangeCursor.parse(cursor, "activities")
        params: dict[str, Any] = {"limit": self.config.page_size, "sort_by": "update_time", "sort_direction": "asc"}
        if state.updated_since:
            params["updated_since"] = state.updated_since
        for activities, more in self._client.paginate("activities.list", "/api/v2/activities", params):
            changed = []
            for raw in activities:
                if not state.accept(str(raw["id"]), int(parse_time(raw["update_time"]).timestamp()), fingerprint(raw)):
                    continue
                if (person_id := activity_person_id(raw)) is not None:
                    changed.append(self._activity(person_id, self._compact(raw)))
            yield ActivityPage(tuple(changed), state.dumps(), done=not more)

    # -- outcomes and owners --------------------------------------------------------------------------------
    def read_outcomes(self) -> Iterator[Outcome]:
        params = {"status": "won,lost", "limit": self.config.page_size}
        for deals, _ in self._client.paginate("deals.list", "/api/v2/deals", params):
            for deal in deals:
                if not deal.get("person_id"):
                    continue
                won = deal.get("status") == "won"
                closed = deal.get("won_time" if won else "lost_time") or deal.get("close_time")
                value = deal.get("value")
                yield Outcome(
                    contact_id=str(deal["person_id"]),
                    won=won,
                    closed_at=parse_time(closed) if closed else None,
                    amount=None if value is None else float(value),
                    source_id=str(deal["id"]),
                )

    def read_owners(self) -> list[Owner]:
        data = self._client.call("users.list", "GET", "/api/v1/users")
        return [
            Owner(
                id=str(u["id"]),
                name=str(u.get("name") or ""),
                email=str(u.get("email") or ""),
                active=bool(u.get("active_flag", True)),
            )
            for u in data.get("data") or ()
        ]

    # -- write-back fields ----------------------------------------------------------------------------------
    def check_fields(self, specs: Sequence[FieldSpec], *, create: bool = False) -> FieldCheck:
        """Find each write-back field by label or name; with ``create``, add the missing ones (idempotent)."""
        registry = self._fields()
        if not all(registry.find(s.label or s.name) or registry.find(s.name) for s in specs) and self._refresh_fields():
            registry = self._fields()  # not in the cache: someone may have created it since
        present: list[str] = []
        created: list[str] = []
        missing: list[FieldSpec] = []
        problems: list[str] = []
        for spec in specs:
            person_field = registry.find(spec.label or spec.name) or registry.find(spec.name)
            if person_field is None and create:
                body: dict[str, Any] = {
                    "field_name": spec.label or spec.name,
                    "field_type": SPEC_TYPES.get(spec.type, "varchar"),
                }
                if body["field_type"] in ("enum", "set"):
                    body["options"] = [{"label": option} for option in spec.options]
                try:
                    data = self._client.call(
                        "personFields.create", "POST", "/api/v2/personFields", body=body, write=True
                    )
                except RecordError as exc:
                    problems.append(f"'{body['field_name']}': {exc.message}")
                else:
                    person_field = PersonField.from_json(data["data"])
                    registry.add(person_field)
                    self._save_fields()
                    created.append(spec.name)
            elif person_field is not None:
                present.append(spec.name)
            if person_field is None:
                missing.append(spec)
            else:
                self._spec_keys[spec.name] = person_field.key
        instructions = ""
        if missing:
            wanted = ", ".join(
                f"'{s.label or s.name}' ({TYPE_LABELS[SPEC_TYPES.get(s.type, 'varchar')]}"
                + (f": {', '.join(s.options)})" if s.options else ")")
                for s in missing
            )
            instructions = f"In Pipedrive, open Company settings > Data fields > Person and add {wanted}."
            if problems:
                instructions += f" Pipedrive refused to create them: {'; '.join(problems)}."
        return FieldCheck(
            tuple(present), tuple(created), tuple(s.name for s in missing), instructions, dict(self._spec_keys)
        )

    def contact_field_names(self) -> list[FieldSchema]:
        """The person fields, as the adapter reads them (by name, hash key or slug), from its cached listing."""
        fields = [
            SchemaField(f.name, f.name, f.field_type, aliases=(f.key, slug(f.name)), options=tuple(f.options.values()))
            for f in self._fields().fields
        ]
        fields.append(SchemaField(ORG_NAME, "Organization name", "org"))  # read from the person's organization
        return [FieldSchema("person", tuple(fields), field_map=self.config.field_map, case_sensitive=False)]

    # -- writes ---------------------------------------------------------------------------------------------
    def _patch_body(self, values: Mapping[str, FieldValue], registry: FieldRegistry) -> dict[str, Any]:
        return patch_body(values, registry, self.config.field_map, self._spec_keys)

    def _body_or_refresh(self, values: Mapping[str, FieldValue]) -> dict[str, Any]:
        """``_patch_body``; a field or option missing from cached fields reads them again once first."""
        try:
            return self._patch_body(values, self._fields())
        except ValueError:
            if not self._refresh_fields():
                raise
            return self._patch_body(values, self._fields())

    def _budget_guard(self, tokens: int, results: list[WriteResult | None], updates: Sequence[FieldUpdate]) -> None:
        left = self._client.limits.daily_remaining
        if left is None or left - self.config.budget_reserve >= tokens:
            return
        reset_at = self._client.reset_at()
        final = [
            r
            or WriteResult(
                u.contact_id,
                WriteStatus.RETRY,
                "not written: Pipedrive's daily token budget is spent",
                "daily_budget",
                u.contact_id,
            )
            for r, u in zip(results, updates, strict=True)
        ]
        raise WriteQuotaExhausted(
            f"Pipedrive's daily token budget has {left} tokens left (reserve {self.config.budget_reserve}); the "
            f"remaining writes need {tokens}. Stopping before them; the budget resets around "
            f"{reset_at:%Y-%m-%d %H:%M} UTC and the run goes on from its saved cursor",
            results=final,
            reset_at=reset_at,
            crm=self.crm,
            endpoint="persons.update",
        )

    def write(self, updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        """One ``PATCH /api/v2/persons/{id}`` per update (no bulk update exists); results in order."""
        results: list[WriteResult | None] = [None] * len(updates)
        todo: list[tuple[int, dict[str, Any]]] = []
        for index, update in enumerate(updates):
            requested = update.contact_id
            if not update.values:
                results[index] = WriteResult(requested, WriteStatus.SKIPPED, "nothing to write", "", requested)
            elif not requested.isdigit():
                results[index] = WriteResult(
                    requested, WriteStatus.FAILED, "not a Pipedrive person id", "bad_id", requested
                )
            else:
                try:
                    todo.append((index, self._body_or_refresh(update.values)))
                except ValueError as exc:
                    results[index] = WriteResult(requested, WriteStatus.FAILED, str(exc), "invalid_value", requested)
        cost = self.config.write_token_cost
        for done, (index, body) in enumerate(todo):
            self._budget_guard(cost * (len(todo) - done), results, updates)
            requested = updates[index].contact_id
            try:
                path = f"/api/v2/persons/{requested}"
                data = self._client.call("persons.update", "PATCH", path, body=body, write=True)
                person_id = str((data.get("data") or {}).get("id") or requested)
                results[index] = WriteResult(person_id, WriteStatus.OK, requested_id=requested)
            except RecordError as exc:
                if exc.status == 404:  # merged into another person, or deleted: nothing to write to any more
                    message = f"Pipedrive has no person {requested} any more (merged into another person, or deleted)"
                    results[index] = WriteResult(requested, WriteStatus.GONE, message, GONE, requested)
                else:
                    results[index] = WriteResult(requested, WriteStatus.FAILED, exc.message, exc.code, requested)
            except QuotaExhausted:
                self._client.limits.daily_remaining = 0  # spent by someone else meanwhile
                self._budget_guard(cost * (len(todo) - done), results, updates)
                raise
            except TransientError as exc:  # 429 / 5xx that outlived the retries
                results[index] = WriteResult(
                    requested, WriteStatus.RETRY, exc.message, str(exc.status or ""), requested
                )
        return [r for r in results if r is not None]

    # -- usage ----------------------------------------------------------------------------------------------
    def usage(self) -> ApiUsage:
        limits = self._client.limits
        used = None
        if limits.daily_limit is not None and limits.daily_remaining is not None:
            used = limits.daily_limit - limits.daily_remaining
        extra = {
            "burst_limit": limits.burst_limit,
            "burst_remaining": limits.burst_remaining,
            "retries": dict(self._client.retries()),
            "paced_seconds": round(self._client.pacer.slept, 3),
        }
        return ApiUsage(dict(self._client.calls()), used, limits.daily_limit, extra)

    def close(self) -> None:
        self._drop_activity_spill()
        self._orgs.close()
        self._client.close()
