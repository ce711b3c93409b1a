"""The state store: everything leadsync remembers between runs, in SQLite (default) or PostgreSQL.

``open_store("state.db")``, ``open_store("sqlite:///relative.db")``, ``open_store("sqlite:////abs/state.db")``
or ``open_store("postgresql://user@host/db")`` returns a ``StateStore``; both implementations share one
schema, one behaviour and one test suite.  Everything is keyed by ``crm`` so one database serves several
CRMs.  The store has no column for a secret: callers never put credentials in a payload.

Schema: an ordered list of migrations (``sync.state._schema.MIGRATIONS``); opening a database applies the
missing ones in one transaction and records them in ``schema_version``; a database newer than the code
raises ``SchemaTooNewError``.  SQLite: the file (and its -wal/-shm) is created 0600, in WAL mode with a
busy timeout, writers take ``BEGIN IMMEDIATE``; several processes may share it.

Datetimes are timezone-aware in and out (UTC out); a naive one raises ValueError.  ``now`` is always
passed in: the store reads the clock only for lock heartbeats and migration bookkeeping.  A store object
is for one thread; open one per thread or process.

Transactions::

    with store.transaction():               # one atomic batch: all of it commits, or none of it
        store.record_writes(run_id, crm, changes, now)
        store.quarantine_add(crm, contact_id, reason=..., payload=..., run_id=run_id, now=now)
        store.set_cursor(crm, "contacts", page.cursor, now)

Every method called inside the block joins it; outside one, each call is its own transaction.  A nested
``transaction()`` is a savepoint.

API (``StateStore``)::

    close() ; schema_version() -> int ; transaction() -> ContextManager[None]
    start_run(crm, kind, *, model_version="", dry_run=False, now) -> int
    finish_run(run_id, *, status, counts=None, api_calls=None, quota_left=None, error=None, now)
    get_run(run_id) -> RunRecord | None
    list_runs(crm=None, *, kind=None, status=None, limit=50) -> list[RunRecord]      # newest first
    mark_interrupted_runs(crm, now, *, include_other_hosts=False) -> int
    get_cursor(crm, stream) -> str | None ; set_cursor(crm, stream, cursor | None, now)
    get_schema_cache(crm) -> str | None ; set_schema_cache(crm, blob | None, now)   # the adapter's schema blob
    inflight_writes(crm) -> {contact_id: InflightWrite}                             # written, not yet recorded
    save_inflight(crm, writes: Sequence[InflightWrite], now) ; settle_inflight(crm, contact_ids)
    get_written(crm, contact_ids) -> {contact_id: {field: value}}                   # what leadsync last wrote
    record_writes(run_id, crm, changes: Sequence[FieldChange], now)                 # audit rows + written values
    audit_for_run(run_id, *, batch_size=1000) -> Iterator[AuditRow]                 # streamed
    audit_for_contact(crm, contact_id) -> list[AuditRow]
    save_inputs(crm, items: Sequence[ScoringInputs]) ; load_inputs(crm, contact_ids) -> {id: ScoringInputs}
    iter_due(crm, now, *, batch_size=500, limit=None) -> Iterator[list[ScoringInputs]]  # next_change_at <= now
    count_due(crm, now) -> int
    get_assignments(crm, contact_ids) -> {id: Assignment} ; set_assignments(crm, assignments)
    clear_assignments(crm, contact_ids) -> int                                      # a reverted owner write
    get_round_robin(crm, pool="default") -> RoundRobinState ; set_round_robin(crm, state, *, pool, now)
    quarantine_add(crm, contact_id, *, reason, payload, run_id, now) -> attempts
    quarantine_list(crm, *, limit=None) ; quarantine_release(crm, contact_ids) -> int ; quarantine_count(crm)
    enqueue_events(events: Sequence[WebhookEvent], now) -> int             # new ones; duplicates by event id skipped
    claim_events(crm, limit, *, now, lease=5 min) -> list[QueuedEvent]      # oldest first; expired claims re-handed
    ack_events(ids, now, *, reason=None) -> int ; count_pending_events(crm) -> int  # reason: why given up on
    oldest_pending_event(crm) -> received_at | None                        # the queue's lag
    sla_open(crm, contact_ids) -> {id: SlaLead} ; sla_save(crm, leads)    # untouched SLA stretches; insert/update
    sla_due(crm, now, *, limit=500) -> list[SlaLead]      # untouched, not escalated, due_at <= now
    sla_since(crm, since) -> list[SlaLead]                # stretches prioritized at or after ``since``
    forget_contacts(crm, contact_ids)        # deleted / merged-away contacts; the audit trail stays
    move_contacts(crm, {old_id: survivor_id})  # merged: written values, sticky owner, quarantine move over
    acquire_lock(crm, *, wait=False, timeout=None) -> RunLock | None ; lock_holder(crm) -> LockHolder | None

Run lock: at most one process works on a CRM.  ``acquire_lock`` returns None when it is held elsewhere
(also by another lock in this process); ``wait=True`` polls until it is free or ``timeout`` seconds pass.
``RunLock`` is a context manager with ``holder_info``, ``held`` and ``release()``.  SQLite: a ``run_locks``
row claimed in ``BEGIN IMMEDIATE`` and kept fresh by a heartbeat thread; a row whose process is dead on
this host, or whose heartbeat is older than ``lock_ttl``, is taken over.  PostgreSQL: a session advisory
lock on a dedicated connection, freed by the server when that connection dies.
"""

from __future__ import annotations

import os

from sync.state._api import (
    Assignment,
    AuditAction,
    AuditRow,
    AuditStatus,
    FieldChange,
    InflightWrite,
    LockHolder,
    QuarantineEntry,
    QueuedEvent,
    RoundRobinState,
    RunKind,
    RunLock,
    RunRecord,
    RunStatus,
    SchemaTooNewError,
    ScoringInputs,
    SlaLead,
    StateError,
    StateStore,
    WebhookEvent,
)
from sync.state._postgres import PostgresStateStore
from sync.state._schema import MIGRATIONS, SCHEMA_VERSION, Migration
from sync.state._sqlite import SQLiteStateStore

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Assignment",
    "AuditAction",
    "AuditRow",
    "AuditStatus",
    "FieldChange",
    "InflightWrite",
    "LockHolder",
    "Migration",
    "PostgresStateStore",
    "QuarantineEntry",
    "QueuedEvent",
    "RoundRobinState",
    "RunKind",
    "RunLock",
    "RunRecord",
    "RunStatus",
    "SQLiteStateStore",
    "SchemaTooNewError",
    "ScoringInputs",
    "SlaLead",
    "StateError",
    "StateStore",
    "WebhookEvent",
    "open_store",
]


def open_store(target: str | os.PathLike[str]) -> StateStore:
    """Open (creating and migrating as needed) the state store at a path or URL."""
    location = os.fspath(target)
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresStateStore(location)
    if location.startswith("sqlite:///"):
        return SQLiteStateStore(location.removeprefix("sqlite:///"))
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise StateError(
            f"unsupported state store URL scheme {scheme!r}: use a file path, sqlite:///path or postgresql://..."
        )
    return SQLiteStateStore(location)
