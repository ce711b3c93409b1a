"""The SQLite state store: one private file in WAL mode, shared safely by several processes."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sync.state import _process
from sync.state._api import LockHolder, RunLock, StateError
from sync.state._schema import MIGRATIONS, SQLITE_TYPES, Migration
from sync.state._sql import SqlStateStore, new_token

_BUSY_ERRORS = ("database is locked", "database is busy")


def _ts(value: datetime) -> str:
    # fixed width (always microseconds, always +00:00) so that comparing the text compares the times
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _restrict(path: Path) -> None:
    """Make the database and its -wal / -shm files readable by their owner only."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            status = file.stat()
        except FileNotFoundError:
            continue
        if status.st_mode & 0o077 and status.st_uid == os.getuid():
            file.chmod(0o600)


class SQLiteStateStore(SqlStateStore):
    """State in one SQLite file (created 0600), WAL mode, writers serialized by ``BEGIN IMMEDIATE``.

    ``busy_timeout``: seconds a writer waits for another process's transaction before failing.
    ``lock_ttl``: a run lock whose heartbeat is older than this is taken over (holders beat every ttl/4).
    Use one store per thread.
    """

    types = SQLITE_TYPES
    begin_sql = "BEGIN IMMEDIATE"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        lock_ttl: float = 120.0,
        migrations: tuple[Migration, ...] = MIGRATIONS,
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        super().__init__(str(self.path))
        if sqlite3.sqlite_version_info < (3, 35):
            raise StateError(
                f"the state store needs SQLite 3.35 or newer, this Python has {sqlite3.sqlite_version}; "
                "use a newer Python or a PostgreSQL state database"
            )
        self._busy_timeout = busy_timeout
        self._lock_ttl = lock_ttl
        self._conn = self._open_private()
        try:
            self._migrate(migrations)
        except BaseException:
            self._conn.close()
            raise

    def _open_private(self) -> sqlite3.Connection:
        # umask covers the -wal/-shm files SQLite creates on first use; it also copies the main file's mode
        previous = os.umask(0o077)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            _restrict(self.path)
            conn = self._connect()
            journal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(journal).lower() != "wal":
                conn.close()
                raise StateError(
                    f"the state database {self.path} cannot use WAL mode (got {journal!r}); put it on a "
                    "local file system"
                )
            _restrict(self.path)
            return conn
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the state database {self.path}: {exc}") from exc
        finally:
            os.umask(previous)

    def _connect(self, *, any_thread: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=not any_thread
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode: a crash loses no commit
        return conn

    def _close_connection(self) -> None:
        self._conn.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def _ts(self, value: datetime) -> Any:
        return _ts(value)

    def _read_ts(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).astimezone(UTC)

    def _json(self, value: Any) -> Any:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def _read_json(self, value: Any) -> Any:
        return json.loads(value)

    # -- run lock: a row claimed inside BEGIN IMMEDIATE ----------------------------------------------------
    def _stale(self, token: str, pid: int, host: str, heartbeat_at: str, now: datetime) -> bool:
        if _process.gone(pid, host, f"lock:{token}"):
            return True
        return now - self._read_ts(heartbeat_at) > timedelta(seconds=self._lock_ttl)

    def _try_lock(self, crm: str, attempt: dict[str, Any]) -> RunLock | None:
        conn: sqlite3.Connection | None = attempt.get("conn")
        if conn is None:
            conn = attempt["conn"] = self._connect(any_thread=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if any(message in str(exc) for message in _BUSY_ERRORS):
                return None
            raise
        now = datetime.now(UTC)
        token = new_token()
        try:
            row = conn.execute("SELECT token, pid, host, heartbeat_at FROM run_locks WHERE crm = ?", (crm,)).fetchone()
            if row is not None and not self._stale(row[0], row[1], row[2], row[3], now):
                conn.execute("COMMIT")
                return None
            conn.execute(
                "INSERT INTO run_locks (crm, token, pid, host, acquired_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (crm) DO UPDATE SET token = excluded.token, "
                "pid = excluded.pid, host = excluded.host, acquired_at = excluded.acquired_at, "
                "heartbeat_at = excluded.heartbeat_at",
                (crm, token, os.getpid(), _process.this_host(), _ts(now), _ts(now)),
            )
            _process.claim(f"lock:{token}")
            conn.execute("COMMIT")
        except BaseException:
            _process.unclaim(f"lock:{token}")
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        holder = LockHolder(crm=crm, pid=os.getpid(), host=_process.this_host(), acquired_at=now, heartbeat_at=now)
        return _SQLiteRunLock(holder, conn, token, self._lock_ttl)

    def _end_lock_attempt(self, attempt: dict[str, Any]) -> None:
        conn = attempt.pop("conn", None)
        if conn is not None:
            conn.close()

    def lock_holder(self, crm: str) -> LockHolder | None:
        """Who holds ``crm``'s run lock now; None when nobody does (or the last holder is gone)."""
        row = self._execute(
            "SELECT token, pid, host, heartbeat_at, acquired_at FROM run_locks WHERE crm = ?", (crm,)
        ).fetchone()
        if row is None or self._stale(row[0], row[1], row[2], row[3], datetime.now(UTC)):
            return None
        return self._holder((crm, row[1], row[2], row[4], row[3]))


class _SQLiteRunLock(RunLock):
    """Holds the lock row and keeps its heartbeat fresh from a daemon thread on its own connection."""

    def __init__(self, holder: LockHolder, conn: sqlite3.Connection, token: str, ttl: float) -> None:
        super().__init__(holder)
        self._conn = conn
        self._token = token
        self._stop = threading.Event()
        self._was_lost = False
        self._thread = threading.Thread(
            target=self._beat, args=(max(ttl / 4, 0.05),), name=f"leadsync-lock-{holder.crm}", daemon=True
        )
        self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                cursor = self._conn.execute(
                    "UPDATE run_locks SET heartbeat_at = ? WHERE crm = ? AND token = ?",
                    (_ts(datetime.now(UTC)), self.crm, self._token),
                )
            except sqlite3.Error:
                continue  # busy for longer than the timeout: the next beat tries again
            if cursor.rowcount == 0:
                self._was_lost = True  # another process decided we were stale and took over
                return

    def _lost(self) -> bool:
        return self._was_lost

    def _release(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("DELETE FROM run_locks WHERE crm = ? AND token = ?", (self.crm, self._token))
        finally:
            self._conn.close()
            _process.unclaim(f"lock:{self._token}")
