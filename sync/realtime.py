"""The webhook worker: queued events -> the contacts they name -> one run that scores and writes them -> ack.

``EventWorker.process_batch()`` does one batch; ``start()`` runs it in a loop on a thread of its own (the
daemon and ``leadsync serve`` do).  A batch:

1. waits until the queue holds ``realtime.batch_events`` events or its oldest is ``batch_wait_seconds`` old
   (several events for one contact then cost one read), takes the CRM's run lock without waiting (a sync
   holding it will have read those changes anyway; the events wait for the next batch), and claims events
   for ``lease_seconds``;
2. maps each event to a contact id (``sync.server.targets``); an event naming none is acked with the reason;
   an event saying an id is gone (a Pipedrive person ``delete``: deleted, or merged into ``merged_to_id``)
   is a ``Removal``, settled in the run as a sync settles the removals it reads (``sync.removals``: a
   merge moves written values, sticky owner and quarantine to the survivor, which is then rescored; a
   deletion forgets the id) and counted ``merged``/``deleted`` in its summary; events naming a removed id
   are settled with it, so nothing is read from or written to that id again;
3. runs the pipeline over those contacts (``RunKind.REALTIME``): ``get_contacts``, their activities, the
   shared engine, the planner, the writer and the audit, exactly as a sync does, so history, revert and
   quarantine see it.  The plan compares with what the CRM holds now: an event processed twice writes once;
4. acks the events.  A contact the CRM no longer returns, or a run that failed (CRM down, quota), leaves its
   events claimed: the lease hands them out again, and after ``max_attempts`` they are acked with the reason,
   so nothing blocks the queue (the next incremental sync still reads whatever changed).

A worker killed mid-batch leaves its events claimed and unacked; after the lease the next worker processes
them again, and the pipeline's in-flight record turns writes that had landed into audit rows, not new writes.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge, Histogram

from connectors.base import ForgetsRunCaches, Removal
from connectors.errors import ConnectorError
from connectors.http import redact
from connectors.paging import chunks
from sync.app import App
from sync.metrics import Metrics
from sync.pipeline import Pipeline, RunSummary
from sync.pipeline_parts import _Batch
from sync.policies import writeback_specs
from sync.server.targets import Target, event_target
from sync.settings import Settings
from sync.state import QueuedEvent, RunKind, RunStatus, StateStore

log = logging.getLogger("leadsync.realtime")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class BatchReport:
    """What one batch did: events claimed, acked after processing, acked with a reason, left for a retry."""

    claimed: int = 0
    processed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> events
    retried: int = 0
    contacts: int = 0
    summary: RunSummary | None = None

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count


class QueueMetrics:
    """The queue's series on the daemon's registry: depth, lag, events by outcome, change-to-written latency."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.depth = Gauge("leadsync_webhook_queue_depth", "Webhook events not yet acked.", ["crm"], registry=registry)
        self.lag = Gauge(
            "leadsync_webhook_queue_lag_seconds",
            "Age of the oldest webhook event not yet acked (0 when the queue is empty).",
            ["crm"],
            registry=registry,
        )
        self.events = Counter(
            "leadsync_webhook_events_done",
            "Webhook events acked by the worker: processed, or dropped (acked with a reason).",
            ["crm", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "leadsync_webhook_event_latency_seconds",
            "From the CRM's change (the event's time) to its contact's run being recorded.",
            ["crm"],
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 900),
            registry=registry,
        )


def realtime_run(pipe: Pipeline, ids: Sequence[str], removals: Sequence[Removal] = ()) -> tuple[RunSummary, set[str]]:
    """One ``REALTIME`` run over ``ids`` through the sync's own loop, ``removals`` settled first; returns it and
    the ids the CRM returned (a survivor's merged-away ids count as returned: it was scored in their place)."""
    found: set[str] = set()
    # an adapter shared with earlier runs may hold activities read before these events: not to be reused
    if isinstance(pipe.adapter, ForgetsRunCaches):
        pipe.adapter.forget_run_caches()

    def batches() -> Iterator[_Batch]:
        pipe.progress.start(len(ids))
        if removals:  # before the survivors are read, so what moved to them is planned against the CRM
            yield _Batch([], removals=tuple(removals))
        for chunk in chunks(list(ids), pipe.batch_size):
            contacts = pipe.adapter.get_contacts(chunk)
            for contact in contacts:
                found.add(contact.id)
                found.update(contact.merged_from)
            yield _Batch(contacts)

    # the pipeline's loop is the one place that plans, writes, audits and records a run: reused, not copied
    return pipe._run(RunKind.REALTIME, batches(), dry_run=False), found


def _final_survivors(removals: dict[str, Removal]) -> dict[str, Removal]:
    """Chains of merges in one batch (a into b, b into c) point at the last survivor; one ending in a deletion
    is a merge into an id the same batch deleted, settled as such (moved, then forgotten)."""
    out: dict[str, Removal] = {}
    for gone, removal in removals.items():
        survivor, seen = removal.survivor_id, {gone}
        while survivor is not None and survivor not in seen and (nxt := removals.get(survivor)) is not None:
            if nxt.survivor_id is None:
                break
            seen.add(survivor)
            survivor = nxt.survivor_id
        out[gone] = Removal(gone, survivor, removal.removed_at, removal.object_type)
    return out


def _found(cid: str, found: set[str], crm: str) -> bool:
    if cid in found:
        return True
    # Salesforce ids come as 15 or 18 characters; the first 15 identify the record
    return crm == "salesforce" and cid[:15] in {f[:15] for f in found}


class EventWorker:
    """Drains one CRM's intake queue; ``app_factory`` builds a fresh ``App`` per batch (the daemon's shares
    one adapter), ``mutex`` keeps it from running beside the daemon's other jobs in this process."""

    def __init__(
        self,
        settings: Settings,
        *,
        app_factory: Callable[[], App],
        clock: Callable[[], datetime] = _utcnow,
        metrics: Metrics | None = None,
        mutex: threading.Lock | None = None,
        on_p1: Callable[..., None] | None = None,
        on_run: Callable[[RunSummary, App], None] | None = None,
    ) -> None:
        self.settings = settings
        self.crm = settings.crm
        self.config = settings.realtime
        self.app_factory = app_factory
        self.clock = clock
        self.queue_metrics = QueueMetrics(metrics) if metrics is not None else None
        self.mutex = mutex or threading.Lock()
        self.on_p1 = on_p1
        self.on_run = on_run
        self.stop = threading.Event()
        self.batches = 0
        self._thread: threading.Thread | None = None

    # -- the loop ----------------------------------------------------------------------------------------
    def start(self) -> EventWorker:
        self._thread = threading.Thread(target=self.run_forever, name="leadsync-worker", daemon=True)
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop after the batch in flight (its events are acked, or left claimed for the next worker)."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def run_forever(self) -> None:
        log.info("webhook worker started for %s", self.crm)
        while not self.stop.is_set():
            try:
                report = self.process_batch()
            except Exception:  # the worker must outlive a bad batch; its events come back after the lease
                log.exception("the webhook worker's batch failed")
                report = None
            if report is None or report.claimed == 0:
                self.stop.wait(self.config.poll_seconds)

    def ready(self, store: StateStore, now: datetime) -> bool:
        """Whether a batch should start now: enough events waiting, or the oldest has waited long enough."""
        pending = store.count_pending_events(self.crm)
        oldest = store.oldest_pending_event(self.crm) if pending else None
        if self.queue_metrics is not None:
            self.queue_metrics.depth.labels(self.crm).set(pending)
            lag = (now - oldest).total_seconds() if oldest is not None else 0.0
            self.queue_metrics.lag.labels(self.crm).set(max(lag, 0.0))
        if not pending or oldest is None:
            return False
        waited = now - oldest
        return pending >= self.config.batch_events or waited >= timedelta(seconds=self.config.batch_wait_seconds)

    # -- one batch ---------------------------------------------------------------------------------------
    def process_batch(self, *, wait_for_batch: bool = True) -> BatchReport | None:
        """Claim, process and ack one batch; None when there was nothing to do or the run lock was busy."""
        if not self.mutex.acquire(blocking=False):
            return None
        app = self.app_factory()
        try:
            store = app.store
            if wait_for_batch and not self.ready(store, self.clock()):
                return None
            lock = store.acquire_lock(self.crm, wait=False)
            if lock is None:
                return None
            with lock:
                claimed = store.claim_events(
                    self.crm,
                    self.config.batch_events,
                    now=self.clock(),
                    lease=timedelta(seconds=self.config.lease_seconds),
                )
                if not claimed:
                    return None
                report = self._process(app, claimed)
            self.batches += 1
            self._log(report)
            return report
        finally:
            app.close(keep_adapter=True)
            self.mutex.release()

    def _process(self, app: App, claimed: list[QueuedEvent]) -> BatchReport:
        store = app.store
        report = BatchReport(claimed=len(claimed))
        own = {spec.name for spec in writeback_specs(app.fields_config, self.crm)}
        by_contact: dict[str, list[QueuedEvent]] = defaultdict(list)
        dropped: dict[str, list[int]] = defaultdict(list)
        removals: dict[str, Removal] = {}
        settled: list[QueuedEvent] = []  # done once the run has settled this batch's removals
        for queued in claimed:
            try:
                target = event_target(queued.event, salesforce_object=self.settings.salesforce.object, own_fields=own)
            except Exception as exc:  # one malformed event must not hold back the batch it came in
                log.warning("webhook event %s cannot be read: %s", queued.id, type(exc).__name__)
                target = Target(None, f"the event cannot be read ({type(exc).__name__})")
            gone = target.removal
            if gone is not None and (gone.id not in removals or gone.survivor_id):  # a merge says more
                removals[gone.id] = gone
            if target.contact_id is not None:
                by_contact[target.contact_id].append(queued)
            elif gone is not None:
                settled.append(queued)
            else:
                dropped[target.reason or "names no contact"].append(queued.id)
        for reason, event_ids in dropped.items():
            self._ack(store, event_ids, reason=reason)
            report.drop(reason, len(event_ids))
        removals = _final_survivors(removals)
        for gone_id in removals:  # nothing is read from an id this batch removes: its events go with it
            settled.extend(by_contact.pop(gone_id, []))
        if not by_contact and not removals:
            return report

        ids = sorted(by_contact)
        report.contacts = len(ids)
        error: str | None = None
        found: set[str] = set()
        try:
            pipe = app.pipeline(on_p1=self.on_p1)
            with app.watched(pipe, RunKind.REALTIME.value):  # the owner hears of a new P1/SQL from this batch
                summary, found = realtime_run(pipe, ids, list(removals.values()))
            report.summary = summary
            if self.on_run is not None:
                self.on_run(summary, app)
            if summary.status not in (RunStatus.OK, RunStatus.PARTIAL):
                error = summary.error or str(summary.status)
        except ConnectorError as exc:
            error = app.describe_error(exc)
        except Exception as exc:  # a bug must not wedge the queue: the events come back, then are given up on
            log.exception("the realtime run failed")
            error = redact(f"{type(exc).__name__}: {exc}")

        done: list[QueuedEvent] = []
        groups = [(cid, events, error is None and _found(cid, found, self.crm)) for cid, events in by_contact.items()]
        if settled:
            groups.append(("", settled, error is None))
        for cid, events, ok in groups:
            if ok:
                done.extend(events)
                continue
            why = error or f"contact {cid} is not in {self.crm} (deleted or merged away?)"
            last = [q for q in events if q.attempts >= self.config.max_attempts]
            if last:
                reason = f"given up after {self.config.max_attempts} attempts: {why}"
                self._ack(store, [q.id for q in last], reason=reason)
                report.drop(reason, len(last))
            report.retried += len(events) - len(last)
        if done:
            self._ack(store, [q.id for q in done])
            report.processed = len(done)
            if self.queue_metrics is not None:
                now = self.clock()
                for queued in done:
                    self.queue_metrics.latency.labels(self.crm).observe(
                        (now - queued.event.occurred_at).total_seconds()
                    )
        return report

    def _ack(self, store: StateStore, ids: list[int], *, reason: str | None = None) -> None:
        store.ack_events(ids, self.clock(), reason=reason)
        if self.queue_metrics is not None:
            self.queue_metrics.events.labels(self.crm, "dropped" if reason else "processed").inc(len(ids))

    def _log(self, report: BatchReport) -> None:
        summary = report.summary
        counts = summary.counts if summary is not None else {}
        log.info(
            "webhook batch: %d events, %d contacts, %d processed, %d dropped, %d left for a retry, %d written, "
            "%d merged, %d deleted%s",
            report.claimed,
            report.contacts,
            report.processed,
            sum(report.dropped.values()),
            report.retried,
            counts.get("written", 0),
            counts.get("merged", 0),
            counts.get("deleted", 0),
            f" (run {summary.run_id}: {summary.status})" if summary is not None else "",
        )
        for reason, count in report.dropped.items():
            log.warning("webhook batch: %d events acked without processing: %s", count, reason)
