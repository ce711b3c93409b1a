"""The PostgreSQL state store (psycopg 3): the same schema, run locks as session advisory locks."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from sync.state import _process
from sync.state._api import LockHolder, RunLock, StateError
from sync.state._schema import MIGRATIONS, POSTGRES_TYPES, Migration
from sync.state._sql import SqlStateStore, new_token


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _describe(url: str) -> str:
    """Where a PostgreSQL URL points, without its password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "(unparseable PostgreSQL URL)"
    return f"postgresql://{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _advisory_key(schema: str, name: str) -> int:
    """A stable signed 64-bit advisory lock key, namespaced so other applications' keys do not collide."""
    digest = hashlib.blake2b(f"leadsync:{schema}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresStateStore(SqlStateStore):
    """State in a PostgreSQL database, in the first schema of the URL's search_path (usually ``public``).

    The run lock is ``pg_try_advisory_lock`` on a connection of its own, so the server frees it the moment
    the holder's connection dies.  Use one store per thread.
    """

    types = POSTGRES_TYPES
    begin_sql = "BEGIN"

    def __init__(self, url: str, *, connect_timeout: int = 10, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._conn = self._connect("leadsync")
        try:
            schema = self._conn.execute("SELECT current_schema()").fetchone()
            if schema is None or schema[0] is None:
                raise StateError(
                    f"the search_path of {_describe(url)} names no existing schema; create one or fix the URL's options"
                )
            self._schema = str(schema[0])
            super().__init__(f"{_describe(url)} (schema {self._schema})")
            self._migrate(migrations)
        except BaseException:
            self._conn.close()
            raise

    def _connect(self, application_name: str) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                application_name=application_name,
                connect_timeout=self._connect_timeout,
            )
        except psycopg.Error as exc:
            raise StateError(f"cannot connect to the PostgreSQL state database {_describe(self._url)}: {exc}") from exc
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def _close_connection(self) -> None:
        self._conn.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(_pg(sql), params or None)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_pg(sql), rows)

    def _ts(self, value: datetime) -> Any:
        return value

    def _read_ts(self, value: Any) -> datetime:
        return value.astimezone(UTC)

    def _json(self, value: Any) -> Any:
        return Jsonb(value)

    def _read_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def _lock_migrations(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(?)", (_advisory_key(self._schema, "migrations"),))

    # -- run lock: a session advisory lock on a dedicated connection -------------------------------------
    def _try_lock(self, crm: str, attempt: dict[str, Any]) -> RunLock | None:
        conn: psycopg.Connection[Any] | None = attempt.get("conn")
        if conn is None:
            conn = attempt["conn"] = self._connect(f"leadsync-lock-{crm}"[:63])
            # notice a vanished client within about a minute instead of the OS default of hours
            conn.execute("SET tcp_keepalives_idle = 30")
            conn.execute("SET tcp_keepalives_interval = 10")
            conn.execute("SET tcp_keepalives_count = 3")
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_advisory_key(self._schema, crm),)).fetchone()
        if row is None or not row[0]:
            return None
        now = datetime.now(UTC)
        holder = LockHolder(crm=crm, pid=os.getpid(), host=_process.this_host(), acquired_at=now, heartbeat_at=now)
        conn.execute(
            "INSERT INTO run_locks (crm, token, pid, host, acquired_at, heartbeat_at) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (crm) DO UPDATE SET token = excluded.token, pid = excluded.pid, host = excluded.host, "
            "acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at",
            (crm, new_token(), holder.pid, holder.host, now, now),
        )
        return _PostgresRunLock(holder, conn)

    def _end_lock_attempt(self, attempt: dict[str, Any]) -> None:
        conn = attempt.pop("conn", None)
        if conn is not None:
            conn.close()

    def lock_holder(self, crm: str) -> LockHolder | None:
        """Who holds ``crm``'s run lock now; None when nobody does."""
        key = _advisory_key(self._schema, crm)
        held = self._execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 1)",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchone()[0]
        if not held:
            return None
        row = self._execute(
            "SELECT crm, pid, host, acquired_at, heartbeat_at FROM run_locks WHERE crm = ?", (crm,)
        ).fetchone()
        if row is None:  # the holder got the lock a moment ago and has not written its row yet
            now = datetime.now(UTC)
            return LockHolder(crm=crm, pid=0, host="unknown", acquired_at=now, heartbeat_at=now)
        return self._holder(row)


class _PostgresRunLock(RunLock):
    def __init__(self, holder: LockHolder, conn: psycopg.Connection[Any]) -> None:
        super().__init__(holder)
        self._conn = conn

    def _lost(self) -> bool:
        if self._conn.closed or self._conn.broken:
            return True
        try:  # one round trip: the server may have dropped the session (and so the lock) since last time
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            return True
        return False

    def _release(self) -> None:
        # closing the session frees the advisory lock; the run_locks row is only a description of it
        with contextlib.suppress(psycopg.Error):
            self._conn.execute("SELECT pg_advisory_unlock_all()")
        self._conn.close()
