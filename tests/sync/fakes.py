"""An in-memory ``CRMAdapter`` for fast sync tests: contacts, activities, owners, outcomes, recorded writes.

::

    clock = Clock(T0)
    crm = FakeCRM(clock=clock, page_size=2)
    crm.add_contact("c1", email="ann@acme.test", title="VP Sales")
    crm.add_activity("c1", "demo_request")
    ...                                  # run the pipeline with adapter=crm
    crm.calls["read_contacts"]           # calls by endpoint, like a CRM's usage report
    crm.read_calls                       # every call that read from the CRM
    crm.writes                           # every FieldUpdate received, in order

Paging works like a real CRM's: ``read_contacts`` and ``read_activity_changes`` page on (change time, id),
oldest first, and hand out a cursor per page; a write bumps the contact's ``updated_at``, so an incremental
sync sees leadsync's own writes come back, as it does against a real CRM.

Fault injection: ``fail_writes`` (contact id -> the CRM's refusal, a permanent per-record failure),
``raise_on`` (endpoint -> an exception raised by every call to it), ``quota_limit`` (calls allowed before
``QuotaExhausted`` is raised, with ``quota_reset_at``), ``write_delay`` (seconds each write call takes),
``on_write`` (called with each write batch before it lands).

For a leadsync running in a subprocess: ``save(path)`` / ``FakeCRM.load(path)``, and ``adapter_from_env``
as the adapter factory (see ``FACTORY_ENV``); such an adapter saves itself back on ``close()`` and appends
one line per write call to ``events`` so the test can tell when a batch is in flight.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from connectors.base import ActivityPage
from connectors.errors import ConnectorError, QuotaExhausted
from connectors.fields import FieldSchema, SchemaField
from connectors.paging import chunks
from connectors.records import (
    CANONICAL_FIELDS,
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

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the clock's start in the tests on a FakeCRM

# Set to "tests.sync.fakes:adapter_from_env" (with FAKE_CRM_ENV naming a saved FakeCRM) to make a leadsync
# subprocess use a FakeCRM instead of a real CRM.
FACTORY_ENV = "LEADSYNC_TEST_ADAPTER_FACTORY"
FAKE_CRM_ENV = "LEADSYNC_TEST_FAKE_CRM"

READ_ENDPOINTS = frozenset(
    {"read_contacts", "get_contacts", "read_activities", "read_activity_changes", "read_outcomes", "read_owners"}
)


class Clock:
    """A clock tests move by hand: ``clock()`` is now, ``clock.advance(days=3)`` moves it on."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the test clock needs a timezone-aware start")
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self.now += timedelta(**delta)
            return self.now


def _key_cursor(at: datetime, ident: str) -> str:
    return json.dumps({"t": at.astimezone(UTC).isoformat(), "id": ident})


def _parse_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    doc = json.loads(cursor)
    return datetime.fromisoformat(doc["t"]), str(doc["id"])


class FakeCRM:
    """A CRM held in dictionaries.  Implements ``connectors.base.CRMAdapter``; counts every call."""

    def __init__(
        self,
        crm: str = "hubspot",
        *,
        clock: Callable[[], datetime] | None = None,
        page_size: int = 100,
        write_batch: int = 100,
    ) -> None:
        self.crm = crm
        self.clock = clock or (lambda: datetime.now(UTC))
        self.page_size = page_size
        self.write_batch = write_batch
        self.contacts: dict[str, Contact] = {}
        self.activities: dict[str, list[Activity]] = {}
        self.activity_changed_at: dict[str, datetime] = {}
        self.owners: list[Owner] = []
        self.outcomes: list[Outcome] = []
        self.field_names: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.writes: list[FieldUpdate] = []
        self.fail_writes: dict[str, str] = {}
        self.raise_on: dict[str, ConnectorError] = {}
        self.quota_limit: int | None = None
        self.quota_reset_at: datetime | None = None
        self.write_delay = 0.0
        self.on_write: Callable[[Sequence[FieldUpdate]], None] | None = None
        self.persist_path: Path | None = None
        self.events_path: Path | None = None
        self.closed = False
        self._seq = 0
        self._lock = threading.Lock()

    # -- building the data -------------------------------------------------------------------------------
    def add_contact(
        self,
        contact_id: str,
        *,
        updated_at: datetime | None = None,
        values: Mapping[str, FieldValue] | None = None,
        **fields: FieldValue,
    ) -> Contact:
        """Add a contact with ``fields`` (and ``values``, for field names that are not Python names)."""
        contact = Contact(id=contact_id, updated_at=updated_at or self.clock(), fields={**(values or {}), **fields})
        self.contacts[contact_id] = contact
        self.activities.setdefault(contact_id, [])
        return contact

    def touch(self, contact_id: str, **fields: FieldValue) -> Contact:
        """Change fields as a person in the CRM would, and bump the change timestamp."""
        old = self.contacts[contact_id]
        contact = Contact(
            id=old.id,
            updated_at=self.clock(),
            fields={**old.fields, **fields},
            object_type=old.object_type,
            protected=old.protected,
        )
        self.contacts[contact_id] = contact
        return contact

    def add_activity(
        self, contact_id: str, type: str, occurred_at: datetime | None = None, **attributes: FieldValue
    ) -> Activity:
        self._seq += 1
        activity = Activity(
            id=f"a{self._seq}",
            contact_id=contact_id,
            type=type,
            occurred_at=occurred_at or self.clock(),
            attributes=dict(attributes),
            source_type=type,
        )
        self.activities.setdefault(contact_id, []).append(activity)
        self.activity_changed_at[activity.id] = self.clock()
        return activity

    def value(self, contact_id: str, field: str) -> FieldValue:
        return self.contacts[contact_id].get(field)

    @property
    def read_calls(self) -> int:
        return sum(n for endpoint, n in self.calls.items() if endpoint in READ_ENDPOINTS)

    @property
    def write_calls(self) -> int:
        return self.calls["write"]

    def reset_counters(self) -> None:
        self.calls.clear()
        self.writes.clear()

    # -- the adapter -------------------------------------------------------------------------------------
    def _call(self, endpoint: str) -> None:
        with self._lock:
            if endpoint in self.raise_on:
                raise self.raise_on[endpoint]
            if self.quota_limit is not None and sum(self.calls.values()) >= self.quota_limit:
                raise QuotaExhausted(
                    "the daily API call limit is reached", reset_at=self.quota_reset_at, crm=self.crm, endpoint=endpoint
                )
            self.calls[endpoint] += 1

    def read_contacts(self, cursor: str | None) -> Iterator[ContactPage]:
        after = _parse_cursor(cursor)
        ordered = sorted(self.contacts.values(), key=lambda c: (c.updated_at, c.id))
        if after is not None:
            ordered = [c for c in ordered if (c.updated_at, c.id) > after]
        self._call("read_contacts")
        if not ordered:
            return
        for start in range(0, len(ordered), self.page_size):
            if start:
                self._call("read_contacts")
            page = ordered[start : start + self.page_size]
            last = page[-1]
            yield ContactPage(
                tuple(page), _key_cursor(last.updated_at, last.id), done=start + self.page_size >= len(ordered)
            )

    def cursor_at(self, since: datetime) -> str:
        return _key_cursor(since, "")

    def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        found: list[Contact] = []
        for chunk in chunks(ids, self.page_size):
            self._call("get_contacts")
            found.extend(self.contacts[i] for i in chunk if i in self.contacts)
        return found

    def read_activities(self, contact_ids: Sequence[str]) -> Mapping[str, list[Activity]]:
        out: dict[str, list[Activity]] = {}
        for chunk in chunks(contact_ids, self.page_size):
            self._call("read_activities")
            for cid in chunk:
                out[cid] = list(self.activities.get(cid, []))
        return out

    def read_activity_changes(self, cursor: str | None) -> Iterator[ActivityPage]:
        after = _parse_cursor(cursor)
        every = [a for acts in self.activities.values() for a in acts]
        keyed = sorted(((self.activity_changed_at[a.id], a.id), a) for a in every)
        if after is not None:
            keyed = [(k, a) for k, a in keyed if k > after]
        self._call("read_activity_changes")
        for start in range(0, len(keyed), self.page_size):
            if start:
                self._call("read_activity_changes")
            page = keyed[start : start + self.page_size]
            (at, ident), _ = page[-1]
            yield ActivityPage(
                tuple(a for _, a in page), _key_cursor(at, ident), done=start + self.page_size >= len(keyed)
            )

    def read_outcomes(self) -> Iterator[Outcome]:
        self._call("read_outcomes")
        yield from self.outcomes

    def read_owners(self) -> list[Owner]:
        self._call("read_owners")
        return list(self.owners)

    def contact_field_names(self) -> list[FieldSchema]:
        """Every canonical field, every field a stored contact has, and the write-back fields created."""
        names = {*CANONICAL_FIELDS, *self.field_names, *(n for c in self.contacts.values() for n in c.fields)}
        return [FieldSchema("contact", tuple(SchemaField(n) for n in sorted(names)))]

    def check_fields(self, specs: Sequence[FieldSpec], *, create: bool = False) -> FieldCheck:
        self._call("check_fields")
        present = tuple(s.name for s in specs if s.name in self.field_names)
        missing = tuple(s.name for s in specs if s.name not in self.field_names)
        if create:
            self.field_names.update(missing)
            return FieldCheck(present=present, created=missing)
        return FieldCheck(present=present, missing=missing)

    def write(self, updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for chunk in chunks(updates, self.write_batch):
            self._call("write")
            if self.events_path is not None:  # written before the delay: the write is in flight from here
                with self.events_path.open("a", encoding="utf-8") as fh:
                    fh.write(f"write {' '.join(u.contact_id for u in chunk)}\n")
            if self.on_write is not None:
                self.on_write(chunk)
            if self.write_delay:
                time.sleep(self.write_delay)
            self.writes.extend(chunk)
            for update in chunk:
                results.append(self._apply(update))
        return results

    def _apply(self, update: FieldUpdate) -> WriteResult:
        cid = update.contact_id
        if cid not in self.contacts:
            return WriteResult(cid, WriteStatus.FAILED, "no such record", "NOT_FOUND", requested_id=cid)
        if cid in self.fail_writes:
            return WriteResult(cid, WriteStatus.FAILED, self.fail_writes[cid], "INVALID", requested_id=cid)
        self.touch(cid, **dict(update.values))
        return WriteResult(cid, WriteStatus.OK, requested_id=cid)

    def usage(self) -> ApiUsage:
        with self._lock:
            calls = dict(self.calls)
        return ApiUsage(calls_by_endpoint=calls, quota_used=sum(calls.values()), quota_limit=self.quota_limit)

    def close(self) -> None:
        self.closed = True
        if self.persist_path is not None:
            self.save(self.persist_path)

    # -- persistence, for a leadsync in another process --------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "crm": self.crm,
            "page_size": self.page_size,
            "write_batch": self.write_batch,
            "write_delay": self.write_delay,
            "events": str(self.events_path) if self.events_path else None,
            "contacts": [
                {"id": c.id, "updated_at": c.updated_at.isoformat(), "fields": dict(c.fields)}
                for c in self.contacts.values()
            ],
            "activities": [
                {
                    "id": a.id,
                    "contact_id": a.contact_id,
                    "type": a.type,
                    "occurred_at": a.occurred_at.isoformat(),
                    "changed_at": self.activity_changed_at[a.id].isoformat(),
                }
                for acts in self.activities.values()
                for a in acts
            ],
        }

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, *, clock: Callable[[], datetime] | None = None) -> FakeCRM:
        doc = json.loads(path.read_text(encoding="utf-8"))
        crm = cls(doc["crm"], clock=clock, page_size=doc["page_size"], write_batch=doc["write_batch"])
        crm.write_delay = float(doc.get("write_delay") or 0.0)
        crm.events_path = Path(doc["events"]) if doc.get("events") else None
        for c in doc["contacts"]:
            crm.add_contact(c["id"], updated_at=datetime.fromisoformat(c["updated_at"]), **c["fields"])
        for a in doc["activities"]:
            activity = Activity(
                id=a["id"],
                contact_id=a["contact_id"],
                type=a["type"],
                occurred_at=datetime.fromisoformat(a["occurred_at"]),
                source_type=a["type"],
            )
            crm.activities.setdefault(activity.contact_id, []).append(activity)
            crm.activity_changed_at[activity.id] = datetime.fromisoformat(a["changed_at"])
        crm._seq = len(doc["activities"])
        return crm


def adapter_from_env(settings: Any, read_fields: list[str]) -> FakeCRM:
    """Adapter factory for a leadsync subprocess: the FakeCRM saved at ``$LEADSYNC_TEST_FAKE_CRM``."""
    path = Path(os.environ[FAKE_CRM_ENV])
    crm = FakeCRM.load(path)
    crm.persist_path = path
    return crm


# -- a small model and an App around a FakeCRM ---------------------------------------------------------------
# Time moves these scores: a demo request makes a VP a P1 for 24 hours (10-minute SLA) and counts for 7 days.
# Page views never expire, so contacts with only page views never need a rescore.
TEST_MODEL = """\
name: ops test model
fit:
  rules:
    - id: vp
      label: VP title
      when: {field: title, contains_word: [vp]}
      points: 30
engagement:
  rules:
    - id: demo
      label: demo request
      activity: demo_request
      points: 40
      within_days: 7
      decay: none
    - id: visit
      label: website visit
      activity: page_view
      points: 5
      decay: none
stages: {mql: 40, sql: 75}
tiers:
  - tier: P1
    activity: demo_request
    within: 24h
    respond_within: 10m
"""


def make_settings(tmp_path: Path, *, model: str = TEST_MODEL, **overrides: Any) -> Any:
    """Settings for a test installation in ``tmp_path``: the test model, a SQLite state, a fake token."""
    from sync.settings import Settings

    model_file = tmp_path / "model.yaml"
    model_file.write_text(model, encoding="utf-8")
    values: dict[str, Any] = {
        "crm": "hubspot",
        "model_file": model_file,
        "state_url": f"sqlite:///{tmp_path / 'state.db'}",
        "plan_dir": tmp_path / "plans",
        "hubspot": {"access_token": "pat-test-token"},
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_app(settings: Any, crm: FakeCRM, clock: Callable[[], datetime]) -> Any:
    """An ``App`` wired to ``crm``; each call builds a new one (its own state-store connection)."""
    from sync.app import App

    return App(settings, clock=clock, adapter_factory=lambda _settings, _fields: crm)


# -- a Slack-compatible webhook on 127.0.0.1 ------------------------------------------------------------------
class WebhookReceiver:
    """Collects the JSON bodies posted to it; answers with ``statuses`` in turn (then 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.statuses: list[int] = []
        self._guard = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver._guard:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.paths.append(self.path)
                    if status < 300:
                        receiver.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The URL to post to; its path stands in for the secret part of a real webhook URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T0SECRET/B0SECRET/xoxSECRET"

    @property
    def texts(self) -> list[str]:
        with self._guard:
            return [b["text"] for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
