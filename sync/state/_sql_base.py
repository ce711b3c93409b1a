"""The SQL state store's foundation: connection hooks, transactions and migrations.

The store is written once in the SQL that SQLite and PostgreSQL share, in three layers: ``SqlBase`` (this
module), ``RunHistory`` (``_sql_runs``: runs, written values, the audit trail) and ``SqlStateStore``
(``_sql``: cursors, in-flight writes, scoring inputs, owners, quarantine, the run lock).  Subclasses connect,
convert timestamps and JSON to their database's types, and implement the run lock.  Queries use ``?``
placeholders; the PostgreSQL store turns them into ``%s``.
"""

from __future__ import annotations

import contextlib
import uuid
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from string import Template
from typing import Any, ClassVar

from connectors.paging import chunks
from sync.state._api import RunLock, SchemaTooNewError, StateStore, utc
from sync.state._schema import SCHEMA_VERSION_TABLE, Migration, check_migrations

# Bound on the ids in one IN (...) list: well under SQLite's variable limit, small enough for PG plans.
_CHUNK = 500


class SqlBase(StateStore):
    """The hooks a database implements, and the transactions and migrations built on them."""

    types: ClassVar[dict[str, str]]
    begin_sql: ClassVar[str]

    def __init__(self, identity: str) -> None:
        # identity names this database (and schema) so run keys owned by this process are unambiguous
        self._identity = identity
        self._depth = 0
        self._locks: list[RunLock] = []
        self._closed = False

    # -- hooks -------------------------------------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement on the store's connection and return its cursor."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _close_connection(self) -> None: ...

    @abstractmethod
    def _ts(self, value: datetime) -> Any:
        """A UTC-aware datetime as this database stores it."""

    @abstractmethod
    def _read_ts(self, value: Any) -> datetime: ...

    @abstractmethod
    def _json(self, value: Any) -> Any: ...

    @abstractmethod
    def _read_json(self, value: Any) -> Any: ...

    @abstractmethod
    def _try_lock(self, crm: str, attempt: dict[str, Any]) -> RunLock | None:
        """One attempt at the run lock; ``attempt`` keeps state (a connection) between polls."""

    @abstractmethod
    def _end_lock_attempt(self, attempt: dict[str, Any]) -> None:
        """Free whatever a failed ``_try_lock`` sequence left in ``attempt``."""

    def _after_migration(self, migration: Migration) -> None:
        """Move data a migration's SQL cannot, in the migration's transaction."""

    def _lock_migrations(self) -> None:
        """Serialize concurrent migrations where BEGIN alone does not (PostgreSQL)."""

    # -- lifecycle ---------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for lock in self._locks:
            lock.release()
        self._locks.clear()
        self._close_connection()

    def _migrate(self, migrations: tuple[Migration, ...]) -> None:
        check_migrations(migrations)
        latest = migrations[-1].version if migrations else 0
        with self.transaction():
            self._lock_migrations()
            self._execute(Template(SCHEMA_VERSION_TABLE).substitute(self.types))
            current = self.schema_version()
            if current > latest:
                raise SchemaTooNewError(
                    f"the state database {self._identity} has schema version {current}, but this leadsync "
                    f"only knows versions up to {latest}: upgrade leadsync, or point it at another state "
                    "database"
                )
            now = self._ts(datetime.now(UTC))  # when a migration ran is bookkeeping, not sync logic
            for migration in migrations[current:]:
                for statement in migration.render(self.types):
                    self._execute(statement)
                self._after_migration(migration)
                self._execute(
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.description, now),
                )

    def schema_version(self) -> int:
        row = self._execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: every store call inside it commits together or not at all.

        Nested ``transaction()`` blocks are savepoints: an exception rolls back the inner block only.
        """
        depth = self._depth
        savepoint = f"leadsync_{depth}"
        self._execute(self.begin_sql if depth == 0 else f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth = depth
            self._undo(depth, savepoint)
            raise
        self._depth = depth
        try:
            self._execute("COMMIT" if depth == 0 else f"RELEASE SAVEPOINT {savepoint}")
        except BaseException:
            self._undo(depth, savepoint)
            raise

    def _undo(self, depth: int, savepoint: str) -> None:
        # the original exception is the one worth reporting; a failing rollback must not replace it
        with contextlib.suppress(Exception):
            if depth == 0:
                self._execute("ROLLBACK")
            else:
                self._execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                self._execute(f"RELEASE SAVEPOINT {savepoint}")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """Join the caller's transaction, or make this call one of its own."""
        if self._depth:
            yield
        else:
            with self.transaction():
                yield

    def _now(self, value: datetime, name: str = "now") -> Any:
        return self._ts(utc(value, name))


def new_token() -> str:
    return uuid.uuid4().hex


def id_chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    if isinstance(ids, str):
        raise TypeError("pass a sequence of contact ids, not a single id string")
    return chunks(ids, _CHUNK)


def marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))
