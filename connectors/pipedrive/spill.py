"""``ActivitySpill`` and ``OrgNames``: what a Pipedrive backfill reads in bulk, parked on disk when large.

Why: the fewest calls for the activities of many persons is one stream of all of them (ceil(M/500) calls),
but the stream arrives ordered by activity, not by person, and each person's activities are wanted only when
that person's page of contacts comes.  Held in memory, the stream grows with the account (about 3.6 KB per
person with 10 activities: 3.7 GB at 1,000,000 persons).  Spilled to a throwaway SQLite file, written page by
page and indexed by person id, the process stays flat at any account size for the same number of calls.

The file lives in a private temporary directory (mode 0700) and holds activities only (compacted: id, type,
subject, time, done, owner, deal), never a credential.  It is deleted by ``close()``, or when the spill is
garbage-collected.  Each person is served once: ``take`` answers only persons it has not answered before.

``OrgNames`` does the same for organization names (a backfill lists every organization once, the fewest
calls): a dict while it holds few, a temporary SQLite table once it holds more than ``in_memory``.
"""

from __future__ import annotations

import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from connectors.paging import chunks

# bound parameters per query: below SQLite's limit of 999 before 3.32 (32,766 since)
MAX_VARIABLES = 900

PRAGMAS = (
    "PRAGMA journal_mode = OFF",  # a throwaway cache: nothing to roll back to, nothing to recover
    "PRAGMA synchronous = OFF",
    "PRAGMA temp_store = FILE",  # the index build sorts on disk, not in memory
    "PRAGMA cache_size = -8192",  # 8 MB of pages, whatever the file's size
)

# owner_id and deal_id have no declared type, so SQLite stores them as given (no affinity conversion)
SCHEMA = """
CREATE TABLE activities (
    seq INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL,
    activity_id INTEGER NOT NULL,
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    occurred_at REAL NOT NULL,
    done INTEGER NOT NULL,
    owner_id,
    deal_id
);
CREATE TABLE served (person_id INTEGER PRIMARY KEY);
"""


class CompactActivity(NamedTuple):  # what the adapter keeps of an activity: a full stream can be large
    id: int
    type: str
    subject: str
    occurred_at: float  # epoch seconds
    done: bool
    owner_id: int | None
    deal_id: int | None


def _release(conn: sqlite3.Connection, directory: tempfile.TemporaryDirectory[str]) -> None:
    conn.close()  # before the file goes: some systems refuse to delete an open file
    directory.cleanup()


class ActivitySpill:
    """Activities by person in a temporary SQLite file: ``add`` pages while streaming, ``seal`` once, then
    ``take`` batches of persons.  Not thread-safe; one adapter uses it at a time."""

    def __init__(self, directory: str | None = None) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="leadsync-pipedrive-", dir=directory)
        self.path = Path(self._directory.name) / "activities.sqlite"
        # the adapter may be built in one thread and closed in another (the daemon's job thread)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._finalizer = weakref.finalize(self, _release, self._conn, self._directory)
        for pragma in PRAGMAS:
            self._conn.execute(pragma)
        self._conn.executescript(SCHEMA)
        self._sealed = False

    def add(self, items: Iterable[tuple[int, CompactActivity]]) -> None:
        """Append (person id, activity) pairs, in stream order: one page of the stream per call."""
        if self._sealed:
            raise RuntimeError("the activity spill is sealed: the stream was read to its end")
        self._conn.executemany(
            "INSERT INTO activities (person_id, activity_id, type, subject, occurred_at, done, owner_id, deal_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((person_id, *item) for person_id, item in items),
        )
        self._conn.commit()

    def seal(self) -> None:
        """The stream is complete: index it by person (once, after the writes, which is faster than during)."""
        if not self._sealed:
            self._conn.execute("CREATE INDEX activities_by_person ON activities (person_id)")
            self._conn.commit()
            self._sealed = True

    def take(self, person_ids: Sequence[int]) -> dict[int, list[CompactActivity]]:
        """The activities of each person not taken before (in stream order; [] for a person without any);
        a person taken before is left out, so its caller asks the CRM for it instead."""
        self.seal()
        wanted = list(dict.fromkeys(person_ids))
        taken: set[int] = set()
        for chunk in chunks(wanted, MAX_VARIABLES):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT person_id FROM served WHERE person_id IN ({marks})", chunk)
            taken.update(person_id for (person_id,) in rows)
        fresh = [person_id for person_id in wanted if person_id not in taken]
        out: dict[int, list[CompactActivity]] = {person_id: [] for person_id in fresh}
        for chunk in chunks(fresh, MAX_VARIABLES):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT person_id, activity_id, type, subject, occurred_at, done, owner_id, deal_id"
                f" FROM activities WHERE person_id IN ({marks}) ORDER BY person_id, seq",
                chunk,
            )
            for person_id, activity_id, type_, subject, occurred_at, done, owner_id, deal_id in rows:
                out[person_id].append(
                    CompactActivity(activity_id, type_, subject, occurred_at, bool(done), owner_id, deal_id)
                )
        self._conn.executemany("INSERT INTO served (person_id) VALUES (?)", ((person_id,) for person_id in fresh))
        self._conn.commit()
        return out

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Close the connection and delete the file with its directory (idempotent)."""
        self._finalizer()


class OrgNames:
    """Organization names by id: a dict up to ``in_memory`` names, then a temporary SQLite table (flat memory
    however many organizations the account has).  Not thread-safe; one adapter uses it at a time."""

    def __init__(self, in_memory: int = 20_000, directory: str | None = None) -> None:
        self._names: dict[int, str] = {}
        self._in_memory = in_memory
        self._dir = directory
        self._conn: sqlite3.Connection | None = None
        self._finalizer: weakref.finalize[Any, OrgNames] | None = None

    def _spill(self) -> sqlite3.Connection:
        folder = tempfile.TemporaryDirectory(prefix="leadsync-pipedrive-", dir=self._dir)
        conn = sqlite3.connect(Path(folder.name) / "organizations.sqlite", check_same_thread=False)
        self._finalizer = weakref.finalize(self, _release, conn, folder)
        for pragma in PRAGMAS:
            conn.execute(pragma)
        conn.execute("CREATE TABLE organizations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.executemany("INSERT OR REPLACE INTO organizations VALUES (?, ?)", self._names.items())
        conn.commit()
        self._names = {}
        self._conn = conn
        return conn

    @property
    def spilled(self) -> bool:
        return self._conn is not None

    def update(self, names: Iterable[tuple[int, str]]) -> None:
        """Remember (id, name) pairs: one page of organizations per call."""
        if self._conn is None:
            self._names.update(names)
            if len(self._names) > self._in_memory:
                self._spill()
            return
        self._conn.executemany("INSERT OR REPLACE INTO organizations VALUES (?, ?)", names)
        self._conn.commit()

    @property
    def size(self) -> int:
        if self._conn is None:
            return len(self._names)
        return int(self._conn.execute("SELECT COUNT(*) FROM organizations").fetchone()[0])

    def items(self) -> list[tuple[int, str]]:
        """Every (id, name) known."""
        if self._conn is None:
            return list(self._names.items())
        return [(int(i), str(n)) for i, n in self._conn.execute("SELECT id, name FROM organizations")]

    def known(self, ids: Sequence[int]) -> dict[int, str]:
        """The names of those of ``ids`` that are known."""
        if self._conn is None:
            return {org_id: self._names[org_id] for org_id in ids if org_id in self._names}
        out: dict[int, str] = {}
        for chunk in chunks(dict.fromkeys(ids), MAX_VARIABLES):
            marks = ",".join("?" * len(chunk))
            out.update(self._conn.execute(f"SELECT id, name FROM organizations WHERE id IN ({marks})", chunk))
        return out

    def close(self) -> None:
        """Forget every name; delete the file if there is one (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
        self._conn = None
        self._names = {}
