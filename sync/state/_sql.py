"""The SQL state store: what is kept per contact and per CRM between runs.

Cursors, in-flight writes, scoring inputs, owners, quarantine and the run lock, on top of ``RunHistory``
(``_sql_runs``) and ``SqlBase`` (``_sql_base``: hooks, transactions, migrations).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from connectors.paging import chunks
from connectors.records import Activity, Contact, FieldValue
from sync.state._api import (
    CLAIM_LEASE,
    Assignment,
    InflightWrite,
    LockHolder,
    QuarantineEntry,
    QueuedEvent,
    RoundRobinState,
    RunLock,
    ScoringInputs,
    StateError,
    WebhookEvent,
    utc,
)
from sync.state._schema import INFLIGHT_WRITES, Migration
from sync.state._sql_base import id_chunks, marks, new_token
from sync.state._sql_runs import RunHistory
from sync.state._sql_segments import SegmentIndex, read_segments, segments_text
from sync.state._sql_sla import SlaBook

__all__ = ["SqlStateStore", "new_token"]

_INPUT_COLUMNS = "contact_id, payload, model_version, scored_at, next_change_at, total, stage, tier, segments"
_QUARANTINE_COLUMNS = "crm, contact_id, reason, payload, attempts, first_seen, last_seen, run_id"
# What a merge moves to the surviving id: (table, columns besides crm and contact_id, primary key).
_MOVABLE = (
    ("written_values", "field, value, run_id, written_at", "crm, contact_id, field"),
    ("assignments", "owner_id, strategy, assigned_at", "crm, contact_id"),
    ("quarantine", "reason, payload, attempts, first_seen, last_seen, run_id", "crm, contact_id"),
)
_EVENT_COLUMNS = (
    "id, crm, event_id, kind, object_type, object_id, occurred_at, received_at, payload, attempts, claimed_at"
)


class SqlStateStore(SegmentIndex, SlaBook, RunHistory):
    """Every ``StateStore`` method; the transaction and lock plumbing is in the subclasses' hooks."""

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

    # -- the CRM's schema, cached between runs ----------------------------------------------------------
    def get_schema_cache(self, crm: str) -> str | None:
        row = self._execute("SELECT blob FROM schema_cache WHERE crm = ?", (crm,)).fetchone()
        return None if row is None else str(row[0])

    def set_schema_cache(self, crm: str, blob: str | None, now: datetime) -> None:
        """Keep the adapter's schema blob for ``crm``; None forgets it, so the next run reads the schema."""
        if blob is None:
            self._execute("DELETE FROM schema_cache WHERE crm = ?", (crm,))
            return
        self._execute(
            "INSERT INTO schema_cache (crm, blob, saved_at) VALUES (?, ?, ?) "
            "ON CONFLICT (crm) DO UPDATE SET blob = excluded.blob, saved_at = excluded.saved_at",
            (crm, blob, self._now(now)),
        )

    # -- in-flight writes ------------------------------------------------------------------------------
    def inflight_writes(self, crm: str) -> dict[str, InflightWrite]:
        """What was sent to the CRM (or was about to be) and is not yet recorded, by contact."""
        rows = self._execute(
            "SELECT contact_id, run_id, changes FROM inflight_writes WHERE crm = ? ORDER BY contact_id", (crm,)
        ).fetchall()
        return {row[0]: _inflight(row[0], row[1], json.loads(row[2])) for row in rows}

    def save_inflight(self, crm: str, writes: Sequence[InflightWrite], now: datetime) -> None:
        """Remember these writes; each replaces whatever its contact had in flight."""
        saved = self._now(now)
        rows = [
            (
                crm,
                w.contact_id,
                w.run_id,
                json.dumps({f: list(pair) for f, pair in w.changes.items()}, default=str),
                saved,
            )
            for w in writes
        ]
        if rows:
            self._executemany(
                "INSERT INTO inflight_writes (crm, contact_id, run_id, changes, saved_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (crm, contact_id) DO UPDATE SET run_id = excluded.run_id, changes = excluded.changes, "
                "saved_at = excluded.saved_at",
                rows,
            )

    def settle_inflight(self, crm: str, contact_ids: Sequence[str]) -> None:
        """Forget what these contacts had in flight: a run has recorded them."""
        with self._tx():
            for chunk in id_chunks(contact_ids):
                self._execute(
                    f"DELETE FROM inflight_writes WHERE crm = ? AND contact_id IN ({marks(chunk)})", (crm, *chunk)
                )

    def _after_migration(self, migration: Migration) -> None:
        if migration is not INFLIGHT_WRITES:
            return
        legacy = self._execute("SELECT crm, cursor, updated_at FROM cursors WHERE stream = 'inflight'").fetchall()
        for crm, document, updated_at in legacy:
            writes = [
                _inflight(cid, pending["run_id"], pending["changes"]) for cid, pending in json.loads(document).items()
            ]
            self.save_inflight(crm, writes, self._read_ts(updated_at))
        self._execute("DELETE FROM cursors WHERE stream = 'inflight'")

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
                segments_text(item.segments),
                _owner(item.contact),
            )
            for item in items
        ]
        if rows:
            with self._tx():
                self._executemany(
                    f"INSERT INTO scoring_inputs (crm, {_INPUT_COLUMNS}, owner_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (crm, contact_id) DO UPDATE SET "
                    "payload = excluded.payload, model_version = excluded.model_version, "
                    "scored_at = excluded.scored_at, next_change_at = excluded.next_change_at, total = excluded.total, "
                    "stage = excluded.stage, tier = excluded.tier, segments = excluded.segments, "
                    "owner_id = excluded.owner_id",
                    rows,
                )
                self._save_segments(crm, items)

    def load_inputs(self, crm: str, contact_ids: Sequence[str]) -> dict[str, ScoringInputs]:
        loaded: dict[str, ScoringInputs] = {}
        for chunk in id_chunks(contact_ids):
            rows = self._execute(
                f"SELECT {_INPUT_COLUMNS} FROM scoring_inputs WHERE crm = ? AND contact_id IN ({marks(chunk)})",
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
            segments=read_segments(row[8]),
        )

    # -- owners ------------------------------------------------------------------------------------------
    def get_assignments(self, crm: str, contact_ids: Sequence[str]) -> dict[str, Assignment]:
        found: dict[str, Assignment] = {}
        for chunk in id_chunks(contact_ids):
            rows = self._execute(
                "SELECT contact_id, owner_id, strategy, assigned_at FROM assignments "
                f"WHERE crm = ? AND contact_id IN ({marks(chunk)})",
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
            for chunk in id_chunks(contact_ids):
                cursor = self._execute(
                    f"DELETE FROM quarantine WHERE crm = ? AND contact_id IN ({marks(chunk)})", (crm, *chunk)
                )
                released += cursor.rowcount
        return released

    def quarantine_count(self, crm: str) -> int:
        return int(self._execute("SELECT COUNT(*) FROM quarantine WHERE crm = ?", (crm,)).fetchone()[0])

    # -- contacts that left the CRM ----------------------------------------------------------------------
    def forget_contacts(self, crm: str, contact_ids: Sequence[str]) -> None:
        """Drop what is kept about deleted or merged-away contacts; their audit trail stays."""
        with self._tx():
            for chunk in id_chunks(contact_ids):
                for table in (
                    "written_values",
                    "scoring_inputs",
                    "input_segments",
                    "assignments",
                    "quarantine",
                    "inflight_writes",
                ):
                    self._execute(
                        f"DELETE FROM {table} WHERE crm = ? AND contact_id IN ({marks(chunk)})", (crm, *chunk)
                    )

    def move_contacts(self, crm: str, survivors: Mapping[str, str]) -> None:
        """Merged-away id -> surviving id: the written values, sticky owner and quarantine entry move to the
        survivor where it has none of its own; the rest of what was kept about the old id is forgotten."""
        moves = [(old, new) for old, new in survivors.items() if old != new]
        with self._tx():
            for old, new in moves:
                for table, columns, key in _MOVABLE:
                    self._execute(
                        f"INSERT INTO {table} (crm, contact_id, {columns}) SELECT crm, ?, {columns} FROM {table} "
                        f"WHERE crm = ? AND contact_id = ? ON CONFLICT ({key}) DO NOTHING",
                        (new, crm, old),
                    )
            self.forget_contacts(crm, [old for old, _ in moves])

    def clear_assignments(self, crm: str, contact_ids: Sequence[str]) -> int:
        """Forget the sticky owners of these contacts (a reverted owner write); return how many there were."""
        cleared = 0
        with self._tx():
            for chunk in id_chunks(contact_ids):
                cursor = self._execute(
                    f"DELETE FROM assignments WHERE crm = ? AND contact_id IN ({marks(chunk)})", (crm, *chunk)
                )
                cleared += cursor.rowcount
        return cleared

    # -- webhook intake queue ----------------------------------------------------------------------------
    def enqueue_events(self, events: Sequence[WebhookEvent], now: datetime) -> int:
        """Store events in one transaction; one already stored (same CRM and event id) is skipped.

        Returns how many were new.  Acked events stay stored, so a late redelivery is still a duplicate.
        """
        received = self._now(now)
        new = 0
        with self._tx():
            for event in events:
                row = self._execute(
                    "INSERT INTO webhook_events (crm, event_id, kind, object_type, object_id, occurred_at, "
                    "received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (crm, event_id) DO NOTHING RETURNING id",
                    (
                        event.crm,
                        event.event_id,
                        event.kind,
                        event.object_type,
                        event.object_id,
                        self._now(event.occurred_at, "occurred_at"),
                        received,
                        self._json(dict(event.payload)),
                    ),
                ).fetchone()
                new += row is not None
        return new

    def claim_events(self, crm: str, limit: int, *, now: datetime, lease: timedelta = CLAIM_LEASE) -> list[QueuedEvent]:
        """Up to ``limit`` unacked events, oldest first, that no live claim holds; each claim lasts ``lease``.

        A claim not acked within its lease (its worker died) is handed out again with ``attempts`` one higher.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        claimed_at = self._now(now)
        expired = self._now(now - lease)
        with self._tx():
            candidates = [
                int(row[0])
                for row in self._execute(
                    "SELECT id FROM webhook_events WHERE crm = ? AND acked_at IS NULL "
                    "AND (claimed_at IS NULL OR claimed_at <= ?) ORDER BY id LIMIT ?",
                    (crm, expired, limit),
                ).fetchall()
            ]
            if not candidates:
                return []
            # the WHERE is checked again on update: under PostgreSQL a concurrent claimer that won keeps its rows
            won = [
                int(row[0])
                for row in self._execute(
                    "UPDATE webhook_events SET claimed_at = ?, attempts = attempts + 1 "
                    f"WHERE id IN ({_int_marks(candidates)}) AND acked_at IS NULL "
                    "AND (claimed_at IS NULL OR claimed_at <= ?) RETURNING id",
                    (claimed_at, *candidates, expired),
                ).fetchall()
            ]
            if not won:
                return []
            rows = self._execute(
                f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE id IN ({_int_marks(won)}) ORDER BY id", tuple(won)
            ).fetchall()
        return [self._queued(row) for row in rows]

    def ack_events(self, ids: Sequence[int], now: datetime, *, reason: str | None = None) -> int:
        """Mark claimed events processed (``reason``: why one was given up on); returns how many were pending."""
        acked = self._now(now)
        done = 0
        with self._tx():
            for chunk in chunks([int(i) for i in ids], 500):
                cursor = self._execute(
                    f"UPDATE webhook_events SET acked_at = ?, ack_reason = ? WHERE id IN ({_int_marks(chunk)}) "
                    "AND acked_at IS NULL",
                    (acked, reason, *chunk),
                )
                done += cursor.rowcount
        return done

    def count_pending_events(self, crm: str) -> int:
        return int(
            self._execute("SELECT COUNT(*) FROM webhook_events WHERE crm = ? AND acked_at IS NULL", (crm,)).fetchone()[
                0
            ]
        )

    def oldest_pending_event(self, crm: str) -> datetime | None:
        row = self._execute(
            "SELECT MIN(received_at) FROM webhook_events WHERE crm = ? AND acked_at IS NULL", (crm,)
        ).fetchone()
        return None if row is None or row[0] is None else self._read_ts(row[0])

    def _queued(self, row: Sequence[Any]) -> QueuedEvent:
        event = WebhookEvent(
            crm=row[1],
            event_id=row[2],
            kind=row[3],
            object_type=row[4],
            object_id=row[5],
            occurred_at=self._read_ts(row[6]),
            payload=self._read_json(row[8]),
        )
        return QueuedEvent(
            id=int(row[0]),
            event=event,
            received_at=self._read_ts(row[7]),
            attempts=int(row[9]),
            claimed_at=None if row[10] is None else self._read_ts(row[10]),
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


def _owner(contact: Contact) -> str | None:
    """The owner as the contact was read (the dashboard filters on it); a value that is not an id is dropped."""
    owner = contact.fields.get("owner_id")
    return None if owner in (None, "") or isinstance(owner, bool) else str(owner)


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


def _inflight(contact_id: str, run_id: Any, changes: Mapping[str, Sequence[FieldValue]]) -> InflightWrite:
    return InflightWrite(contact_id, int(run_id), {f: (pair[0], pair[1]) for f, pair in changes.items()})


def _int_marks(ids: Sequence[int]) -> str:
    return ", ".join("?" * len(ids))
