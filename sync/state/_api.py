"""The state store's records and its abstract interface, shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

from connectors.records import Activity, Contact, FieldValue

# A claimed webhook event not acked within this is handed out again: its worker is presumed dead.
CLAIM_LEASE = timedelta(minutes=5)


class StateError(Exception):
    """Something is wrong with the state store itself: it cannot be opened, or it is not ours to use."""


class SchemaTooNewError(StateError):
    """The state database was written by a newer leadsync than this one."""


class RunKind(StrEnum):
    BACKFILL = "backfill"
    SYNC = "sync"
    RESCORE = "rescore"
    REVERT = "revert"
    CALIBRATE = "calibrate"
    REALTIME = "realtime"  # contacts named by webhook events, scored and written as they arrive


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class AuditAction(StrEnum):
    WRITE = "write"
    REVERT = "revert"


class AuditStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One backfill, sync, rescore, revert or calibration, as recorded in the state store."""

    id: int
    crm: str
    kind: RunKind
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    model_version: str
    dry_run: bool
    counts: Mapping[str, int]  # read, scored, changed, written, failed, quarantined
    api_calls: Mapping[str, int]  # calls by endpoint
    quota_left: int | None
    error: str | None
    pid: int
    host: str


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One CRM field leadsync wrote (or tried to write, or reverted) on one contact."""

    contact_id: str
    field: str
    old_value: FieldValue
    new_value: FieldValue
    action: AuditAction = AuditAction.WRITE
    status: AuditStatus = AuditStatus.OK


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One line of the audit trail: what a run did to one field of one contact."""

    id: int
    run_id: int
    crm: str
    contact_id: str
    field: str
    old_value: FieldValue
    new_value: FieldValue
    at: datetime
    action: AuditAction
    status: AuditStatus


@dataclass(frozen=True, slots=True)
class InflightWrite:
    """Changes sent (or about to be sent) to one contact that no run has recorded as landed yet.

    Saved before the write and settled when a run records the contact; a rerun that finds the new values
    already in the CRM records them under ``run_id`` instead of writing them again.
    """

    contact_id: str
    run_id: int
    changes: Mapping[str, tuple[FieldValue, FieldValue]]  # field -> (old value, new value)


@dataclass(frozen=True, slots=True)
class ScoringInputs:
    """What a contact was last scored on, so ``rescore`` can recompute it without reading the CRM.

    ``next_change_at`` is when the score would change by time alone (an activity ageing out of a decay
    window); None when it never will.  ``total``, ``stage``, ``tier`` and ``segments`` summarize the last result.
    """

    contact: Contact
    activities: tuple[Activity, ...]
    model_version: str
    scored_at: datetime
    next_change_at: datetime | None = None
    total: float | None = None
    stage: str | None = None
    tier: str | None = None
    segments: tuple[str, ...] = ()

    @property
    def contact_id(self) -> str:
        return self.contact.id


@dataclass(frozen=True, slots=True)
class Assignment:
    """A sticky owner assignment: once leadsync gives a contact an owner, it keeps that owner."""

    contact_id: str
    owner_id: str
    strategy: str
    assigned_at: datetime


@dataclass(frozen=True, slots=True)
class RoundRobinState:
    """Where a (weighted) round-robin stopped: the next position and any per-owner counters."""

    position: int = 0
    counters: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A contact whose update the CRM refused; retried on later runs until it succeeds or is released."""

    crm: str
    contact_id: str
    reason: str
    payload: Mapping[str, Any]  # the attempted update (field values only, never credentials)
    attempts: int
    first_seen: datetime
    last_seen: datetime
    run_id: int | None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One change a CRM pushed to leadsync, as parsed from its webhook; ``event_id`` is the vendor's own key."""

    crm: str
    event_id: str
    kind: str  # the vendor's event type, e.g. contact.propertyChange, change.person, Lead.updated
    object_type: str  # contact, person, activity, Lead, Contact, Task...
    object_id: str
    occurred_at: datetime
    payload: Mapping[str, Any]  # the event as received; never a credential


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """A stored webhook event waiting to be processed; ``attempts`` counts its claims so far."""

    id: int
    event: WebhookEvent
    received_at: datetime
    attempts: int
    claimed_at: datetime | None


@dataclass(frozen=True, slots=True)
class SlaLead:
    """One stretch of a lead being prioritized (P1/P2): when it started, its response due time, its first touch.

    ``id`` is None until stored.  Untouched (``touched_at`` None) is open; ``escalated_at`` records the one
    escalation sent for it.
    """

    contact_id: str
    tier: str
    owner_id: str | None
    prioritized_at: datetime
    due_at: datetime | None
    touched_at: datetime | None = None
    touch_activity_id: str | None = None
    escalated_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or last held) a CRM's run lock."""

    crm: str
    pid: int
    host: str
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        return (
            f"leadsync pid {self.pid} on host {self.host!r} has been working on {self.crm} "
            f"since {self.acquired_at.isoformat(timespec='seconds')}"
        )


class RunLock(AbstractContextManager["RunLock"]):
    """Proof that this process is the only one working on a CRM; released on ``release()`` or on exit."""

    def __init__(self, holder: LockHolder) -> None:
        self.holder_info = holder
        self._released = False
        self._release_guard = threading.Lock()

    @property
    def crm(self) -> str:
        return self.holder_info.crm

    @property
    def held(self) -> bool:
        """False once released or lost (connection gone, or taken over); check it before committing a batch.

        SQLite reads a flag its heartbeat thread keeps; PostgreSQL makes one round trip on the lock's connection.
        """
        return not self._released and not self._lost()

    def release(self) -> None:
        with self._release_guard:
            if self._released:
                return
            self._released = True
        self._release()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    @abstractmethod
    def _release(self) -> None: ...

    @abstractmethod
    def _lost(self) -> bool: ...


class StateStore(ABC):
    """Everything leadsync remembers between runs.  See the ``sync.state`` docstring for the contract."""

    # -- lifecycle ---------------------------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------------------
    @abstractmethod
    def start_run(
        self, crm: str, kind: RunKind | str, *, model_version: str = "", dry_run: bool = False, now: datetime
    ) -> int: ...

    @abstractmethod
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
    ) -> None: ...

    @abstractmethod
    def get_run(self, run_id: int) -> RunRecord | None: ...

    @abstractmethod
    def list_runs(
        self,
        crm: str | None = None,
        *,
        kind: RunKind | str | None = None,
        status: RunStatus | str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]: ...

    @abstractmethod
    def mark_interrupted_runs(self, crm: str, now: datetime, *, include_other_hosts: bool = False) -> int: ...

    # -- cursors -----------------------------------------------------------------------------------------
    @abstractmethod
    def get_cursor(self, crm: str, stream: str) -> str | None: ...

    @abstractmethod
    def set_cursor(self, crm: str, stream: str, cursor: str | None, now: datetime) -> None: ...

    # -- the CRM's schema, cached between runs ----------------------------------------------------------
    @abstractmethod
    def get_schema_cache(self, crm: str) -> str | None: ...

    @abstractmethod
    def set_schema_cache(self, crm: str, blob: str | None, now: datetime) -> None: ...

    # -- in-flight writes ------------------------------------------------------------------------------
    @abstractmethod
    def inflight_writes(self, crm: str) -> dict[str, InflightWrite]: ...

    @abstractmethod
    def save_inflight(self, crm: str, writes: Sequence[InflightWrite], now: datetime) -> None: ...

    @abstractmethod
    def settle_inflight(self, crm: str, contact_ids: Sequence[str]) -> None: ...

    # -- written values and audit ------------------------------------------------------------------------
    @abstractmethod
    def get_written(self, crm: str, contact_ids: Sequence[str]) -> dict[str, dict[str, FieldValue]]: ...

    @abstractmethod
    def record_writes(self, run_id: int, crm: str, changes: Sequence[FieldChange], now: datetime) -> None: ...

    @abstractmethod
    def audit_for_run(self, run_id: int, *, batch_size: int = 1000) -> Iterator[AuditRow]: ...

    @abstractmethod
    def audit_for_contact(self, crm: str, contact_id: str) -> list[AuditRow]: ...

    # -- scoring inputs ----------------------------------------------------------------------------------
    @abstractmethod
    def save_inputs(self, crm: str, items: Sequence[ScoringInputs]) -> None: ...

    @abstractmethod
    def load_inputs(self, crm: str, contact_ids: Sequence[str]) -> dict[str, ScoringInputs]: ...

    @abstractmethod
    def iter_due(
        self, crm: str, now: datetime, *, batch_size: int = 500, limit: int | None = None
    ) -> Iterator[list[ScoringInputs]]: ...

    @abstractmethod
    def count_due(self, crm: str, now: datetime) -> int: ...

    # -- owners ------------------------------------------------------------------------------------------
    @abstractmethod
    def get_assignments(self, crm: str, contact_ids: Sequence[str]) -> dict[str, Assignment]: ...

    @abstractmethod
    def set_assignments(self, crm: str, assignments: Sequence[Assignment]) -> None: ...

    @abstractmethod
    def get_round_robin(self, crm: str, pool: str = "default") -> RoundRobinState: ...

    @abstractmethod
    def set_round_robin(self, crm: str, state: RoundRobinState, *, pool: str = "default", now: datetime) -> None: ...

    # -- quarantine --------------------------------------------------------------------------------------
    @abstractmethod
    def quarantine_add(
        self,
        crm: str,
        contact_id: str,
        *,
        reason: str,
        payload: Mapping[str, Any],
        run_id: int | None,
        now: datetime,
    ) -> int: ...

    @abstractmethod
    def quarantine_list(self, crm: str, *, limit: int | None = None) -> list[QuarantineEntry]: ...

    @abstractmethod
    def quarantine_release(self, crm: str, contact_ids: Sequence[str]) -> int: ...

    @abstractmethod
    def quarantine_count(self, crm: str) -> int: ...

    # -- contacts that left the CRM ----------------------------------------------------------------------
    @abstractmethod
    def forget_contacts(self, crm: str, contact_ids: Sequence[str]) -> None: ...

    @abstractmethod
    def move_contacts(self, crm: str, survivors: Mapping[str, str]) -> None: ...

    @abstractmethod
    def clear_assignments(self, crm: str, contact_ids: Sequence[str]) -> int: ...

    # -- webhook intake queue ----------------------------------------------------------------------------
    @abstractmethod
    def enqueue_events(self, events: Sequence[WebhookEvent], now: datetime) -> int: ...

    @abstractmethod
    def claim_events(
        self, crm: str, limit: int, *, now: datetime, lease: timedelta = CLAIM_LEASE
    ) -> list[QueuedEvent]: ...

    @abstractmethod
    def ack_events(self, ids: Sequence[int], now: datetime, *, reason: str | None = None) -> int: ...

    @abstractmethod
    def count_pending_events(self, crm: str) -> int: ...

    @abstractmethod
    def oldest_pending_event(self, crm: str) -> datetime | None: ...

    # -- response SLAs ----------------------------------------------------------------------------------
    @abstractmethod
    def sla_open(self, crm: str, contact_ids: Sequence[str]) -> dict[str, SlaLead]: ...

    @abstractmethod
    def sla_save(self, crm: str, leads: Sequence[SlaLead]) -> None: ...

    @abstractmethod
    def sla_due(self, crm: str, now: datetime, *, limit: int = 500) -> list[SlaLead]: ...

    @abstractmethod
    def sla_since(self, crm: str, since: datetime) -> list[SlaLead]: ...

    # -- run lock ----------------------------------------------------------------------------------------
    @abstractmethod
    def acquire_lock(self, crm: str, *, wait: bool = False, timeout: float | None = None) -> RunLock | None: ...

    @abstractmethod
    def lock_holder(self, crm: str) -> LockHolder | None: ...


def utc(value: datetime, name: str = "datetime") -> datetime:
    """``value`` in UTC; a naive datetime is refused, since guessing its zone would corrupt cursors."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (got naive {value.isoformat()}); use datetime.now(UTC) or attach a tzinfo"
        )
    return value.astimezone(UTC)
