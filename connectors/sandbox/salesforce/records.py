"""The org's records: one ``sf_record`` table holding each record's JSON, with the columns SOQL filters on
most (type, SystemModstamp, IsDeleted) beside it, and the per-object counters new ids are drawn from."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.paging import chunks
from connectors.sandbox.salesforce import soql
from connectors.sandbox.salesforce.ids import KEY_PREFIXES, make_id
from connectors.sandbox.salesforce.objects import ObjectSchema
from connectors.sandbox.store import Change, listening, note_change

# what the record-triggered Flows the README registers watch (form fills and webinars are CampaignMembers)
WEBHOOK_OBJECTS = ("Lead", "Contact", "Task", "Event", "CampaignMember")

_RECORD_SQL = """
CREATE TABLE IF NOT EXISTS sf_record (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    sysmod TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sf_record_type_sysmod ON sf_record(type, sysmod, id);
CREATE INDEX IF NOT EXISTS sf_record_who ON sf_record(type, json_extract(data, '$.WhoId'));
CREATE INDEX IF NOT EXISTS sf_record_lead ON sf_record(type, json_extract(data, '$.LeadId'));
CREATE INDEX IF NOT EXISTS sf_record_contact ON sf_record(type, json_extract(data, '$.ContactId'));
CREATE INDEX IF NOT EXISTS sf_record_opp ON sf_record(type, json_extract(data, '$.OpportunityId'));
"""


def sf_datetime(value: datetime) -> str:
    """Salesforce's datetime text: UTC, milliseconds always .000 (the sandbox truncates to seconds)."""
    return value.astimezone(UTC).strftime(soql.SF_DATETIME_FORMAT)


def full_name(data: dict[str, Any]) -> str:
    return " ".join(str(p) for p in (data.get("FirstName"), data.get("LastName")) if p)


def _note_changes(conn: Any, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Note each record of a watched object written, before the write (so a new id is still unknown: ``create``)."""
    if not listening(conn):
        return
    for sobject, data in rows:
        if sobject not in WEBHOOK_OBJECTS:
            continue
        known = conn.execute("SELECT 1 FROM sf_record WHERE id = ?", (data["Id"],)).fetchone()
        action = "delete" if data.get("IsDeleted") else "change" if known else "create"
        modified = str(data.get("LastModifiedDate") or "")
        at = datetime.fromisoformat(modified) if modified else datetime.now(UTC)
        note_change(conn, Change("salesforce", action, sobject, str(data["Id"]), at, dict(data)))


def attributes(sobject: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}


class Records:
    """Reads and writes of ``sf_record``; ``now`` is the sandbox clock in Salesforce's datetime text."""

    def __init__(self, store: Any, clock: Any, schemas: dict[str, ObjectSchema]):
        self.store = store
        self.clock = clock
        self.schemas = schemas
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        # called inside each write's transaction with the rows about to be stored (field history watches it)
        self.observers: list[Callable[[Any, list[tuple[str, dict[str, Any]]]], None]] = [_note_changes]
        with self.store.read() as conn:
            conn.executescript(_RECORD_SQL)

    def now(self) -> str:
        return sf_datetime(self.clock.now())

    def new_id(self, sobject: str) -> str:
        with self._lock:
            n = self._counters.get(sobject, 0) + 1
            self._counters[sobject] = n
        return make_id(KEY_PREFIXES[sobject], n)

    def prepare(self, sobject: str, values: dict[str, Any], when: str | None = None) -> dict[str, Any]:
        when = when or self.now()
        data: dict[str, Any] = {"Id": self.new_id(sobject), "IsDeleted": False}
        data.update({"CreatedDate": when, "LastModifiedDate": when, "SystemModstamp": when})
        data.update(values)
        if sobject in ("Lead", "Contact", "User"):
            data["Name"] = full_name(data)
        return data

    def insert(self, sobject: str, values: dict[str, Any], when: str | None = None) -> str:
        data = self.prepare(sobject, values, when)
        self.write([(sobject, data)])
        return str(data["Id"])

    def write(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        rows = list(rows)
        params = [(d["Id"], t, d["SystemModstamp"], int(bool(d.get("IsDeleted"))), json.dumps(d)) for t, d in rows]
        with self.store.tx() as conn:
            for observe in self.observers:
                observe(conn, rows)
            conn.executemany(
                "INSERT OR REPLACE INTO sf_record (id, type, sysmod, deleted, data) VALUES (?, ?, ?, ?, ?)",
                params,
            )

    def get(self, record_id: str) -> tuple[str, dict[str, Any], bool] | None:
        with self.store.read() as conn:
            row = conn.execute("SELECT type, data, deleted FROM sf_record WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            return None
        return row["type"], json.loads(row["data"]), bool(row["deleted"])

    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        with self.store.read() as conn:
            for chunk in chunks(ids, 900):
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT id, type, data FROM sf_record WHERE id IN ({marks})", chunk):
                    out[row["id"]] = (row["type"], json.loads(row["data"]))
        return out

    def full_record(self, sobject: str, data: dict[str, Any], version: str = "59.0") -> dict[str, Any]:
        """The record as ``GET /sobjects/{type}/{id}`` returns it: every field of its object, in schema order."""
        out: dict[str, Any] = {"attributes": attributes(sobject, str(data["Id"]), version)}
        for f in self.schemas[sobject].fields.values():
            out[f.name] = data.get(f.name)
        return out
