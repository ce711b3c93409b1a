"""``BackfillActivities``: a backfill's Tasks, Events and CampaignMembers read by semi-joins, packed full.

Reading activities page by page (ids of 2,000 contacts, cut by the URL limit) leaves a part-filled batch per
query and page, and Composite calls part-filled.  A backfill reads every contact below its snapshot bound
(``SystemModstamp < until``), so one query per activity object covers them all by a semi-join on that same
condition (docs/crm-api.md 3.3)::

    SELECT ... FROM Task WHERE WhoId IN (SELECT Id FROM Lead WHERE SystemModstamp < until)
    SELECT ... FROM CampaignMember WHERE LeadId IN (SELECT Id FROM Lead WHERE SystemModstamp < until)

plus, for converted leads (conversion moves their activities to the Contact), the same on
``SELECT ConvertedContactId FROM Lead WHERE ... AND IsConverted = true``.  The batches are then as few as
the activities allow, and all of them (known from the first batch's locator) go 5 per Composite call, with
the first batch of the contact listing, and its later batches in the room left (``client.prefetched``).

Why it is exact: the activity queries run first, in one ordered Composite call (``collateSubrequests``
false) before the contact listing; ``SystemModstamp`` only grows, so every contact the listing then returns
below the bound was below it when the semi-joins ran, and conversion moves ``SystemModstamp`` too.  The
activities are parked in a temporary SQLite file (activities only), indexed by the id they link to, until
the adapter's next read from a cursor or its ``close``; each listed contact is served once, anything else
(a contact asked for again, or not listed by this backfill) is read by id as usual.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.paging import chunks
from connectors.salesforce.client import later_batches
from connectors.salesforce.mapping import ACTIVITY_OBJECTS

if TYPE_CHECKING:
    from connectors.salesforce.client import QueryBody, SalesforceClient

MAX_VARIABLES = 900  # bound parameters per SQLite statement
LINKS = {"Task": ("WhoId",), "Event": ("WhoId",), "CampaignMember": ("LeadId", "ContactId")}


def _release(conn: sqlite3.Connection, directory: tempfile.TemporaryDirectory[str]) -> None:
    conn.close()
    directory.cleanup()


class BackfillActivities:
    """The activities of every contact a backfill lists (see the module docstring)."""

    def __init__(self, client: SalesforceClient, objects: Sequence[str], until: str) -> None:
        self.client = client
        self.objects = list(objects)
        self.until = until  # Salesforce datetime text: the backfill's snapshot bound (exclusive)
        self._directory = tempfile.TemporaryDirectory(prefix="leadsync-salesforce-")
        self._conn = sqlite3.connect(Path(self._directory.name) / "activities.sqlite", check_same_thread=False)
        self._finalizer = weakref.finalize(self, _release, self._conn, self._directory)
        self._conn.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
            "CREATE TABLE activity (link TEXT NOT NULL, sobject TEXT NOT NULL, record TEXT NOT NULL);"
            "CREATE TABLE listed (id TEXT PRIMARY KEY);"
        )
        self.firsts: dict[str, QueryBody] = {}  # the contact listing's first batch, by its SOQL

    def stream_soqls(self, select: Callable[[str], str]) -> list[str]:
        """The semi-join queries: per contact object, Task, Event, CampaignMember; then, with Lead, the
        converted leads' Contacts.  ``select(sobject)``: the ``SELECT ... FROM sobject`` of an activity object."""
        bound = f"SystemModstamp < {self.until}"
        out: list[str] = []
        for sobject in self.objects:
            for activity in ACTIVITY_OBJECTS:
                field = "WhoId" if activity != "CampaignMember" else f"{sobject}Id"
                out.append(f"{select(activity)} WHERE {field} IN (SELECT Id FROM {sobject} WHERE {bound})")
        if "Lead" in self.objects:
            converted = f"(SELECT ConvertedContactId FROM Lead WHERE {bound} AND IsConverted = true)"
            for activity in ACTIVITY_OBJECTS:
                field = "WhoId" if activity != "CampaignMember" else "ContactId"
                out.append(f"{select(activity)} WHERE {field} IN {converted}")
        return out

    def read(self, stream: Sequence[str], listings: Sequence[str]) -> None:
        """Every activity batch of ``stream`` and the first batch of each contact listing in ``listings``,
        after them in the same ordered calls; later listing batches ride in the room left.  5 per call."""
        soqls = [*stream, *listings]
        fill: deque[str] = deque()
        kinds = [s.split(" FROM ", 1)[1].split(" ", 1)[0] for s in stream]
        listing = range(len(stream), len(soqls))
        # ordered: the semi-joins run before the listings they must cover
        for i, _, body in self.client.iter_batches(soqls, fill=fill, ordered=True, first_only=listing):
            if i in listing:
                self.firsts[soqls[i]] = body
                fill.extend(url for _, url in later_batches(body))
            else:
                self._add(kinds[i], body["records"])
        self._conn.execute("CREATE INDEX activity_by_link ON activity (link)")
        self._conn.commit()

    def _add(self, sobject: str, records: Iterable[dict[str, Any]]) -> None:
        rows = [
            (str(record[field]), sobject, json.dumps(record))
            for record in records
            for field in LINKS[sobject]
            if record.get(field)
        ]
        self._conn.executemany("INSERT INTO activity VALUES (?, ?, ?)", rows)

    def listed(self, ids: Iterable[str]) -> None:
        """Contacts the backfill listed: their activities (and their converted Contacts') are in the file."""
        self._conn.executemany("INSERT OR IGNORE INTO listed VALUES (?)", ((i,) for i in ids))
        self._conn.commit()

    def take(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` listed and not served before; they are served now (a second ask reads by id)."""
        found: list[str] = []
        for chunk in chunks(list(dict.fromkeys(ids)), MAX_VARIABLES):
            marks = ",".join("?" * len(chunk))
            found += [r[0] for r in self._conn.execute(f"SELECT id FROM listed WHERE id IN ({marks})", chunk)]
            self._conn.execute(f"DELETE FROM listed WHERE id IN ({marks})", chunk)
        self._conn.commit()
        return found

    def records(self, links: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """(activity object, record) of every activity linked to one of ``links``."""
        out: list[tuple[str, dict[str, Any]]] = []
        for chunk in chunks(list(dict.fromkeys(links)), MAX_VARIABLES):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT sobject, record FROM activity WHERE link IN ({marks})", chunk)
            out += [(str(sobject), json.loads(record)) for sobject, record in rows]
        return out

    def close(self) -> None:
        """Delete the file (idempotent)."""
        self._finalizer()
