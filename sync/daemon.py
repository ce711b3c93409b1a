"""``leadsync daemon``: incremental syncs, the nightly rescore and the monthly calibration, on cron schedules.

APScheduler 3 (background scheduler, UTC) runs three jobs from ``settings.daemon.*_cron``: ``sync``,
``rescore`` and ``calibrate``.  Jobs run one at a time on a single worker thread (a sync and a rescore of the
same CRM must not overlap anyway), each at most one instance, with missed runs coalesced into one.
The first sync runs as soon as the daemon starts; after that each job follows its schedule.

Every job run builds its own ``App`` (so it owns its state-store connection and picks up an edited model
file) around the daemon's one adapter (``SharedAdapter``): a Salesforce password or JWT set-up logs in once,
not once per run.  The adapter is rebuilt when the fields to read change (an edited model file), after a run
that met an ``AuthError`` (the client already logs in again by itself when the CRM says the session
expired), and once a day so its caches of CRM metadata do not grow stale.  Each job takes the CRM's run
lock without waiting: when a backfill or another daemon holds it, the job is skipped and says so in the log.
When a run ends with the CRM's quota exhausted, scheduled runs are skipped until the quota resets (the
CRM's ``reset_at``, else a doubling back-off), never longer than ``daemon.quota_wait_max_seconds``.

Webhooks: when intake is configured (``serves_intake``), the daemon serves the ASGI app of ``sync.server``
(webhooks, ``/healthz``, ``/metrics``) on ``LEADSYNC_SERVER__HOST:PORT`` and runs the ``sync.realtime`` worker
on a thread of its own; otherwise ``LEADSYNC_DAEMON__METRICS_PORT`` (when set) serves the same app, its
webhook endpoints answering 404.  The fast lane (``LEADSYNC_REALTIME__FAST_LANE_SECONDS``) is a fourth job on
an executor of its own: an incremental sync every few seconds that first asks the CRM, in one call, whether
anything changed (``sync.fastlane``).  The worker's batches, the fast lane and the other jobs take one
in-process mutex: a sync waits for a batch in flight, a fast-lane tick that finds it held is skipped.

SIGTERM or SIGINT: the run in flight finishes its batch, records itself as interrupted with its cursor
saved, and the daemon exits 0.  A second signal exits at once (nothing is lost: see ``sync.pipeline``).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connectors.base import CRMAdapter
from connectors.errors import AuthError, ConnectorError, QuotaExhausted
from connectors.http import redact
from connectors.records import Contact
from scoring import ScoreResult, explain
from sync.alerts import Alerter
from sync.app import App
from sync.fastlane import fast_lane
from sync.metrics import SUCCESS, SYNC_KINDS, Health, Metrics
from sync.pipeline import RunSummary
from sync.realtime import EventWorker
from sync.settings import Settings
from sync.state import RunStatus, open_store

log = logging.getLogger("leadsync.daemon")

JOBS = ("sync", "rescore", "calibrate")
FAST_LANE = "fastlane"
QUOTA_BACKOFF_START = timedelta(minutes=5)
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# returns the alert to send when it wrote a report (None: nothing to tell)
CalibrateHook = Callable[[App, datetime], str | None]
AdapterFactory = Callable[[Settings, list[str]], CRMAdapter]
ADAPTER_MAX_AGE = timedelta(days=1)  # the shared adapter is rebuilt this often: its metadata caches stay fresh


class DaemonConfigError(Exception):
    """A daemon setting is unusable; the message names the variable."""

    exit_code = 2


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- schedules -------------------------------------------------------------------------------------------
def cron_trigger(expr: str, *, setting: str = "") -> CronTrigger:
    """A UTC trigger from a crontab line: ``minute hour day month weekday``, or six fields led by seconds.

    Weekdays follow crontab (0 or 7 = Sunday, or names), not APScheduler 3's own numbering (0 = Monday).
    """
    where = f"{setting}={expr!r}: " if setting else f"{expr!r}: "
    parts = expr.split()
    if len(parts) not in (5, 6):
        raise DaemonConfigError(
            f"{where}a schedule is a cron line of 5 fields (minute hour day month weekday), "
            f'e.g. "*/15 * * * *"; a sixth, leading field gives seconds'
        )
    second = parts.pop(0) if len(parts) == 6 else "0"
    minute, hour, day, month, weekday = parts
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_crontab_weekdays(weekday),
            timezone=UTC,
        )
    except ValueError as exc:
        raise DaemonConfigError(f"{where}{exc}") from None


def _crontab_weekdays(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if step_text and not step_text.isdigit():
            raise ValueError(f"weekday step {step_text!r} is not a number")
        if span == "*":
            low, high = 0, 6
        else:
            first, _, last = span.partition("-")
            low = _weekday(first)
            high = _weekday(last) if last else (6 if step_text else low)
            if last in ("7", "sun") and high == 0:
                high = 7
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def _weekday(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _DAYS:
        return _DAYS.index(token[:3])
    raise ValueError(f"unknown weekday {token!r}: use 0-7 (0 and 7 are Sunday) or sun, mon, ... sat")


def schedule_interval(trigger: BaseTrigger, now: datetime, samples: int = 8) -> timedelta:
    """The longest gap between the trigger's next few firings: how stale a healthy sync may get."""
    fires: list[datetime] = []
    previous: datetime | None = None
    at = now
    while len(fires) < samples:
        nxt = trigger.get_next_fire_time(previous, at)
        if nxt is None:
            break
        fires.append(nxt)
        previous, at = nxt, nxt + timedelta(microseconds=1)
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    return max(gaps) if gaps else timedelta(days=1)


def triggers_from(settings: Settings) -> dict[str, BaseTrigger]:
    d = settings.daemon
    return {
        "sync": cron_trigger(d.sync_cron, setting="LEADSYNC_DAEMON__SYNC_CRON"),
        "rescore": cron_trigger(d.rescore_cron, setting="LEADSYNC_DAEMON__RESCORE_CRON"),
        "calibrate": cron_trigger(d.calibrate_cron, setting="LEADSYNC_DAEMON__CALIBRATE_CRON"),
    }


def serves_intake(settings: Settings) -> bool:
    """Webhook intake is configured: a public URL or one CRM's webhook secret is set."""
    server = settings.server
    secrets = (server.public_url, server.hubspot_app_secret, server.pipedrive_password, server.salesforce_secret)
    return any(value is not None for value in secrets)


# -- the adapter every job shares -----------------------------------------------------------------------
class SharedAdapter:
    """One authenticated adapter for every job of a daemon, handed to each job's ``App`` as its factory."""

    def __init__(self, clock: Callable[[], datetime], max_age: timedelta = ADAPTER_MAX_AGE) -> None:
        self.clock = clock
        self.max_age = max_age
        self.adapter: CRMAdapter | None = None
        self.builds = 0
        self._read_fields: list[str] | None = None
        self._built_at: datetime | None = None

    def factory(self, build: AdapterFactory | None) -> AdapterFactory:
        """An adapter factory for one ``App``: the shared adapter, (re)built with ``build`` when needed."""

        def shared(settings: Settings, read_fields: list[str]) -> CRMAdapter:
            stale = self._built_at is not None and self.clock() - self._built_at >= self.max_age
            if self.adapter is not None and (read_fields != self._read_fields or stale):
                self.drop()
            if self.adapter is None:
                if build is None:
                    from sync.wiring import build_adapter

                    self.adapter = build_adapter(settings, read_fields)
                else:
                    self.adapter = build(settings, read_fields)
                self._read_fields, self._built_at = list(read_fields), self.clock()
                self.builds += 1
            return self.adapter

        return shared

    def drop(self) -> None:
        """Close the adapter; the next job builds (and logs in with) a new one."""
        if self.adapter is not None:
            try:
                self.adapter.close()
            finally:
                self.adapter, self._read_fields, self._built_at = None, None, None


# -- the daemon ------------------------------------------------------------------------------------------
class Daemon:
    """Schedules the jobs and runs them.  ``run()`` blocks until SIGTERM/SIGINT (or ``stop.set()``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        app_factory: Callable[[], App],
        calibrate: CalibrateHook | None = None,
        clock: Callable[[], datetime] = _utcnow,
        triggers: Mapping[str, BaseTrigger] | None = None,
        alerter: Alerter | None = None,
        metrics: Metrics | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.crm = settings.crm
        self.app_factory = app_factory
        self.calibrate = calibrate
        self.clock = clock
        self.triggers = dict(triggers) if triggers is not None else triggers_from(settings)
        self.stop = threading.Event()
        self.alerter = alerter or Alerter(settings.daemon.webhook_url, crm=self.crm)
        self.metrics = metrics or Metrics()
        self.metrics_port = settings.daemon.metrics_port if metrics_port is None else metrics_port
        self.health = Health(crm=self.crm, sync_interval=schedule_interval(self.triggers["sync"], clock()), clock=clock)
        self.quota_until: datetime | None = None
        self.skipped: Counter[str] = Counter()
        self.finished: deque[tuple[str, RunStatus]] = deque(maxlen=100)  # the latest runs' kinds and statuses
        self.server: Any = None  # a sync.server ServerThread, while serving
        self.worker: EventWorker | None = None
        self.run_mutex = threading.Lock()  # one run at a time in this process: jobs, fast lane, webhook batches
        self._queue: Any = None
        self._quota_strikes = 0
        self._scheduler: BackgroundScheduler | None = None
        self.adapters = SharedAdapter(clock)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self.health.seed(*self._history())
        self._serve()
        scheduler = BackgroundScheduler(
            timezone=UTC,
            # the fast lane on its own thread: a tick during a long sync is skipped, not queued behind it
            executors={"default": ThreadPoolExecutor(max_workers=1), FAST_LANE: ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        for kind in JOBS:
            if kind == "calibrate" and self.calibrate is None:
                continue
            # the first sync runs at start, not at the schedule's next tick (which may be a day away)
            first = {"next_run_time": datetime.now(UTC)} if kind == "sync" else {}
            scheduler.add_job(self.run_job, self.triggers[kind], args=[kind], id=kind, name=f"leadsync {kind}", **first)
        if self.settings.sla.escalate:  # leads untouched at their response due time (sync.sla)
            from sync.sla import EscalationJob

            shared = self.adapters
            escalation = EscalationJob(
                self.settings,
                self.metrics.registry,
                owners=lambda: shared.adapter.read_owners() if shared.adapter else [],
            )
            cron = cron_trigger(self.settings.sla.escalation_cron, setting="LEADSYNC_SLA__ESCALATION_CRON")
            scheduler.add_job(
                lambda: escalation.tick(self.clock()),
                self.triggers.get("escalate", cron),
                id="escalate",
                name="leadsync escalate",
            )
        fast = self.settings.realtime.fast_lane_seconds
        if fast is not None:
            trigger = self.triggers.get(FAST_LANE) or IntervalTrigger(seconds=fast, timezone=UTC)
            scheduler.add_job(
                self.run_job, trigger, args=[FAST_LANE], id=FAST_LANE, name="leadsync fast lane", executor=FAST_LANE
            )
        scheduler.start()
        self._scheduler = scheduler
        for job in scheduler.get_jobs():
            log.info("scheduled %s: next at %s", job.name, job.next_run_time.isoformat(timespec="seconds"))

    def _serve(self) -> None:
        """Serve webhooks, /healthz and /metrics on uvicorn, and start the webhook worker, as configured."""
        from sync.server import EventQueue, ServerThread, build_app

        intake = serves_intake(self.settings)
        dashboard = self.settings.dashboard.password_hash is not None  # build_app mounts it at /dashboard
        if not intake and not dashboard and self.metrics_port is None:
            return
        server = self.settings.server
        host = server.host if intake or dashboard else self.settings.daemon.metrics_host
        port = self.metrics_port if self.metrics_port is not None else server.port
        if intake and self.settings.daemon.metrics_port not in (None, port):
            log.warning(
                "/metrics is served with the webhooks on port %d; LEADSYNC_DAEMON__METRICS_PORT is unused", port
            )
        self._queue = EventQueue(self.settings.state_url)
        self._queue.open()
        app = build_app(self.settings, queue=self._queue, metrics=self.metrics, health=self.health, clock=self.clock)
        try:
            self.server = ServerThread(app, server, host=host, port=port).start()
        except OSError as exc:
            self._queue.close()
            setting = "LEADSYNC_SERVER__PORT" if intake else "LEADSYNC_DAEMON__METRICS_PORT"
            raise DaemonConfigError(
                f"cannot serve on {host}:{port} ({exc.strerror}): set {setting} to a free port"
            ) from None
        more = (" and webhooks" if intake else "") + (" and the dashboard at /dashboard/" if dashboard else "")
        log.info("serving %s/healthz and /metrics%s", self.server.url, more)
        if intake:
            self.worker = EventWorker(
                self.settings,
                app_factory=self._job_app,
                clock=self.clock,
                metrics=self.metrics,
                mutex=self.run_mutex,
                on_p1=self._on_p1,
                on_run=self._realtime_finished,
            ).start()

    def _job_app(self) -> App:
        app = self.app_factory()
        app.adapter_factory = self.adapters.factory(app.adapter_factory)
        return app

    def _realtime_finished(self, summary: RunSummary, app: App) -> None:
        self.metrics.observe_summary(self.crm, str(summary.kind), summary, self.clock())

    def shutdown(self) -> None:
        self.stop.set()
        if self.worker is not None:
            self.worker.shutdown()  # its batch in flight is acked, or left claimed for the next start
            self.worker = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)  # the job in flight finishes its batch first
            self._scheduler = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._queue is not None:
            self._queue.close()
            self._queue = None
        self.adapters.drop()
        self.alerter.close()

    def run(self) -> int:
        """Start, wait for a stop signal, finish the batch in flight, exit 0."""
        previous = self._install_signals()
        try:
            self.start()
            log.info("leadsync daemon started for %s (pid %d)", self.crm, os.getpid())
            while not self.stop.wait(0.5):
                pass
            log.info("stopping: finishing the batch in flight")
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("leadsync daemon stopped")
        return 0

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, frame: Any) -> None:
            if self.stop.is_set():
                log.warning("second stop signal: exiting now; the next run picks up where this one stopped")
                os._exit(130)
            self.stop.set()

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _history(self) -> tuple[datetime | None, list[dict[str, Any]]]:
        """From the state store: the last successful sync's end, and the last finished run of each kind."""
        last_success: datetime | None = None
        last: dict[str, dict[str, Any]] = {}
        with open_store(self.settings.state_url) as store:
            for run in store.list_runs(self.crm, limit=200):  # newest first
                if run.dry_run or run.finished_at is None or run.status is RunStatus.RUNNING:
                    continue
                kind = str(run.kind)
                if kind in SYNC_KINDS and run.status in SUCCESS and last_success is None:
                    last_success = run.finished_at
                last.setdefault(
                    kind,
                    {
                        "run_id": run.id,
                        "kind": kind,
                        "status": str(run.status),
                        "finished_at": run.finished_at.isoformat(),
                        "error": run.error,
                    },
                )
        return last_success, sorted(last.values(), key=lambda r: str(r["finished_at"]))

    # -- one job run -------------------------------------------------------------------------------------
    def run_job(self, kind: str) -> None:
        """Run one scheduled job now (the scheduler calls this; tests may too)."""
        if self.stop.is_set():
            return
        now = self.clock()
        if self.quota_until is not None and now < self.quota_until:
            self._skip(kind, f"waiting for the API quota to reset at {self.quota_until.isoformat(timespec='seconds')}")
            return
        # a fast-lane tick never waits: the run holding the mutex reads the same changes
        if not self.run_mutex.acquire(blocking=kind != FAST_LANE):
            self._skip(kind, "another run of this daemon is in progress")
            return
        try:
            self._run_job(kind, now)
        finally:
            self.run_mutex.release()

    def _run_job(self, kind: str, now: datetime) -> None:
        app = self._job_app()
        try:
            lock = app.store.acquire_lock(self.crm, wait=False)
            if lock is None:
                holder = app.store.lock_holder(self.crm)
                self._skip(kind, holder.describe() if holder else f"another leadsync process is working on {self.crm}")
                return
            with lock:
                if kind == "calibrate":
                    assert self.calibrate is not None
                    message = self.calibrate(app, now)
                    if message:
                        self.alerter.notify(message)
                    return
                if kind == FAST_LANE:
                    fast = fast_lane(app, stop=self.stop, on_p1=self._on_p1)
                    if fast is None:  # the CRM said nothing changed: no run to record
                        return
                    summary = fast
                else:
                    summary = app.run(kind, stop=self.stop, on_p1=self._on_p1)
            refused = summary.exit_code == AuthError.exit_code and not summary.quota_exhausted
            if summary.status is RunStatus.FAILED and refused:
                self.adapters.drop()  # the CRM refused the credentials: the next job logs in afresh
            self._finished("sync" if kind == FAST_LANE else kind, summary, app)
        except QuotaExhausted as exc:
            self._failed(kind, f"API quota exhausted: {redact(str(exc))}")
            self._wait_for_quota(exc.reset_at)
        except ConnectorError as exc:
            if isinstance(exc, AuthError):
                self.adapters.drop()  # the next job starts from a new login
            self._failed(kind, f"CRM error: {redact(str(exc))}")
        except Exception as exc:  # a daemon must outlive a bad run: log it, alert, try again next time
            log.exception("the %s job failed", kind)
            self._failed(kind, redact(f"{type(exc).__name__}: {exc}"))
        finally:
            app.close(keep_adapter=True)

    def _skip(self, kind: str, why: str) -> None:
        self.skipped[kind] += 1
        if kind == FAST_LANE:  # routine: the run in progress reads the same changes
            log.debug("fast lane tick skipped: %s", why)
            return
        log.info("%s skipped: %s", kind, why)
        self.health.waiting(why)

    def _on_p1(self, contact: Contact, result: ScoreResult) -> None:
        try:
            reason = explain(result, max_length=200)
            self.alerter.p1(contact, score=result.total, sla_due_at=result.sla_due_at, reason=reason)
        except Exception:  # an alert must never break the run that raised it
            log.exception("could not queue the P1 alert for contact %s", contact.id)

    def _finished(self, kind: str, summary: RunSummary, app: App) -> None:
        finished_at = self.clock()
        status = str(summary.status)
        self.finished.append((kind, summary.status))
        self.metrics.observe_summary(self.crm, kind, summary, finished_at)
        log.info(
            "%s run %d: %s (read %d, written %d, failed %d, quarantined %d, %d API calls)",
            kind,
            summary.run_id,
            status,
            summary.counts["read"],
            summary.counts["written"],
            summary.counts["failed"],
            summary.counts["quarantined"],
            sum(summary.api_calls.values()),
        )
        if summary.status is RunStatus.INTERRUPTED:
            return
        self.health.record(
            run_id=summary.run_id, kind=kind, status=status, finished_at=finished_at, error=summary.error
        )
        newly = 0
        if summary.counts["quarantined"]:
            newly = sum(
                1 for q in app.store.quarantine_list(self.crm) if q.run_id == summary.run_id and q.attempts == 1
            )
        self.alerter.run_finished(
            run_id=summary.run_id,
            kind=kind,
            status=status,
            error=summary.error,
            quarantined=summary.counts["quarantined"],
            newly_quarantined=newly,
        )
        if summary.quota_exhausted:
            self._wait_for_quota(summary.quota_reset_at)
        elif summary.status in (RunStatus.OK, RunStatus.PARTIAL):
            self._quota_strikes = 0

    def _failed(self, kind: str, error: str) -> None:
        log.error("the %s job failed: %s", kind, error)
        self.finished.append((kind, RunStatus.FAILED))
        self.metrics.runs.labels(self.crm, kind, "failed").inc()
        self.health.record(run_id=None, kind=kind, status="failed", finished_at=self.clock(), error=error)
        self.alerter.run_finished(run_id=None, kind=kind, status="failed", error=error)

    def _wait_for_quota(self, reset_at: datetime | None) -> None:
        now = self.clock()
        cap = timedelta(seconds=self.settings.daemon.quota_wait_max_seconds)
        if reset_at is not None and reset_at > now:
            wait = min(reset_at - now, cap)
        else:
            wait = min(QUOTA_BACKOFF_START * 2**self._quota_strikes, cap)
            self._quota_strikes += 1
        self.quota_until = now + wait
        log.warning(
            "the %s API quota is exhausted: scheduled runs are skipped until %s",
            self.crm,
            self.quota_until.isoformat(timespec="seconds"),
        )
