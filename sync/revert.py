"""Undo a run: put back every CRM value it overwrote, unless someone has changed that value since.

The audit trail holds, for each field a run wrote, the value before and the value written.  For each contact
(one batched ``get_contacts`` per batch) the CRM's current value decides:

- it still equals what the run wrote: restore the old value;
- it already equals the old value: nothing to do;
- anything else (a person, another tool or a later run changed it): a conflict, reported and left alone.

Restores go through ``adapter.write`` like any other write, and are recorded as a run of kind ``revert``
whose audit rows (action ``revert``) hold the value replaced and the value restored, so a revert can be
reverted in turn.  A restored owner also clears the contact's sticky assignment, so later syncs may assign it
again.  Owner and lifecycle fields are audited under their canonical names (``owner_id``,
``lifecycle_stage``, ``lead_status``) and handed to the adapter as they are: the adapter reads and writes them
through its field map (Salesforce ``Status``), so only the other audited names are asked for as extra CRM
fields (``fields_to_read``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import CRMAdapter
from connectors.errors import ConnectorError, QuotaExhausted
from connectors.http import redact
from connectors.records import CANONICAL_FIELDS, Contact, FieldUpdate, FieldValue, WriteStatus
from sync.pipeline import NullProgress, Progress
from sync.policies import same_value
from sync.state import AuditAction, AuditRow, AuditStatus, FieldChange, RunKind, RunRecord, RunStatus, StateStore

log = logging.getLogger("leadsync.revert")

DETAIL_LIMIT = 1000  # restores listed one by one in a report; the counts cover all of them
OWNER_FIELD = "owner_id"  # the canonical name owner writes are audited under


class RevertError(Exception):
    """The run cannot be reverted (unknown, another CRM's, still running); the message says why."""

    exit_code = 2


class AlreadyReverted(RevertError):
    """The run was reverted before: doing it again would undo what was written since (``--force`` does)."""

    def __init__(self, message: str, plan: RevertReport) -> None:
        super().__init__(message)
        self.plan = plan  # the dry run of the refused revert: what it would restore


@dataclass(frozen=True, slots=True)
class FieldRestore:
    contact_id: str
    field: str
    current: FieldValue  # what the CRM holds now (what the reverted run wrote)
    restore: FieldValue  # the value before the reverted run


@dataclass(frozen=True, slots=True)
class Conflict:
    contact_id: str
    field: str
    written: FieldValue  # what the reverted run wrote
    current: FieldValue  # what the CRM holds now
    restore: FieldValue  # what a revert would have put back
    reason: str


@dataclass
class RevertReport:
    target: RunRecord
    run_id: int | None = None  # the revert's own run (None when nothing was recorded)
    dry_run: bool = False
    status: RunStatus = RunStatus.RUNNING
    restores: list[FieldRestore] = field(default_factory=list)  # the first DETAIL_LIMIT restores, for display
    restored_fields: int = 0  # planned (dry run) or written
    restored_contacts: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # contact id, why the CRM refused
    missing: list[str] = field(default_factory=list)  # contacts no longer in the CRM
    unchanged: int = 0  # fields already holding the old value
    counts: Counter[str] = field(default_factory=Counter)
    api_calls: dict[str, int] = field(default_factory=dict)
    quota_left: int | None = None
    duration: float = 0.0
    error: str | None = None
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "reverted_run_id": self.target.id,
            "crm": self.target.crm,
            "dry_run": self.dry_run,
            "status": str(self.status),
            "counts": dict(self.counts),
            "restored_fields": self.restored_fields,
            "restored_contacts": self.restored_contacts,
            "restored": [
                {"contact_id": r.contact_id, "field": r.field, "from": r.current, "to": r.restore}
                for r in self.restores
            ],
            "conflicts": [
                {
                    "contact_id": c.contact_id,
                    "field": c.field,
                    "written": c.written,
                    "current": c.current,
                    "would_restore": c.restore,
                    "reason": c.reason,
                }
                for c in self.conflicts
            ],
            "failed": [{"contact_id": cid, "error": why} for cid, why in self.failed],
            "missing": list(self.missing),
            "unchanged": self.unchanged,
            "api_calls": self.api_calls,
            "quota_left": self.quota_left,
            "duration_seconds": round(self.duration, 3),
            "error": self.error,
        }


def find_run(store: StateStore, run_id: int, crm: str) -> RunRecord:
    target = store.get_run(run_id)
    if target is None:
        raise RevertError(f"There is no run {run_id} in the state database: `leadsync runs` lists them.")
    if target.crm != crm:
        raise RevertError(
            f"Run {run_id} is a {target.crm} run, but this installation is set up for {crm} "
            f"(LEADSYNC_CRM): revert it with LEADSYNC_CRM={target.crm}."
        )
    if target.status is RunStatus.RUNNING:
        raise RevertError(f"Run {run_id} is still running: wait for it to finish (or stop it), then revert it.")
    if target.dry_run:
        raise RevertError(f"Run {run_id} was a dry run: it wrote nothing, so there is nothing to revert.")
    return target


def reverted_by(store: StateStore, target: RunRecord) -> list[tuple[RunRecord, int]]:
    """The later revert runs that restored values ``target`` wrote, with how many fields each restored."""
    written: dict[tuple[str, str], tuple[FieldValue, FieldValue]] = {}
    for row in store.audit_for_run(target.id):
        if row.status is AuditStatus.OK:
            before = written[(row.contact_id, row.field)][0] if (row.contact_id, row.field) in written else None
            written[(row.contact_id, row.field)] = (row.old_value if before is None else before, row.new_value)
    if not written:
        return []
    found = []
    for run in reversed(store.list_runs(target.crm, kind=RunKind.REVERT, limit=10_000)):
        if run.id <= target.id or run.dry_run:
            continue
        restored = 0
        for row in store.audit_for_run(run.id):
            pair = written.get((row.contact_id, row.field))
            if pair is None or row.action is not AuditAction.REVERT or row.status is not AuditStatus.OK:
                continue
            # the revert replaced what the target wrote with what was there before it (as the CRM echoed them)
            restored += same_value(row.old_value, pair[1]) and same_value(row.new_value, pair[0])
        if restored:
            found.append((run, restored))
    return found


def fields_to_read(store: StateStore, run_id: int) -> list[str]:
    """The CRM fields a revert of ``run_id`` reads besides the adapter's own: every field the run wrote (the
    model's fields may have been renamed since), except canonical names, which the adapter maps itself."""
    return sorted({row.field for row in store.audit_for_run(run_id)} - set(CANONICAL_FIELDS))


def revert_run(
    *,
    crm: str,
    adapter: CRMAdapter,
    store: StateStore,
    run_id: int,
    clock: Callable[[], datetime],
    dry_run: bool = False,
    batch_size: int = 500,
    force: bool = False,
    progress: Progress | None = None,
) -> RevertReport:
    """Revert run ``run_id`` (see the module docstring); the caller holds the CRM's run lock.

    A run reverted before is refused with ``AlreadyReverted`` (carrying the dry run of what a second revert
    would restore) unless ``force``: the values it would put back were overwritten by later runs since.
    ``progress`` hears the number of contacts to check, then each batch as it is read and as it is done.
    """
    progress = progress or NullProgress()
    store.mark_interrupted_runs(crm, clock())
    target = find_run(store, run_id, crm)
    if not dry_run and not force:
        earlier = reverted_by(store, target)
        if earlier:
            plan = revert_run(
                crm=crm, adapter=adapter, store=store, run_id=run_id, clock=clock, dry_run=True, batch_size=batch_size
            )
            runs = ", ".join(f"run {run.id} ({n} field(s))" for run, n in earlier)
            raise AlreadyReverted(
                f"Run {run_id} was already reverted by {runs}: reverting it again would restore "
                f"{plan.restored_fields} field(s) on {plan.restored_contacts} contact(s), undoing what later runs "
                f"wrote there (`leadsync revert {run_id} --dry-run` lists them); nothing was written, "
                "add --force to revert it anyway.",
                plan,
            )
    t0 = time.monotonic()
    report = RevertReport(target=target, dry_run=dry_run)
    report.run_id = store.start_run(crm, RunKind.REVERT, dry_run=dry_run, now=clock())
    try:
        progress.start(len({row.contact_id for row in store.audit_for_run(run_id) if row.status is AuditStatus.OK}))
        for batch in _contact_batches(store.audit_for_run(run_id), batch_size):
            progress.read(len(batch))
            _revert_batch(batch, report, crm=crm, adapter=adapter, store=store, clock=clock)
            usage = adapter.usage()
            progress.advance(len(batch), calls=usage.total_calls, quota_left=usage.quota_left)
        report.status = RunStatus.PARTIAL if report.failed else RunStatus.OK
        report.exit_code = 1 if report.failed else 0
    except QuotaExhausted as exc:
        report.status, report.exit_code = RunStatus.FAILED, 3
        report.error = redact(str(exc)) + " What was restored so far is recorded; run the revert again later."
    except ConnectorError as exc:
        report.status = RunStatus.FAILED
        report.exit_code = exc.exit_code if exc.exit_code in (2, 3) else 1
        report.error = redact(str(exc))
    except KeyboardInterrupt:
        report.status, report.exit_code = RunStatus.INTERRUPTED, 130
        report.error = "aborted by Ctrl-C: what was restored so far is recorded; run the revert again to finish it"
        raise
    except BaseException as exc:
        report.status, report.exit_code = RunStatus.FAILED, 1
        report.error = redact(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        progress.stop()
        usage = adapter.usage()
        report.api_calls = dict(usage.calls_by_endpoint)
        report.quota_left = usage.quota_left
        report.duration = time.monotonic() - t0
        report.counts["conflicts"] = len(report.conflicts)
        store.finish_run(
            report.run_id,
            status=report.status,
            counts=dict(report.counts),
            api_calls=report.api_calls,
            quota_left=report.quota_left,
            error=report.error,
            now=clock(),
        )
    return report


# contact id -> field -> (value before the run, value the run wrote)
_Batch = dict[str, dict[str, tuple[FieldValue, FieldValue]]]


def _contact_batches(rows: Iterator[AuditRow], size: int) -> Iterator[_Batch]:
    """The run's successful writes grouped by contact, ``size`` contacts at a time, in audit order."""
    batch: _Batch = {}
    for row in rows:
        if row.status is not AuditStatus.OK:
            continue  # the CRM refused it: nothing landed, nothing to undo
        if row.contact_id not in batch and len(batch) >= size:
            yield batch
            batch = {}
        fields = batch.setdefault(row.contact_id, {})
        before = fields[row.field][0] if row.field in fields else row.old_value
        fields[row.field] = (before, row.new_value)
    if batch:
        yield batch


def _revert_batch(
    batch: _Batch,
    report: RevertReport,
    *,
    crm: str,
    adapter: CRMAdapter,
    store: StateStore,
    clock: Callable[[], datetime],
) -> None:
    ids = list(batch)
    current = {c.id: c for c in adapter.get_contacts(ids)}
    written_now = store.get_written(crm, ids)
    report.counts["read"] += len(current)
    restores: dict[str, list[FieldRestore]] = {}
    for cid, fields in batch.items():
        contact = current.get(cid)
        if contact is None:
            report.missing.append(cid)
            continue
        for fname, (before, wrote) in fields.items():
            plan = _decide(contact, fname, before, wrote, written_now.get(cid, {}))
            if isinstance(plan, Conflict):
                report.conflicts.append(plan)
            elif plan is None:
                report.unchanged += 1
            else:
                restores.setdefault(cid, []).append(plan)
    report.counts["changed"] += len(restores)
    if report.dry_run or not restores:
        for rs in restores.values():
            _restored(report, rs)
        return

    updates = [
        FieldUpdate(cid, {r.field: r.restore for r in rs}, object_type=current[cid].object_type)
        for cid, rs in restores.items()
    ]
    results = {(r.requested_id or r.contact_id): r for r in adapter.write(updates)}
    audit: list[FieldChange] = []
    unassigned: list[str] = []
    for cid, rs in restores.items():
        result = results.get(cid)
        ok = result is not None and result.status is WriteStatus.OK
        status = AuditStatus.OK if ok else AuditStatus.FAILED
        audit.extend(FieldChange(cid, r.field, r.current, r.restore, AuditAction.REVERT, status) for r in rs)
        if ok:
            _restored(report, rs)
            report.counts["written"] += 1
            if any(r.field == OWNER_FIELD for r in rs):
                unassigned.append(cid)
        else:
            why = (result.error or result.error_code or str(result.status)) if result else "no result returned"
            report.failed.append((cid, redact(why)))
            report.counts["failed"] += 1
    assert report.run_id is not None
    with store.transaction():
        store.record_writes(report.run_id, crm, audit, clock())
        # the owner leadsync gave is undone: a sticky assignment left behind would read as a human's
        # clearing it and stop leadsync from ever assigning the contact again
        report.counts["owners_unassigned"] += store.clear_assignments(crm, unassigned)


def _restored(report: RevertReport, restores: Sequence[FieldRestore]) -> None:
    report.restored_fields += len(restores)
    report.restored_contacts += 1
    room = DETAIL_LIMIT - len(report.restores)
    if room > 0:
        report.restores.extend(restores[:room])


def _decide(
    contact: Contact, fname: str, before: FieldValue, wrote: FieldValue, last_written: dict[str, FieldValue]
) -> FieldRestore | Conflict | None:
    if fname not in contact.fields:
        return Conflict(
            contact.id, fname, wrote, None, before, "the CRM did not return this field, so leadsync cannot check it"
        )
    now = contact.fields[fname]
    if same_value(now, wrote):
        return None if same_value(before, wrote) else FieldRestore(contact.id, fname, now, before)
    if same_value(now, before):
        return None
    if fname in last_written and same_value(now, last_written[fname]):
        reason = "a later leadsync run changed it since"
    else:
        reason = "changed in the CRM since (by a person or another tool)"
    return Conflict(contact.id, fname, wrote, now, before, reason)


def describe(report: RevertReport) -> Sequence[str]:
    """The report as sentences for the terminal."""
    target = report.target
    fields, contacts = report.restored_fields, report.restored_contacts
    verb = "would restore" if report.dry_run else "restored"
    head = f"Revert of run {target.id} ({target.kind}, {target.started_at.isoformat(timespec='seconds')})"
    if report.run_id is not None:
        head += f", recorded as run {report.run_id}"
    lines = [
        f"{head}: {report.status}{' (dry run: nothing written)' if report.dry_run else ''}.",
        f"{verb} {fields} field(s) on {contacts} contact(s); {len(report.conflicts)} conflict(s) left alone; "
        f"{report.unchanged} field(s) already back to their old value; {len(report.failed)} contact(s) failed; "
        f"{len(report.missing)} contact(s) no longer in the CRM.",
    ]
    if report.error:
        lines.append(report.error)
    return lines
