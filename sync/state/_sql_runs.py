"""The SQL store's run history: runs, the values leadsync wrote, and the audit trail of every write."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.records import FieldValue
from sync.state import _process
from sync.state._api import (
    AuditAction,
    AuditRow,
    AuditStatus,
    FieldChange,
    RunKind,
    RunRecord,
    RunStatus,
    StateError,
    utc,
)
from sync.state._sql_base import SqlBase, id_chunks, marks

_RUN_COLUMNS = (
    "id, crm, kind, status, started_at, finished_at, duration_seconds, model_version, dry_run, counts, "
    "api_calls, quota_left, error, pid, host"
)
_AUDIT_COLUMNS = "id, run_id, crm, contact_id, field, old_value, new_value, at, action, status"


class RunHistory(SqlBase):
    """What each run did: its record, and an audit row (and the written value) for every field it wrote."""

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

    # -- written values and audit ------------------------------------------------------------------------
    def get_written(self, crm: str, contact_ids: Sequence[str]) -> dict[str, dict[str, FieldValue]]:
        """The values leadsync last wrote, by contact and field; contacts it never wrote are absent."""
        written: dict[str, dict[str, FieldValue]] = {}
        for chunk in id_chunks(contact_ids):
            rows = self._execute(
                f"SELECT contact_id, field, value FROM written_values WHERE crm = ? AND contact_id IN ({marks(chunk)})",
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


def _encode_value(value: FieldValue) -> str | None:
    return None if value is None else json.dumps(value)


def _decode_value(text: str | None) -> FieldValue:
    return None if text is None else json.loads(text)
