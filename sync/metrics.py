"""Health and Prometheus metrics for the daemon, served on a local port (off unless configured).

``GET /metrics`` is the Prometheus text format; ``GET /healthz`` answers 200 when the last sync succeeded
recently (within twice the sync interval) and 503 otherwise, with a JSON body saying why.  The server binds
``settings.daemon.metrics_host`` (127.0.0.1 by default): neither page needs, nor gets, authentication.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

if TYPE_CHECKING:
    from sync.pipeline_parts import RunSummary

log = logging.getLogger("leadsync.metrics")

SUCCESS = ("ok", "partial")  # a partial run finished; only some records were quarantined
SYNC_KINDS = ("sync", "backfill")  # the runs that bring the CRM's changes in: they decide health
COUNTED = ("read", "scored", "changed", "written", "failed", "quarantined")


class Metrics:
    """The daemon's Prometheus series, in a registry of their own (several daemons may share a process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.records = Counter(
            "leadsync_records",
            "Records handled by runs, by CRM, run kind and what happened (read, scored, changed, written, "
            "failed, quarantined).",
            ["crm", "kind", "outcome"],
            registry=self.registry,
        )
        self.api_calls = Counter(
            "leadsync_api_calls",
            "CRM API calls made by runs, by endpoint.",
            ["crm", "endpoint"],
            registry=self.registry,
        )
        self.runs = Counter(
            "leadsync_runs", "Runs finished, by kind and status.", ["crm", "kind", "status"], registry=self.registry
        )
        self.quota_left = Gauge(
            "leadsync_quota_left", "API quota left as last reported by the CRM.", ["crm"], registry=self.registry
        )
        self.last_success = Gauge(
            "leadsync_last_success_timestamp_seconds",
            "When the last successful run finished (Unix time).",
            ["crm", "kind"],
            registry=self.registry,
        )
        self.last_duration = Gauge(
            "leadsync_last_run_duration_seconds", "How long the last run took.", ["crm", "kind"], registry=self.registry
        )

    def observe_run(
        self,
        *,
        crm: str,
        kind: str,
        status: str,
        counts: Mapping[str, int],
        api_calls: Mapping[str, int],
        quota_left: int | None,
        duration: float,
        finished_at: datetime,
    ) -> None:
        for outcome in COUNTED:
            self.records.labels(crm, kind, outcome).inc(counts.get(outcome, 0))
        for endpoint, calls in api_calls.items():
            self.api_calls.labels(crm, endpoint).inc(calls)
        self.runs.labels(crm, kind, status).inc()
        if quota_left is not None:
            self.quota_left.labels(crm).set(quota_left)
        self.last_duration.labels(crm, kind).set(duration)
        if status in SUCCESS:
            self.last_success.labels(crm, kind).set(finished_at.timestamp())

    def observe_summary(self, crm: str, kind: str, summary: RunSummary, finished_at: datetime) -> None:
        """``observe_run`` for a run the pipeline summed up."""
        self.observe_run(
            crm=crm,
            kind=kind,
            status=str(summary.status),
            counts=summary.counts,
            api_calls=summary.api_calls,
            quota_left=summary.quota_left,
            duration=summary.duration,
            finished_at=finished_at,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class HealthReport:
    healthy: bool
    body: dict[str, Any]

    @property
    def status_code(self) -> int:
        return 200 if self.healthy else 503


class Health:
    """Whether the daemon's syncs are succeeding: fed by every job run, read by ``/healthz``.

    Healthy when the last sync succeeded and finished within ``2 x sync_interval``.  Right after start, before
    the first sync, the daemon counts as healthy for that long too, so a restart does not page anyone.  Only
    syncs (and backfills) decide health; ``last_run`` is the last of those, ``last_runs`` the last of each kind,
    and both are seeded from the state store at start, so a restart reports the same last run it did before.
    """

    def __init__(
        self,
        *,
        crm: str,
        sync_interval: timedelta,
        clock: Callable[[], datetime],
        last_success_at: datetime | None = None,
    ) -> None:
        self.crm = crm
        self.window = 2 * sync_interval
        self.clock = clock
        self.started_at = clock()
        self._lock = threading.Lock()
        self._last_success_at = last_success_at
        self._last: dict[str, Any] | None = None
        self._by_kind: dict[str, dict[str, Any]] = {}
        self._skipped: dict[str, Any] | None = None
        self._state = "starting"

    def seed(self, last_success_at: datetime | None, last_runs: Sequence[Mapping[str, Any]] = ()) -> None:
        """What the state store recorded before this daemon started: the last success, the last run of each kind."""
        with self._lock:
            if self._last_success_at is None:
                self._last_success_at = last_success_at
            for run in last_runs:  # oldest first: the last one of each kind stays
                entry = {**run, "before_start": True}
                self._by_kind[str(run["kind"])] = entry
                if run["kind"] in SYNC_KINDS:
                    self._last = entry

    def record(self, *, run_id: int | None, kind: str, status: str, finished_at: datetime, error: str | None) -> None:
        entry = {
            "run_id": run_id,
            "kind": kind,
            "status": status,
            "finished_at": finished_at.isoformat(),
            "error": error,
        }
        with self._lock:
            self._by_kind[kind] = entry
            if kind not in SYNC_KINDS:
                return  # a failed rescore or calibration is alerted on, but the syncs decide health
            self._last = entry
            self._skipped = None
            if status in SUCCESS:
                self._last_success_at = finished_at
                self._state = "ok"
            else:
                self._state = "failing"

    def waiting(self, reason: str) -> None:
        """A sync was skipped (quota wait, lock held elsewhere): say why in the report."""
        with self._lock:
            self._skipped = {"reason": reason, "at": self.clock().isoformat()}

    def report(self) -> HealthReport:
        now = self.clock()
        with self._lock:
            last_ok = self._last_success_at
            state = self._state
            last = dict(self._last) if self._last is not None else None
            by_kind = {kind: dict(run) for kind, run in self._by_kind.items()}
            skipped = self._skipped
        recent = last_ok is not None and now - last_ok <= self.window
        just_started = state == "starting" and now - self.started_at <= self.window
        healthy = state != "failing" and (recent or just_started)
        if healthy:
            reason = "the last sync succeeded recently" if recent else "started recently; waiting for the first sync"
        elif state == "failing":
            reason = "the last sync failed"
        else:
            reason = f"no successful sync in the last {int(self.window.total_seconds())} seconds"
        if last is not None and skipped is not None:
            last["skipped"] = skipped["reason"]
        body = {
            "status": "ok" if healthy else "unhealthy",
            "crm": self.crm,
            "reason": reason,
            "now": now.isoformat(),
            "started_at": self.started_at.isoformat(),
            "last_success_at": last_ok.isoformat() if last_ok else None,
            "max_age_seconds": int(self.window.total_seconds()),
            "last_run": last,
            "last_runs": by_kind,
            "skipped": skipped,
        }
        return HealthReport(healthy, body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.server.metrics.render(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            report = self.server.health.report()
            self._send(report.status_code, json.dumps(report.body).encode(), "application/json")
        else:
            self._send(404, b'{"error": "not found: try /healthz or /metrics"}', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: Metrics, health: Health) -> None:
        self.metrics = metrics
        self.health = health
        super().__init__(address, _Handler)


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port`` in a background thread; port 0 picks a free one."""

    def __init__(self, metrics: Metrics, health: Health, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._server = _Server((host, port), metrics, health)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="leadsync-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("serving /healthz and /metrics on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
