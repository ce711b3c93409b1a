"""The state store written once in the SQL that SQLite and PostgreSQL share.

Subclasses connect, convert timestamps and JSON to their database's types, and implement the run lock.
Queries use ``?`` placeholders; the PostgreSQL store turns them into ``%s``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
import zlib
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from string import Template
from typing import Any, ClassVar

from connectors.records import Activity, Contact, FieldValue
from sync.state import _process
from sync.state._api import (
    Assignment,
    AuditAction,
    AuditRow,
    AuditStatus,
    FieldChange,
    LockHolder,
    QuarantineEntry,
    RoundRobinState,
    RunKind,
    RunLock,
    RunRecord,
    RunStatus,
    SchemaTooNewError,
    ScoringInputs,
    StateError,
    StateStore,
    utc,
)
from sync.state._schema import SCHEMA_VERSION_TABLE, Migration, check_migrations

# Bound on the ids in one IN (...) list: well under SQLite's variable limit, small enough for PG plans.
_CHUNK = 500

_RUN_COLUMNS = (
    "id, crm, kind, status, started_at, finished_at, duration_seconds, model_version, dry_run, counts, "
    "api_calls, quota_left, error, pid, host"
)
_AUDIT_COLUMNS = "id, run_id, crm, contact_id, field, old_value, new_value, at, action, status"
_INPUT_COLUMNS = "contact_id, payload, model_version, scored_at, next_change_at, total, stage, tier"
_QUARANTINE_COLUMNS = "crm, contact_id, reason, payload, attempts, first_seen, last_seen, run_id"
_LOCK_COLUMNS = "crm, pid, host, acquired_at, heartbeat_at"


class SqlStateStore(StateStore):
    """Every ``StateStore`` method; the transaction and lock plumbing is in the subclasses' hooks."""

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

    # -- runs --------------------------------------------------------------------------------------------
    def start_run(
        self, crm: str, kind: RunKind | str, *, model_version: str = "", dry_run: bool = False, now: datetime
    ) -> int:
        row = self._execute(
            "INSERT INTO runs (crm, kind, status, started_at, model_version, dry_run, counts, api_calls, pid, "
            "host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                crm,
                RunKind(kind).value,
                RunStatus.RUNNING.value,
                self._now(now),
                model_version,
                dry_run,
                self._json({}),
                self._json({}),
                os.getpid(),
                _process.this_host(),
            ),
        ).fetchone()
        run_id = int(row[0])
        _process.claim(self._run_key(run_id))
        return run_id

    def _run_key(self, run_id: int) -> str:
        return f"run:{self._identity}:{run_id}"

    def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus | str,
        counts: Mapping[str, int] | None = None,
        api_calls: Mapping[str, int] | None = None,
        quota_left: int | None = None,
        error: str | None = None,
        now: datetime,
    ) -> None:
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status (ok, partial, failed or interrupted)")
        with self._tx():
            row = self._execute("SELECT started_at FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise StateError(f"run {run_id} does not exist in the state database {self._identity}")
            finished = utc(now)
            self._execute(
                "UPDATE runs SET status = ?, finished_at = ?, duration_seconds = ?, counts = ?, api_calls = ?, "
                "quota_left = ?, error = ? WHERE id = ?",
                (
                    final.value,
                    self._ts(finished),
                    (finished - self._read_ts(row[0])).total_seconds(),
                    self._json(dict(counts or {})),
                    self._json(dict(api_calls or {})),
                    quota_left,
                    error,
                    run_id,
                ),
            )
        _process.unclaim(self._run_key(run_id))

    def get_run(self, run_id: int) -> RunRecord | None:
        row = self._execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else self._run(row)

    def list_runs(
        self,
        crm: str | None = None,
        *,
        kind: RunKind | str | None = None,
        status: RunStatus | str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """The latest runs first, optionally only one CRM's, one kind's or one status's."""
        where, params = ["1 = 1"], []
        if crm is not None:
            where.append("crm = ?")
            params.append(crm)
        if kind is not None:
            where.append("kind = ?")
            params.append(RunKind(kind).value)
        if status is not None:
            where.append("status = ?")
            params.append(RunStatus(status).value)
        rows = self._execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [self._run(row) for row in rows]

    def mark_interrupted_runs(self, crm: str, now: datetime, *, include_other_hosts: bool = False) -> int:
        """Mark ``crm``'s runs left 'running' by a process that is gone as 'interrupted'; return how many.

        A run started on this host is gone when its pid is dead (or is ours but was not started by this
        process).  Whether a process on another host is alive cannot be told: pass ``include_other_hosts``
        when the caller holds the CRM's run lock and every run of the CRM takes it.
        """
        finished = utc(now)
        marked = 0
        with self._tx():
            rows = self._execute(
                "SELECT id, pid, host, started_at FROM runs WHERE crm = ? AND status = ?",
                (crm, RunStatus.RUNNING.value),
            ).fetchall()
            for run_id, pid, host, started_at in rows:
                is_gone = _process.gone(pid, host, self._run_key(run_id))
                if not (is_gone or (is_gone is None and include_other_hosts)):
                    continue
                self._execute(
                    "UPDATE runs SET status = ?, finished_at = ?, duration_seconds = ?, error = ? "
                    "WHERE id = ? AND status = ?",
                    (
                        RunStatus.INTERRUPTED.value,
                        self._ts(finished),
                        max((finished - self._read_ts(started_at)).total_seconds(), 0.0),
                        f"the process (pid {pid} on host {host}) stopped before the run finished",
                        run_id,
                        RunStatus.RUNNING.value,
                    ),
                )
                marked += 1
        return marked

    def _run(self, row: Sequence[Any]) -> RunRecord:
        return RunRecord(
            id=int(row[0]),
            crm=row[1],
            kind=RunKind(row[2]),
            status=RunStatus(row[3]),
            started_at=self._read_ts(row[4]),
            finished_at=None if row[5] is None else self._read_ts(row[5]),
            duration_seconds=row[6],
            model_version=row[7],
            dry_run=bool(row[8]),
            counts=self._read_json(row[9]),
            api_calls=self._read_json(row[10]),
            quota_left=row[11],
            error=row[12],
            pid=row[13],
            host=row[14],
        )

    # -- cursors -----------------------------------------------------------------------------------------
    def get_cursor(self, crm: str, stream: str) -> str | None:
        row = self._execute("SELECT cursor FROM cursors WHERE crm = ? AND stream = ?", (crm, stream)).fetchone()
        return None if row is None else str(row[0])

    def set_cursor(self, crm: str, stream: str, cursor: str | None, now: datetime) -> None:
        """Store ``stream``'s cursor; None forgets it, so the next read starts from the beginning."""
        if cursor is None:
            self._execute("DELETE FROM cursors WHERE crm = ? AND stream = ?", (crm, stream))
            return
        self._execute(
            "INSERT INTO cursors (crm, stream, cursor, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (crm, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            (crm, stream, cursor, self._now(now)),
        )

    # -- written values and audit ------------------------------------------------------------------------
    def get_written(self, crm: str, contact_ids: Sequence[str]) -> dict[str, dict[str, FieldValue]]:
        """The values leadsync last wrote, by contact and field; contacts it never wrote are absent."""
        written: dict[str, dict[str, FieldValue]] = {}
        for chunk in _chunks(contact_ids):
            rows = self._execute(
                f"SELECT contact_id, field, value FROM written_values WHERE crm = ? AND contact_id IN "
                f"({_marks(chunk)})",
                (crm, *chunk),
            ).fetchall()
            for contact_id, field, value in rows:
                written.setdefault(contact_id, {})[field] = _decode_value(value)
        return written

    def record_writes(self, run_id: int, crm: str, changes: Sequence[FieldChange], now: datetime) -> None:
        """Add an audit row per change and remember the new value of every change whose status is ok."""
        at = self._now(now)
        rows = [
            (
                run_id,
                crm,
                change.contact_id,
                change.field,
                _encode_value(change.old_value),
                _encode_value(change.new_value),
                at,
                AuditAction(change.action).value,
                AuditStatus(change.status).value,
            )
            for change in changes
        ]
        written = [
            (crm, change.contact_id, change.field, _encode_value(change.new_value), run_id, at)
            for change in changes
            if change.status == AuditStatus.OK
        ]
        if not rows:
            return
        with self._tx():
            if written:
                self._executemany(
                    "INSERT INTO written_values (crm, contact_id, field, value, run_id, written_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (crm, contact_id, field) DO UPDATE SET "
                    "value = excluded.value, run_id = excluded.run_id, written_at = excluded.written_at",
                    written,
                )
            self._executemany(
                "INSERT INTO audit (run_id, crm, contact_id, field, old_value, new_value, at, action, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def audit_for_run(self, run_id: int, *, batch_size: int = 1000) -> Iterator[AuditRow]:
        """The run's audit rows in the order they were written, fetched ``batch_size`` at a time."""
        last_id = 0
        while True:
            rows = self._execute(
                f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
                (run_id, last_id, batch_size),
            ).fetchall()
            yield from (self._audit(row) for row in rows)
            if len(rows) < batch_size:
                return
            last_id = rows[-1][0]

    def audit_for_contact(self, crm: str, contact_id: str) -> list[AuditRow]:
        rows = self._execute(
            f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE crm = ? AND contact_id = ? ORDER BY id",
            (crm, contact_id),
        ).fetchall()
        return [self._audit(row) for row in rows]

    def _audit(self, row: Sequence[Any]) -> AuditRow:
        return AuditRow(
            id=int(row[0]),
            run_id=int(row[1]),
            crm=row[2],
            contact_id=row[3],
            field=row[4],
            old_value=_decode_value(row[5]),
            new_value=_decode_value(row[6]),
            at=self._read_ts(row[7]),
            action=AuditAction(row[8]),
            status=AuditStatus(row[9]),
        )

    # -- scoring inputs ----------------------------------------------------------------------------------
    def save_inputs(self, crm: str, items: Sequence[ScoringInputs]) -> None:
        rows = [
            (
                crm,
                item.contact.id,
                _pack_inputs(item.contact, item.activities),
                item.model_version,
                self._now(item.scored_at, "scored_at"),
                None if item.next_change_at is None else self._now(item.next_change_at, "next_change_at"),
                item.total,
                item.stage,
                item.tier,
            )
            for item in items
        ]
        if rows:
            self._executemany(
                f"INSERT INTO scoring_inputs (crm, {_INPUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (crm, contact_id) DO UPDATE SET payload = excluded.payload, "
                "model_version = excluded.model_version, scored_at = excluded.scored_at, "
                "next_change_at = excluded.next_change_at, total = excluded.total, stage = excluded.stage, "
                "tier = excluded.tier",
                rows,
            )

    def load_inputs(self, crm: str, contact_ids: Sequence[str]) -> dict[str, ScoringInputs]:
        loaded: dict[str, ScoringInputs] = {}
        for chunk in _chunks(contact_ids):
            rows = self._execute(
                f"SELECT {_INPUT_COLUMNS} FROM scoring_inputs WHERE crm = ? AND contact_id IN ({_marks(chunk)})",
                (crm, *chunk),
            ).fetchall()
            for row in rows:
                loaded[row[0]] = self._inputs(row)
        return loaded

    def iter_due(
        self, crm: str, now: datetime, *, batch_size: int = 500, limit: int | None = None
    ) -> Iterator[list[ScoringInputs]]:
        """Contacts whose score changes by ``now``, earliest change first, in lists of ``batch_size``.

        Each batch is its own query that resumes after the last row of the previous one, so nothing is held
        open between batches and the caller may save new inputs (a later ``next_change_at``) as it goes.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        due = self._now(now)
        left = limit
        after: tuple[Any, str] | None = None
        while left is None or left > 0:
            size = batch_size if left is None else min(batch_size, left)
            sql = (
                f"SELECT {_INPUT_COLUMNS} FROM scoring_inputs "
                "WHERE crm = ? AND next_change_at IS NOT NULL AND next_change_at <= ?"
            )
            params: list[Any] = [crm, due]
            if after is not None:
                sql += " AND (next_change_at > ? OR (next_change_at = ? AND contact_id > ?))"
                params += [after[0], after[0], after[1]]
            rows = self._execute(f"{sql} ORDER BY next_change_at, contact_id LIMIT ?", (*params, size)).fetchall()
            if not rows:
                return
            yield [self._inputs(row) for row in rows]
            if len(rows) < size:
                return
            after = (rows[-1][4], rows[-1][0])
            if left is not None:
                left -= len(rows)

    def count_due(self, crm: str, now: datetime) -> int:
        row = self._execute(
            "SELECT COUNT(*) FROM scoring_inputs WHERE crm = ? AND next_change_at IS NOT NULL AND next_change_at <= ?",
            (crm, self._now(now)),
        ).fetchone()
        return int(row[0])

    def _inputs(self, row: Sequence[Any]) -> ScoringInputs:
        contact, activities = _unpack_inputs(bytes(row[1]))
        return ScoringInputs(
            contact=contact,
            activities=activities,
            model_version=row[2],
            scored_at=self._read_ts(row[3]),
            next_change_at=None if row[4] is None else self._read_ts(row[4]),
            total=row[5],
            stage=row[6],
            tier=row[7],
        )

    # -- owners ------------------------------------------------------------------------------------------
    def get_assignments(self, crm: str, contact_ids: Sequence[str]) -> dict[str, Assignment]:
        found: dict[str, Assignment] = {}
        for chunk in _chunks(contact_ids):
            rows = self._execute(
                "SELECT contact_id, owner_id, strategy, assigned_at FROM assignments "
                f"WHERE crm = ? AND contact_id IN ({_marks(chunk)})",
                (crm, *chunk),
            ).fetchall()
            for contact_id, owner_id, strategy, assigned_at in rows:
                found[contact_id] = Assignment(contact_id, owner_id, strategy, self._read_ts(assigned_at))
        return found

    def set_assignments(self, crm: str, assignments: Sequence[Assignment]) -> None:
        rows = [
            (crm, a.contact_id, a.owner_id, a.strategy, self._now(a.assigned_at, "assigned_at")) for a in assignments
        ]
        if rows:
            self._executemany(
                "INSERT INTO assignments (crm, contact_id, owner_id, strategy, assigned_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (crm, contact_id) DO UPDATE SET owner_id = excluded.owner_id, "
                "strategy = excluded.strategy, assigned_at = excluded.assigned_at",
                rows,
            )

    def get_round_robin(self, crm: str, pool: str = "default") -> RoundRobinState:
        row = self._execute(
            "SELECT position, counters FROM round_robin WHERE crm = ? AND pool = ?", (crm, pool)
        ).fetchone()
        if row is None:
            return RoundRobinState()
        return RoundRobinState(position=int(row[0]), counters=self._read_json(row[1]))

    def set_round_robin(self, crm: str, state: RoundRobinState, *, pool: str = "default", now: datetime) -> None:
        self._execute(
            "INSERT INTO round_robin (crm, pool, position, counters, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (crm, pool) DO UPDATE SET position = excluded.position, counters = excluded.counters, "
            "updated_at = excluded.updated_at",
            (crm, pool, state.position, self._json(dict(state.counters)), self._now(now)),
        )

    # -- quarantine --------------------------------------------------------------------------------------
    def quarantine_add(
        self,
        crm: str,
        contact_id: str,
        *,
        reason: str,
        payload: Mapping[str, Any],
        run_id: int | None,
        now: datetime,
    ) -> int:
        """Quarantine a contact, or count one more failed attempt if it already is; return the attempts."""
        seen = self._now(now)
        row = self._execute(
            f"INSERT INTO quarantine ({_QUARANTINE_COLUMNS}) VALUES (?, ?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (crm, contact_id) DO UPDATE SET reason = excluded.reason, payload = excluded.payload, "
            "attempts = quarantine.attempts + 1, last_seen = excluded.last_seen, run_id = excluded.run_id "
            "RETURNING attempts",
            (crm, contact_id, reason, self._json(dict(payload)), seen, seen, run_id),
        ).fetchone()
        return int(row[0])

    def quarantine_list(self, crm: str, *, limit: int | None = None) -> list[QuarantineEntry]:
        sql = f"SELECT {_QUARANTINE_COLUMNS} FROM quarantine WHERE crm = ? ORDER BY first_seen, contact_id"
        params: tuple[Any, ...] = (crm,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [
            QuarantineEntry(
                crm=row[0],
                contact_id=row[1],
                reason=row[2],
                payload=self._read_json(row[3]),
                attempts=int(row[4]),
                first_seen=self._read_ts(row[5]),
                last_seen=self._read_ts(row[6]),
                run_id=row[7],
            )
            for row in self._execute(sql, params).fetchall()
        ]

    def quarantine_release(self, crm: str, contact_ids: Sequence[str]) -> int:
        """Take contacts out of quarantine (their update went through); return how many were in it."""
        released = 0
        with self._tx():
            for chunk in _chunks(contact_ids):
                cursor = self._execute(
                    f"DELETE FROM quarantine WHERE crm = ? AND contact_id IN ({_marks(chunk)})", (crm, *chunk)
                )
                released += cursor.rowcount
        return released

    def quarantine_count(self, crm: str) -> int:
        return int(self._execute("SELECT COUNT(*) FROM quarantine WHERE crm = ?", (crm,)).fetchone()[0])

    # -- contacts that left the CRM ----------------------------------------------------------------------
    def forget_contacts(self, crm: str, contact_ids: Sequence[str]) -> None:
        """Drop what is kept about deleted or merged-away contacts; their audit trail stays."""
        with self._tx():
            for chunk in _chunks(contact_ids):
                for table in ("written_values", "scoring_inputs", "assignments", "quarantine"):
                    self._execute(
                        f"DELETE FROM {table} WHERE crm = ? AND contact_id IN ({_marks(chunk)})", (crm, *chunk)
                    )

    # -- run lock ----------------------------------------------------------------------------------------
    def acquire_lock(self, crm: str, *, wait: bool = False, timeout: float | None = None) -> RunLock | None:
        """The CRM's run lock, or None when another process (or another lock in this one) holds it.

        With ``wait``, poll until it is free, for at most ``timeout`` seconds (forever when None).
        """
        if self._closed:
            raise StateError("the state store is closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.02
        attempt: dict[str, Any] = {}
        try:
            while True:
                lock = self._try_lock(crm, attempt)
                if lock is not None:
                    attempt.clear()  # the connection now belongs to the lock
                    self._locks = [held for held in self._locks if held.held]
                    self._locks.append(lock)
                    return lock
                if not wait:
                    return None
                pause = delay if deadline is None else min(delay, deadline - time.monotonic())
                if pause <= 0:
                    return None
                time.sleep(pause)
                delay = min(delay * 2, 0.25)
        finally:
            self._end_lock_attempt(attempt)

    def _holder(self, row: Sequence[Any]) -> LockHolder:
        return LockHolder(
            crm=row[0],
            pid=int(row[1]),
            host=row[2],
            acquired_at=self._read_ts(row[3]),
            heartbeat_at=self._read_ts(row[4]),
        )


def new_token() -> str:
    return uuid.uuid4().hex


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    if isinstance(ids, str):
        raise TypeError("pass a sequence of contact ids, not a single id string")
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))


def _encode_value(value: FieldValue) -> str | None:
    return None if value is None else json.dumps(value)


def _decode_value(text: str | None) -> FieldValue:
    return None if text is None else json.loads(text)


def _pack_inputs(contact: Contact, activities: Sequence[Activity]) -> bytes:
    document = {
        "contact": {
            "id": contact.id,
            "updated_at": utc(contact.updated_at, "contact.updated_at").isoformat(),
            "fields": dict(contact.fields),
            "object_type": contact.object_type,
            "protected": contact.protected,
            "merged_from": list(contact.merged_from),
        },
        "activities": [
            {
                "id": activity.id,
                "contact_id": activity.contact_id,
                "type": activity.type,
                "occurred_at": utc(activity.occurred_at, "activity.occurred_at").isoformat(),
                "attributes": dict(activity.attributes),
                "source_type": activity.source_type,
            }
            for activity in activities
        ],
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode())


def _unpack_inputs(payload: bytes) -> tuple[Contact, tuple[Activity, ...]]:
    document = json.loads(zlib.decompress(payload))
    contact = document["contact"]
    return (
        Contact(
            id=contact["id"],
            updated_at=datetime.fromisoformat(contact["updated_at"]),
            fields=contact["fields"],
            object_type=contact["object_type"],
            protected=contact["protected"],
            merged_from=tuple(contact["merged_from"]),
        ),
        tuple(
            Activity(
                id=activity["id"],
                contact_id=activity["contact_id"],
                type=activity["type"],
                occurred_at=datetime.fromisoformat(activity["occurred_at"]),
                attributes=activity["attributes"],
                source_type=activity["source_type"],
            )
            for activity in document["activities"]
        ),
    )
