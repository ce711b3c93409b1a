"""The sync pipeline: read -> score -> decide -> diff -> write -> record, one batch at a time.

Data flows one way.  For each page of contacts the adapter yields:

1. read the contacts' activities (one batched read per page);
2. score every contact with the model and ``now``;
3. let the ``Planner`` decide the changes (policies, write modes, what the CRM holds now);
4. write only the contacts with changes, in the CRM's largest batches;
5. in ONE state transaction: audit rows and written values for what landed, quarantine for what the CRM
   refused, the scoring inputs (for time-driven rescoring), and the page's cursor.

Memory stays flat: nothing but the current page is held.  A crash loses nothing: the cursor only moves
once a page is recorded, and the changes about to be written are saved first as an "in-flight" record, so
a rerun that finds them already in the CRM records them as written instead of writing them again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import CountsContacts, CRMAdapter, ReadsRemovals, Removal, ReportsListingPages
from connectors.errors import ConnectorError, QuotaExhausted
from connectors.http import redact
from connectors.paging import chunks
from connectors.records import Activity, Contact, FieldUpdate, WriteStatus
from scoring import Model, ScoreResult, score
from sync.pipeline_parts import (
    NullProgress,
    PageHooks,
    PageWatch,
    PlanWriter,
    Progress,
    RunSummary,
    _Batch,
    _change_kind,
    _gone,
    _inflight,
    _object_type,
    _PageOutcome,
    is_echo,
)
from sync.policies import Change, Planner, RoundRobin, same_value
from sync.removals import RemovalBook
from sync.state import (
    Assignment,
    AuditAction,
    AuditStatus,
    FieldChange,
    InflightWrite,
    RoundRobinState,
    RunKind,
    RunStatus,
    ScoringInputs,
    StateStore,
)

log = logging.getLogger("leadsync.sync")

BACKFILL_STREAM = "backfill"
CONTACTS_STREAM = "contacts"
ACTIVITIES_STREAM = "activities"
REMOVALS_STREAM = "removals"
CURSOR_OVERLAP = timedelta(minutes=5)  # incremental syncs after a backfill re-read its last minutes
ABORTED = (
    "aborted by a second Ctrl-C before the batch in flight was recorded; "
    "the next run resumes from the last recorded batch"
)


class Pipeline(PageHooks):
    def __init__(
        self,
        *,
        crm: str,
        adapter: CRMAdapter,
        store: StateStore,
        model: Model,
        planner: Planner,
        clock: Callable[[], datetime],
        batch_size: int = 500,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        plan_dir: Path | None = None,
        on_p1: Callable[[Contact, ScoreResult], None] | None = None,
        calls_baseline: Mapping[str, int] | None = None,
        describe_error: Callable[[ConnectorError], str] | None = None,
    ):
        self.crm = crm
        self.adapter = adapter
        self.store = store
        self.model = model
        self.planner = planner
        self.clock = clock
        self.batch_size = batch_size
        self.progress = progress or NullProgress()
        self.stop = stop or threading.Event()
        self.plan_dir = plan_dir
        self.on_p1 = on_p1
        self.watch = PageWatch()  # the P1 alert; sync.leads.LeadWatch adds notifications and SLA tracking
        # calls the adapter had made before this run (an adapter may serve several runs)
        self._calls_baseline = dict(calls_baseline) if calls_baseline is not None else None
        # a connector's error as the user reads it (the App names the setting of an unreachable CRM)
        self.describe_error = describe_error or (lambda exc: redact(str(exc)))
        self._inflight: dict[str, InflightWrite] = {}
        self._removals = RemovalBook(crm, store)
        self._pending_quarantine: list[tuple[str, str, dict[str, Any]]] = []
        self._stored_activities: dict[str, list[Activity]] = {}

    # -- entry points ------------------------------------------------------------------------------------
    def backfill(self, *, since: datetime | None = None, limit: int | None = None, dry_run: bool = False) -> RunSummary:
        """Score every contact (changed since ``since``); resumable from where an earlier backfill stopped."""
        started = self.clock()
        saved = None if dry_run else self.store.get_cursor(self.crm, BACKFILL_STREAM)
        state: dict[str, Any] = json.loads(saved) if saved else {}
        if not state:
            state = {"started_at": started.isoformat(), "since": since.isoformat() if since else None, "cursor": None}
            if since is not None:
                state["cursor"] = self.adapter.cursor_at(since)
        else:
            log.info("resuming the backfill started at %s", state.get("started_at"))

        def batches() -> Iterator[_Batch]:
            # a resumed backfill counts what the runs before it did: it ends at 5000/5000, not 3000/5000
            done_before = int(state.get("done") or 0)
            left = self._estimate(state.get("cursor"))
            if left is not None and limit is not None:
                left = min(left, limit)
            unrecorded = sorted(self._inflight) if saved else []
            total = None if left is None else done_before + len(unrecorded) + left
            self.progress.start(total, done=done_before)
            # Resuming: the contacts a killed run wrote without recording come first, by id, wherever their
            # writes moved them in the CRM's change order, so what landed is recorded and only the rest written.
            # Those a ``limit`` stopped inside the page after the cursor had already done are skipped.
            done: set[str] = set(state.pop("page_done", None) or ())
            for chunk in chunks(unrecorded, self.batch_size):
                contacts = self.adapter.get_contacts(chunk)
                done.update(c.id for c in contacts)
                state["done"] = int(state.get("done") or 0) + len(contacts)
                yield _Batch(contacts)
            seen = 0
            for page in self.adapter.read_contacts(state.get("cursor")):
                fresh = [c for c in page.contacts if c.id not in done]
                contacts = fresh if limit is None else fresh[: max(limit - seen, 0)]
                seen += len(contacts)
                if len(contacts) < len(fresh):
                    # stopped inside this page: keep the cursor before it, with the ids done in it, so a resumed
                    # backfill reads the page again and skips those (their writes may have moved them elsewhere)
                    state["page_done"] = sorted(done & {c.id for c in page.contacts} | {c.id for c in contacts})
                    state["done"] = int(state.get("done") or 0) + len(contacts)
                    yield _Batch(contacts, json.dumps(state), BACKFILL_STREAM)
                    return
                state["cursor"] = page.cursor
                state["done"] = int(state.get("done") or 0) + len(contacts)  # saved with the cursor, once recorded
                yield _Batch(contacts, json.dumps(state), BACKFILL_STREAM)
                if limit is not None and seen >= limit:
                    return

        summary = self._run(RunKind.BACKFILL, batches(), dry_run=dry_run)
        if summary.status in (RunStatus.OK, RunStatus.PARTIAL) and not dry_run and limit is None:
            # the backfill is complete: hand over to incremental syncs from the moment it started
            backfill_started = datetime.fromisoformat(state["started_at"])
            handover = self.adapter.cursor_at(backfill_started - CURSOR_OVERLAP)
            now = self.clock()
            with self.store.transaction():
                self.store.set_cursor(self.crm, BACKFILL_STREAM, None, now)
                if self.store.get_cursor(self.crm, CONTACTS_STREAM) is None:
                    self.store.set_cursor(self.crm, CONTACTS_STREAM, handover, now)
                if self.store.get_cursor(self.crm, ACTIVITIES_STREAM) is None:
                    self.store.set_cursor(self.crm, ACTIVITIES_STREAM, handover, now)
        return summary

    def sync(self, *, dry_run: bool = False) -> RunSummary:
        """One incremental run: contacts changed since the cursor, contacts with new activities, quarantine."""

        def batches() -> Iterator[_Batch]:
            self.progress.start(None)
            done: set[str] = set()
            retry_ids = [q.contact_id for q in self.store.quarantine_list(self.crm)]
            yield from self._removal_batches()
            for chunk in chunks(retry_ids, self.batch_size):
                contacts = self.adapter.get_contacts(chunk)
                done.update(c.id for c in contacts)
                yield _Batch(contacts)
            for page in self.adapter.read_contacts(self.store.get_cursor(self.crm, CONTACTS_STREAM)):
                contacts = self._unprocessed([c for c in page.contacts if c.id not in done])
                echoes = self._echoes(contacts)
                contacts = [c for c in contacts if c.id not in echoes]
                # echoes stay out of ``done``: a new activity in the activity stream still gets them rescored
                done.update(c.id for c in contacts)
                gone = tuple(Removal(cid) for cid in page.deleted_ids)  # deletions the same read returned
                yield _Batch(contacts, page.cursor, CONTACTS_STREAM, echoes=len(echoes), removals=gone)
            for apage in self.adapter.read_activity_changes(self.store.get_cursor(self.crm, ACTIVITIES_STREAM)):
                ids = sorted({a.contact_id for a in apage.activities} - done)
                contacts = self.adapter.get_contacts(ids) if ids else []
                done.update(c.id for c in contacts)
                yield _Batch(contacts, apage.cursor, ACTIVITIES_STREAM)

        return self._run(RunKind.SYNC, batches(), dry_run=dry_run)

    def rescore(self, *, dry_run: bool = False, limit: int | None = None) -> RunSummary:
        """Rescore the contacts whose score changes by time alone, from stored inputs: no CRM reads."""
        now = self.clock()
        inputs_iter = self.store.iter_due(self.crm, now, batch_size=self.batch_size, limit=limit)

        def batches() -> Iterator[_Batch]:
            self.progress.start(self.store.count_due(self.crm, now))
            seen: set[str] = set()
            for due in inputs_iter:
                # a contact rescored in this run whose next change is again <= now comes back: once is enough
                batch = [item for item in due if item.contact_id not in seen]
                ids = [item.contact_id for item in batch]
                seen.update(ids)
                written = self.store.get_written(self.crm, ids)
                contacts = []
                for item in batch:
                    # what the CRM holds now, as far as we know: the fields read last plus what we wrote since
                    fields = dict(item.contact.fields)
                    fields.update(written.get(item.contact_id, {}))
                    contacts.append(
                        Contact(
                            id=item.contact.id,
                            updated_at=item.contact.updated_at,
                            fields=fields,
                            object_type=item.contact.object_type,
                            protected=item.contact.protected,
                            merged_from=item.contact.merged_from,
                        )
                    )
                    self._stored_activities[item.contact_id] = list(item.activities)
                yield _Batch(contacts)

        return self._run(RunKind.RESCORE, batches(), dry_run=dry_run, activities_from_store=True)

    # -- the loop ----------------------------------------------------------------------------------------
    def _estimate(self, cursor: str | None) -> int | None:
        if not isinstance(self.adapter, CountsContacts):
            return None
        try:
            return int(self.adapter.count_contacts(cursor))
        except ConnectorError:
            return None

    def _run(
        self, kind: RunKind, batches: Iterable[_Batch], *, dry_run: bool, activities_from_store: bool = False
    ) -> RunSummary:
        t0 = time.monotonic()
        now = self.clock()
        baseline = self._calls_baseline
        if baseline is None:
            baseline = dict(self.adapter.usage().calls_by_endpoint)
        self._calls_baseline = None  # a second run through this pipeline counts from its own start
        self.store.mark_interrupted_runs(self.crm, now)
        run_id = self.store.start_run(self.crm, kind, model_version=self.model.version, dry_run=dry_run, now=now)
        summary = RunSummary(run_id=run_id, kind=str(kind), status=RunStatus.RUNNING, dry_run=dry_run)
        plan = PlanWriter(self._plan_path(kind, now) if dry_run and self.plan_dir else None)
        self._load_inflight()
        rr_state = self.store.get_round_robin(self.crm)
        self.planner.round_robin = RoundRobin(dict(rr_state.counters))
        reporter = self.adapter if isinstance(self.adapter, ReportsListingPages) else None
        listing_pages = reporter is not None
        if reporter is not None:
            reporter.on_listing_page = self.progress.read
        try:
            for batch in batches:
                if batch.removals:
                    self._settle_removals(batch, summary, dry_run)
                if not (listing_pages and batch.stream in (BACKFILL_STREAM, CONTACTS_STREAM)):
                    self.progress.read(len(batch.contacts))  # the adapter told each API page of these itself
                summary.counts["echoes"] += batch.echoes
                if batch.contacts:
                    self._process(batch, summary, plan, run_id, dry_run, activities_from_store)
                elif batch.cursor is not None and not dry_run:
                    with self.store.transaction():
                        self.store.set_cursor(self.crm, batch.stream or CONTACTS_STREAM, batch.cursor, self.clock())
                usage = self.adapter.usage()
                calls = usage.total_calls - sum(baseline.values())
                self.progress.advance(len(batch.contacts), calls=calls, quota_left=usage.quota_left)
                if self.stop.is_set():
                    summary.status = RunStatus.INTERRUPTED
                    summary.error = "stopped on request after finishing the batch in flight"
                    break
            else:
                summary.status = RunStatus.PARTIAL if summary.counts["quarantined"] else RunStatus.OK
        except QuotaExhausted as exc:
            summary.status = RunStatus.FAILED
            message = redact(str(exc))
            if "cursor" not in message:
                message += " The cursor is saved; the next run continues from here."
            summary.error = message
            summary.exit_code = 3
            summary.quota_exhausted = True
            summary.quota_reset_at = exc.reset_at
        except ConnectorError as exc:
            summary.status = RunStatus.FAILED
            summary.error = self.describe_error(exc)
            summary.exit_code = exc.exit_code if exc.exit_code in (2, 3) else 1
        except KeyboardInterrupt:
            summary.status = RunStatus.INTERRUPTED
            summary.error = ABORTED
            summary.exit_code = 130
            raise
        except BaseException as exc:
            summary.status = RunStatus.FAILED
            summary.error = redact(f"{type(exc).__name__}: {exc}")
            summary.exit_code = 1
            raise
        finally:
            if reporter is not None:
                reporter.on_listing_page = None
            plan.close()
            self.progress.stop()
            usage = self.adapter.usage()
            summary.api_calls = {
                endpoint: n - baseline.get(endpoint, 0)
                for endpoint, n in usage.calls_by_endpoint.items()
                if n - baseline.get(endpoint, 0) > 0
            }
            summary.quota_left = usage.quota_left
            summary.duration = time.monotonic() - t0
            summary.plan_path = plan.path
            summary.plan_preview = plan.preview
            if summary.status is RunStatus.PARTIAL and summary.exit_code == 0:
                summary.exit_code = 1
            self.store.finish_run(
                run_id,
                status=summary.status,
                counts=dict(summary.counts),
                api_calls=summary.api_calls,
                quota_left=summary.quota_left,
                error=summary.error,
                now=self.clock(),
            )
        return summary

    def _plan_path(self, kind: RunKind, now: datetime) -> Path:
        assert self.plan_dir is not None
        return self.plan_dir / f"plan-{self.crm}-{kind}-{now.strftime('%Y%m%dT%H%M%SZ')}.csv"

    def _load_inflight(self) -> None:
        self._inflight = self.store.inflight_writes(self.crm)

    def _process(
        self, batch: _Batch, summary: RunSummary, plan: PlanWriter, run_id: int, dry_run: bool, from_store: bool
    ) -> None:
        contacts = batch.contacts
        summary.counts["read"] += len(contacts)
        self._removals.settle_merges_read(contacts, summary, dry_run, self._inflight)
        ids = [c.id for c in contacts]
        if from_store:
            activities: dict[str, list[Activity]] = {cid: self._stored_activities.pop(cid, []) for cid in ids}
        else:
            activities = {cid: list(acts) for cid, acts in self.adapter.read_activities(ids).items()}
        now = self.clock()
        assignments = self.store.get_assignments(self.crm, ids)
        for contact in contacts:
            self.planner.learn(contact)

        results: dict[str, ScoreResult] = {}
        changes_by_contact: dict[str, list[Change]] = {}
        reconciled: list[tuple[int, FieldChange]] = []
        for contact in contacts:
            acts = activities.get(contact.id, [])
            try:
                result = score(self.model, contact, acts, now)
            except Exception as exc:  # a bug, not bad data: quarantine the record, keep the run going
                log.exception("scoring failed for contact %s", contact.id)
                self._quarantine_later(summary, contact.id, f"scoring failed: {type(exc).__name__}: {exc}", {})
                continue
            results[contact.id] = result
            summary.counts["scored"] += 1
            sticky = assignments.get(contact.id)
            changes = self.planner.plan(contact, result, sticky_owner=sticky.owner_id if sticky else None)
            reconciled.extend(self._reconcile_inflight(contact))
            if changes:
                changes_by_contact[contact.id] = changes
        summary.counts["changed"] += len(changes_by_contact)
        by_id = {c.id: c for c in contacts}
        for cid, changes in changes_by_contact.items():
            for change in changes:
                summary.changes_by_kind[_change_kind(change, results[cid])] += 1
                if dry_run:
                    plan.add(change, by_id.get(cid))

        updates = [
            FieldUpdate(cid, {c.field: c.new for c in changes}, object_type=_object_type(contacts, cid))
            for cid, changes in changes_by_contact.items()
        ]
        page = _PageOutcome(
            contacts,
            activities,
            results,
            changes_by_contact,
            reconciled=reconciled,
            cursor=batch.cursor,
            stream=batch.stream,
        )
        if updates and not dry_run:
            self._save_inflight(run_id, changes_by_contact)
            try:
                page = replace(page, write_results=self.adapter.write(updates))
            except QuotaExhausted as exc:
                # record what landed before the quota ran out; the cursor stays, so the rest is retried
                partial = exc.results
                if partial:
                    landed = {r.requested_id or r.contact_id for r in partial if r.ok}
                    landed_page = replace(
                        page,
                        contacts=[c for c in contacts if c.id in landed],
                        changes={cid: ch for cid, ch in changes_by_contact.items() if cid in landed},
                        write_results=[r for r in partial if r.ok],
                        cursor=None,
                        stream=None,
                        unsent=[cid for cid in changes_by_contact if cid not in landed],
                    )
                    self._record(landed_page, summary, run_id)
                raise

        self.finish_page(page, summary, plan, run_id, dry_run)

    def _record(self, page: _PageOutcome, summary: RunSummary, run_id: int) -> None:
        now = self.clock()
        audit: list[FieldChange] = []
        assignments: list[Assignment] = []
        succeeded: list[str] = []
        failures: list[tuple[str, str, dict[str, Any]]] = []
        # what earlier runs left in flight for these contacts is settled by this record: reconciled or rewritten
        settled = {c.id for c in page.contacts if c.id in page.results} | {ch.contact_id for _, ch in page.reconciled}
        for cid in settled:
            self._inflight.pop(cid, None)
        refused: list[InflightWrite] = []
        gone: dict[str, str | None] = {}  # written ids the CRM no longer has: merged away (survivor) or deleted
        by_requested = {r.requested_id or r.contact_id: r for r in page.write_results}
        for cid, changes in page.changes.items():
            res = by_requested.get(cid)
            payload = {c.field: c.new for c in changes}
            if res is not None and _gone(res):
                gone[cid] = None
                audit.extend(
                    FieldChange(cid, c.field, c.old, c.new, AuditAction.WRITE, AuditStatus.FAILED) for c in changes
                )
                continue
            if res is None or res.status is not WriteStatus.OK:
                status = res.status if res else WriteStatus.RETRY
                reason = (res.error or res.error_code) if res else "no result returned for this record"
                if status is WriteStatus.SKIPPED:
                    continue
                failures.append((cid, f"{status}: {redact(reason)}", payload))
                audit.extend(
                    FieldChange(cid, c.field, c.old, c.new, AuditAction.WRITE, AuditStatus.FAILED) for c in changes
                )
                # a refusal can hide a write that landed (a timed-out request applied late, its retry refused):
                # kept in flight, so the run that next finds these values in the CRM records them
                refused.append(_inflight(cid, run_id, changes))
                self._inflight[cid] = refused[-1]
                continue
            succeeded.append(cid)
            audit.extend(FieldChange(cid, c.field, c.old, c.new) for c in changes)
            if res.contact_id and res.contact_id != cid:
                gone[cid] = res.contact_id  # the CRM wrote to the record this id was merged into
            for change in changes:
                if change.kind == "owner" and change.new:
                    assignments.append(Assignment(cid, str(change.new), self.planner.policies.owners.strategy, now))
        summary.counts["written"] += len(succeeded)
        summary.counts["failed"] += len(failures)
        summary.counts["quarantined"] += len(failures)

        inputs = [
            ScoringInputs(
                contact=c,
                activities=tuple(page.activities.get(c.id, [])),
                model_version=self.model.version,
                scored_at=now,
                next_change_at=page.results[c.id].next_change_at,
                total=page.results[c.id].total,
                stage=page.results[c.id].stage,
                tier=page.results[c.id].tier,
                segments=page.results[c.id].segments,
            )
            for c in page.contacts
            if c.id in page.results
        ]
        known_before = self.watch.before(page)  # read before this page's inputs replace it
        with self.store.transaction():
            if audit:
                self.store.record_writes(run_id, self.crm, audit, now)
            for earlier_run, field_change in page.reconciled:
                self.store.record_writes(earlier_run, self.crm, [field_change], now)
            for cid, reason, payload in failures:
                self.store.quarantine_add(self.crm, cid, reason=reason, payload=payload, run_id=run_id, now=now)
            for cid, reason, payload in self._pending_quarantine:
                self.store.quarantine_add(self.crm, cid, reason=reason, payload=payload, run_id=run_id, now=now)
            self._pending_quarantine = []
            released = [c.id for c in page.contacts if c.id in page.results and c.id not in {f[0] for f in failures}]
            if released:
                self.store.quarantine_release(self.crm, released)
            if assignments:
                self.store.set_assignments(self.crm, assignments)
                self.store.set_round_robin(
                    self.crm, RoundRobinState(counters=dict(self.planner.round_robin.counts)), now=now
                )
            if inputs:
                self.store.save_inputs(self.crm, inputs)
            self.store.settle_inflight(self.crm, sorted(settled | set(page.unsent)))
            earlier = [self._inflight[cid] for cid in page.unsent if cid in self._inflight]
            self.store.save_inflight(self.crm, [*refused, *earlier], now)
            if gone:
                self._removals.remove(gone, summary, self._inflight)
            if page.cursor is not None:
                self.store.set_cursor(self.crm, page.stream or CONTACTS_STREAM, page.cursor, now)
        summary.new_p1 += self.watch.recorded(page, known_before, now, on_p1=self.on_p1, written=succeeded)

    # -- contacts deleted or merged away in the CRM ------------------------------------------------------
    def _removal_batches(self) -> Iterator[_Batch]:
        """The adapter's removals since the last run, page by page, then the survivors they name (rescored
        now, so what moved to them is checked against what the CRM holds)."""
        if not isinstance(self.adapter, ReadsRemovals):
            return
        cursor = self.store.get_cursor(self.crm, REMOVALS_STREAM)
        if cursor is None:  # first run: nothing older matters, a backfill never saw ids removed before it
            cursor = self.adapter.removals_cursor_at(self.clock() - CURSOR_OVERLAP)
        for page in self.adapter.read_removals(cursor):
            survivors = sorted({r.survivor_id for r in page.removals if r.survivor_id})
            yield _Batch([], page.cursor, REMOVALS_STREAM, removals=page.removals)
            for chunk in chunks(survivors, self.batch_size):
                yield _Batch(self.adapter.get_contacts(chunk))

    def _settle_removals(self, batch: _Batch, summary: RunSummary, dry_run: bool) -> None:
        """Move (merged) or forget (deleted) what is kept about removed ids (with the cursor of removals alone)."""
        removed = {r.id: r.survivor_id for r in batch.removals if r.id != r.survivor_id}
        if dry_run:
            self._removals.count(removed, summary)
            return
        with self.store.transaction():
            self._removals.remove(removed, summary, self._inflight)
            if batch.cursor is not None and not batch.contacts:
                self.store.set_cursor(self.crm, batch.stream or REMOVALS_STREAM, batch.cursor, self.clock())
                batch.cursor = None

    def _unprocessed(self, contacts: list[Contact]) -> list[Contact]:
        """Contacts minus those already processed exactly as read (same change time, same fields, same model):
        an incremental read re-reads an overlap behind its cursor, and what it finds again is not scored twice."""
        stored = self.store.load_inputs(self.crm, [c.id for c in contacts])
        fresh = []
        for contact in contacts:
            last = stored.get(contact.id)
            if (
                last is not None
                and last.model_version == self.model.version
                and last.contact.updated_at == contact.updated_at
                and dict(last.contact.fields) == dict(contact.fields)
            ):
                continue
            fresh.append(contact)
        return fresh

    def _echoes(self, contacts: Sequence[Contact]) -> set[str]:
        """The contacts whose change is leadsync's own write: what they hold now is what they held when last
        scored, overlaid with what leadsync wrote since (see ``is_echo``).  A contact with a write in flight
        is never one: its rerun must find and record what landed."""
        candidates = [c.id for c in contacts if c.id not in self._inflight]
        stored = self.store.load_inputs(self.crm, candidates) if candidates else {}
        if not stored:
            return set()
        written = self.store.get_written(self.crm, list(stored))
        return {
            c.id
            for c in contacts
            if c.id in stored and is_echo(c, stored[c.id], written.get(c.id, {}), self.model.version)
        }

    # -- crash safety ------------------------------------------------------------------------------------
    def _save_inflight(self, run_id: int, changes_by_contact: dict[str, list[Change]]) -> None:
        """Before writing, remember what is about to be written (with any left by an earlier crash)."""
        writes = [_inflight(cid, run_id, changes) for cid, changes in changes_by_contact.items()]
        with self.store.transaction():
            self.store.save_inflight(self.crm, writes, self.clock())

    def _reconcile_inflight(self, contact: Contact) -> list[tuple[int, FieldChange]]:
        """Changes an interrupted run made before it could record them: recorded now, never repeated."""
        pending = self._inflight.get(contact.id)  # settled in _record, with the batch: a crash before keeps it
        if not pending:
            return []
        done = []
        for fname, (old, new) in pending.changes.items():
            if same_value(contact.get(fname), new) and not same_value(old, new):
                done.append((pending.run_id, FieldChange(contact.id, fname, old, new)))
        return done

    def _quarantine_later(self, summary: RunSummary, cid: str, reason: str, payload: dict[str, Any]) -> None:
        self._pending_quarantine.append((cid, redact(reason), payload))
        summary.counts["quarantined"] += 1
