"""One SQLite database holding every CRM's records; each CRM module owns its own tables.

It also carries the sandbox's change feed: a CRM module calls ``note_change(conn, Change(...))`` inside a
transaction, and the listeners (the webhook sender) get the changes once that transaction has committed, never
for a rolled-back one.  Noting costs nothing while nobody listens (``listening(conn)`` is False).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Change:
    """One record created, changed, deleted or merged, as the CRM module saw it (``data``: its new values)."""

    crm: str
    action: str  # create, change, delete, merge, form (HubSpot: a form submission)
    object_type: str  # the CRM's own name: contacts, person, activity, Lead, Task...
    object_id: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = "app"  # api: through the emulated API; app: a test hook (a user in the CRM's UI)


ChangeListener = Callable[[list[Change]], None]


class _Connection(sqlite3.Connection):
    """A connection that collects the changes noted in its current transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[Change] = []
        self.listening = False


_source = threading.local()  # "api" while the sandbox's HTTP server runs a handler on this thread


@contextmanager
def api_source() -> Iterator[None]:
    """Changes noted inside came through the emulated API (webhooks say ``api``, not ``app``)."""
    _source.value = "api"
    try:
        yield
    finally:
        _source.value = "app"


def listening(conn: Any) -> bool:
    return bool(getattr(conn, "listening", False))


def note_change(conn: Any, change: Change) -> None:
    """Queue ``change`` for the listeners, delivered after the current transaction commits."""
    if listening(conn):
        source = getattr(_source, "value", "app")
        conn.pending.append(change if change.source == source else replace(change, source=source))


def run_ddl(conn: Any, script: str) -> None:
    """Each statement of ``script`` in the open transaction (``executescript`` would commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


class Store:
    def __init__(self, path: str = ":memory:"):
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, factory=_Connection)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=MEMORY" if path == ":memory:" else "PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.lock = threading.RLock()
        self._listeners: list[ChangeListener] = []

    def listen(self, listener: ChangeListener) -> None:
        with self.lock:
            self._listeners.append(listener)
            self.conn.listening = True

    def unlisten(self, listener: ChangeListener) -> None:
        with self.lock:
            self._listeners = [x for x in self._listeners if x is not listener]
            self.conn.listening = bool(self._listeners)

    def _publish(self) -> None:
        pending: list[Change] = self.conn.pending
        if not pending:
            return
        self.conn.pending = []
        for listener in list(self._listeners):
            listener(pending)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """Serialized access; everything inside runs in one transaction."""
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                self.conn.pending = []
                raise
            self.conn.execute("COMMIT")
            self._publish()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self.conn
            self._publish()  # a write in autocommit mode (outside ``tx``) is committed already
