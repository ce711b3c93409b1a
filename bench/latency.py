"""How long from a change in the CRM to its score written back: webhooks, the fast lane, and a SIGKILL mid-stream.

    python -m bench.latency [--crm pipedrive] [--rate 5] [--seconds 120] [--mode all|webhooks|fastlane|kill]
                            [--deliveries sandbox|bench] [--retry-scale 1]

An in-process sandbox (real time, its default rate limits) and ``leadsync daemon`` in a child process, as a
user runs it.  A steady stream of changes (``--rate`` a second for ``--seconds``): demo requests, form fills and
title changes, each on a different contact, each one the engine says changes the contact's score or tier (so
each must be written exactly once).  A watcher reads the sandbox's store every 0.2 s: the latency of a change
is from the moment it was made to the moment its new score is in the CRM.

- ``webhooks``: the sandbox sends the vendor's webhooks to the daemon's intake (``--deliveries sandbox``, the
  default): signed with the secrets it hands the daemon, batched and retried on the vendor's schedule
  (``--retry-scale`` 1 = the vendors' real gaps), for the bench's changes and for leadsync's own write-backs
  (echoes) alike, as ``leadsync sandbox serve --webhook-url`` does.  ``--deliveries bench`` is the older way:
  the bench POSTs one signed event right after each change, retrying every 0.5 s until a 2xx.  The worker's
  batch wait is 1 s.
- ``fastlane``: no webhooks; the daemon's fast lane polls every ``--fast-lane-seconds``.
- ``kill``: as ``webhooks``, with the daemon SIGKILLed half-way through and restarted at once (lease 20 s).

Every mode ends with the checks: lost = changes whose score never arrived (waiting up to 3 minutes after
the stream); duplicated = contacts written more than once (write requests per contact, counted in the sandbox).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import create_writeback_fields, machine, write_section
from connectors.registry import CRM_NAMES
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.app import SandboxApp
from connectors.sandbox.salesforce.ids import ORG_ID
from connectors.sandbox.seed import generate
from connectors.sandbox.webhooks import WebhookConfig, WebhookSender
from connectors.sandbox.webhooks.options import intake_env_lines
from scoring import STARTER_MODEL_PATH
from sync.app import App
from sync.demo import sandbox_env_file
from sync.policies import field_name
from sync.server.verify import hubspot_signature_v3
from sync.settings import load_settings
from sync.state import open_store

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
HS_SECRET, PD_USER, PD_PASSWORD = "bench-hubspot-secret", "leadsync", "bench-pipedrive-password"
SF_ORG, SF_SECRET = "00D5g000004XyZaEAK", "bench-salesforce-secret"
KINDS = ("demo_request", "form_submission", "title")


# -- writes per contact, counted where they land --------------------------------------------------------
class WriteLog:
    """Successful write requests per contact id, from the sandbox's own dispatcher."""

    def __init__(self) -> None:
        self.by_contact: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self) -> None:
        original = SandboxApp.handle
        log = self

        def handle(app: SandboxApp, request: Any, raw: Any) -> Any:
            response = original(app, request, raw)
            if response is not None and 200 <= response.status < 300:
                log.record(request)
            return response

        SandboxApp.handle = handle  # type: ignore[method-assign,assignment]

    def record(self, request: Any) -> None:
        ids: list[str] = []
        path, method = request.path, request.method
        if method == "PATCH" and path.startswith("/api/v2/persons/"):
            ids = [path.rsplit("/", 1)[1]]
        elif method == "POST" and path.endswith("/objects/contacts/batch/update"):
            ids = [str(item["id"]) for item in json.loads(request.body)["inputs"]]
        elif method == "PATCH" and "/composite/sobjects" in path:
            ids = _record_ids(json.loads(request.body))
        elif method == "POST" and path.endswith("/composite"):  # collections packed into one Composite call
            subrequests = json.loads(request.body).get("compositeRequest", [])
            ids = [i for sub in subrequests if "/composite/sobjects" in sub.get("url", "") for i in _record_ids(sub)]
        with self._lock:
            self.by_contact.update(ids)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.by_contact)


def _record_ids(body: dict[str, Any]) -> list[str]:
    """The ids of an sObject Collections update body (``id``, as the adapter and Salesforce's examples spell it)."""
    records = (body.get("body") or body).get("records", [])
    return [str(r.get("id") or r.get("Id")) for r in records]


# -- the planned changes --------------------------------------------------------------------------------
@dataclass
class Change:
    contact_id: str
    kind: str
    made_at: float = 0.0
    before: Any = None
    written_at: float | None = None
    activity_id: str | None = None
    new_title: str = ""


def score_value(sandbox: Sandbox, crm: str, contact_id: str, name: str) -> Any:
    api: Any = sandbox.apis[crm]
    if crm == "pipedrive":
        return api.field_value(contact_id, name)
    if crm == "hubspot":
        return api.record(contact_id)["properties"].get(name)
    return api.record(contact_id).get(name)


def plan_changes(app: App, count: int, seed: int) -> list[Change]:
    """``count`` changes, each on its own contact (not a customer or another protected one), kinds in turn."""
    contacts = [c for page in app.adapter.read_contacts(None) for c in page.contacts if not c.protected]
    if len(contacts) < count:
        raise SystemExit(f"only {len(contacts)} contacts to change: raise --contacts")
    random.Random(seed).shuffle(contacts)
    changes = []
    for n, contact in enumerate(contacts[:count]):
        kind = KINDS[n % len(KINDS)]
        title = str(contact.get("title") or "")
        changes.append(Change(contact.id, kind, new_title="Student" if "VP" in title else "VP Sales"))
    return changes


TITLE_FIELD = {"hubspot": "jobtitle", "pipedrive": "Job title", "salesforce": "Title"}


def make_change(sandbox: Sandbox, crm: str, change: Change) -> None:
    api: Any = sandbox.apis[crm]
    if change.kind == "title":
        api.touch(change.contact_id, **{TITLE_FIELD[crm]: change.new_title})
    else:
        change.activity_id = api.add_activity(change.contact_id, change.kind, datetime.now(UTC), form="Request a demo")


# -- webhooks as the vendors send them --------------------------------------------------------------------
def webhook(crm: str, change: Change, url: str) -> tuple[bytes, dict[str, str]]:
    at = datetime.now(UTC)
    key = f"{change.contact_id}-{change.kind}-{change.made_at}"
    headers = {"Content-Type": "application/json"}
    if crm == "hubspot":
        body = json.dumps(
            [
                {
                    "eventId": abs(hash(key)) % 10**12,
                    "subscriptionType": "contact.propertyChange",
                    "objectId": int(change.contact_id),
                    "occurredAt": int(at.timestamp() * 1000),
                    "propertyName": "jobtitle" if change.kind == "title" else "recent_conversion_date",
                }
            ]
        ).encode()
        stamp = str(int(time.time() * 1000))
        signature = hubspot_signature_v3(HS_SECRET, method="POST", uri=url, body=body, timestamp=stamp)
        headers |= {"X-HubSpot-Request-Timestamp": stamp, "X-HubSpot-Signature-v3": signature}
    elif crm == "pipedrive":
        activity = change.activity_id
        entity, entity_id = ("activity", activity) if activity else ("person", change.contact_id)
        data: dict[str, Any] = {
            "id": int(entity_id or 0),
            **({"person_id": int(change.contact_id)} if activity else {}),
        }
        meta: dict[str, Any] = {"action": "create" if activity else "change", "entity": entity}
        meta["entity_id"] = str(entity_id)
        meta |= {"timestamp": int(at.timestamp()), "correlation_id": key}
        body = json.dumps({"meta": meta, "data": data, "previous": None}).encode()
        headers["Authorization"] = "Basic " + base64.b64encode(f"{PD_USER}:{PD_PASSWORD}".encode()).decode()
    else:
        record: dict[str, Any] = {"Id": change.activity_id or change.contact_id}
        record |= {"LastModifiedDate": at.isoformat(), "attributes": {"type": "Task" if change.activity_id else "Lead"}}
        if change.activity_id:
            record["WhoId"] = change.contact_id
        body = json.dumps({"organizationId": SF_ORG, "records": [record]}).encode()
        headers["X-Leadsync-Secret"] = SF_SECRET
    return body, headers


def post_until_accepted(url: str, body: bytes, headers: dict[str, str], deadline: float) -> int:
    """POST like a vendor: retried (every 0.5 s) while the daemon is down; returns the attempts it took."""
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=10) as answer:
                if answer.status == 200:
                    return attempts
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the daemon did not accept a webhook at {url} in time")


# -- one mode -----------------------------------------------------------------------------------------------
@dataclass
class Figures:
    mode: str
    crm: str
    changes: int
    latencies: list[float] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    retried_posts: int = 0
    deliveries: str = "sandbox"
    sender: dict[str, Any] = field(default_factory=dict)  # the sandbox sender's attempts, failures, drops
    unchanged: int = 0  # changes the engine scored the same: nothing to write, no latency
    note: str = ""

    def line(self) -> str:
        lat = sorted(self.latencies)
        if not lat:
            return (
                f"| {self.mode} | {self.deliveries} | {self.crm} | {self.changes} | 0 | - | - | - | {self.lost} | "
                f"{self.duplicated} |"
            )
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        return (
            f"| {self.mode} | {self.deliveries} | {self.crm} | {self.changes} | {len(lat)} | "
            f"{statistics.median(lat):.1f} | {p95:.1f} | "
            f"{lat[-1]:.1f} | {self.lost} | {self.duplicated} |"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_daemon(env_file: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen([LEADSYNC, "--env-file", str(env_file), "daemon"], stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (503 until its first sync finishes)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError("the daemon did not start serving")


def sandbox_hooks(crm: str, port: int, retry_scale: float) -> tuple[WebhookConfig, list[str]]:
    """What ``leadsync sandbox serve --webhook-url`` would use, and the intake settings it prints for it."""
    hooks = WebhookConfig(url=f"http://127.0.0.1:{port}/webhooks", crms=(crm,), retry_scale=retry_scale)
    lines = [line for line in intake_env_lines(hooks, ORG_ID) if not line.startswith("#")]
    return hooks, lines


def attach_sender(sandbox: Sandbox, hooks: WebhookConfig) -> None:
    """Start the sandbox's webhook sender now (after the backfill, whose write-backs no daemon hears yet)."""
    sender = WebhookSender(hooks, lambda: datetime.now(UTC)).start()
    sandbox.store.listen(sender.on_changes)
    sandbox.webhooks = sender  # sandbox.stop() stops it


def run_mode(
    mode: str,
    crm: str,
    rate: float,
    seconds: float,
    contacts: int,
    fast_lane: int,
    deliveries: str = "sandbox",
    retry_scale: float = 1.0,
) -> Figures:
    writes = WriteLog()
    writes.install()
    workdir = Path(tempfile.mkdtemp(prefix=f"leadsync-latency-{mode}-"))
    sandbox = Sandbox(SandboxConfig(seed=7)).start()
    try:
        now = datetime.now(UTC)
        sandbox.apis[crm].load(generate(contacts, seed=7, now=now))  # type: ignore[attr-defined]
        port = free_port()
        hooks, intake = sandbox_hooks(crm, port, retry_scale)
        by_sandbox = mode != "fastlane" and deliveries == "sandbox"
        extra = [
            f"LEADSYNC_SERVER__PORT={port}",
            "LEADSYNC_REALTIME__BATCH_WAIT_SECONDS=1",
            "LEADSYNC_REALTIME__LEASE_SECONDS=20",
            "LEADSYNC_LOG_LEVEL=INFO",
            f"LEADSYNC_LOG_FILE={workdir / 'leadsync.log'}",
        ]
        if mode == "fastlane":  # no webhook secrets: /healthz and /metrics on the metrics port
            extra += [f"LEADSYNC_REALTIME__FAST_LANE_SECONDS={fast_lane}", f"LEADSYNC_DAEMON__METRICS_PORT={port}"]
        elif by_sandbox:
            extra += intake
        else:
            extra += [
                f"LEADSYNC_SERVER__HUBSPOT_APP_SECRET={HS_SECRET}",
                f"LEADSYNC_SERVER__PIPEDRIVE_USER={PD_USER}",
                f"LEADSYNC_SERVER__PIPEDRIVE_PASSWORD={PD_PASSWORD}",
                f"LEADSYNC_SERVER__SALESFORCE_ORG_ID={SF_ORG}",
                f"LEADSYNC_SERVER__SALESFORCE_SECRET={SF_SECRET}",
            ]
        env_file = sandbox_env_file(sandbox, crm, workdir, model_file=STARTER_MODEL_PATH, extra=extra)
        settings = load_settings(env_file)
        create_writeback_fields(settings, sandbox)
        app = App(settings)
        app.run("backfill")
        names = [field_name(app.fields_config, key, crm) for key in ("score", "tier")]
        planned = plan_changes(app, int(rate * seconds), seed=11)
        app.close()
        for change in planned:
            change.before = [score_value(sandbox, crm, change.contact_id, name) for name in names]

        url = f"http://127.0.0.1:{port}"
        log_path = workdir / "daemon.out"
        proc = start_daemon(env_file, log_path)
        wait_healthy(url, proc)
        time.sleep(3)  # the daemon's first sync, at start
        baseline = writes.snapshot()
        figures = Figures(mode, crm, len(planned), deliveries="-" if mode == "fastlane" else deliveries)
        if by_sandbox:
            attach_sender(sandbox, hooks)

        stop_watch = threading.Event()

        def watch() -> None:
            while not stop_watch.is_set():
                for change in planned:
                    if not change.made_at or change.written_at is not None:
                        continue
                    if [score_value(sandbox, crm, change.contact_id, name) for name in names] != change.before:
                        change.written_at = time.time()
                stop_watch.wait(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        posts = ThreadPoolExecutor(max_workers=8)
        post_attempts: list[Any] = []
        killed_at = len(planned) // 2 if mode == "kill" else -1
        started = time.monotonic()
        for n, change in enumerate(planned):
            time.sleep(max(0.0, started + n / rate - time.monotonic()))
            if n == killed_at:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc = start_daemon(env_file, log_path)
                figures.note = f"SIGKILL after {n} changes; restarted at once"
            make_change(sandbox, crm, change)
            change.made_at = time.time()
            if mode != "fastlane" and not by_sandbox:
                body, headers = webhook(crm, change, f"{url}/webhooks/{crm}")
                hook_url = f"{url}/webhooks/{crm}"
                post_attempts.append(posts.submit(post_until_accepted, hook_url, body, headers, time.monotonic() + 120))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and any(c.written_at is None for c in planned):
            time.sleep(0.5)
        stop_watch.set()
        watcher.join()
        posts.shutdown(wait=True)
        figures.retried_posts = sum(f.result() - 1 for f in post_attempts if f.exception() is None)
        if sandbox.webhooks is not None:
            sandbox.webhooks.wait_idle(timeout=10)
            figures.sender = sandbox.webhooks.stats()
        time.sleep(2)  # writes still in flight would show as duplicates
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        written = writes.snapshot() - baseline
        figures.latencies = [c.written_at - c.made_at for c in planned if c.written_at is not None]
        with open_store(settings.state_url) as store:
            inputs = store.load_inputs(crm, [c.contact_id for c in planned])
        # lost: a change no run scored after it was made (a change the engine scores the same needs no write)
        lost = [
            c for c in planned if c.contact_id not in inputs or inputs[c.contact_id].scored_at.timestamp() < c.made_at
        ]
        figures.lost = len(lost)
        figures.unchanged = sum(1 for c in planned if c.written_at is None and c not in lost)
        if lost:
            print(f"lost: {[c.contact_id for c in lost][:20]}; the daemon's log: {workdir}", flush=True)
        figures.duplicated = sum(1 for c in planned if written[c.contact_id] > 1)
        return figures
    finally:
        sandbox.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--crm", choices=(*sorted(CRM_NAMES), "all"), default="pipedrive")
    parser.add_argument("--rate", type=float, default=5.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the stream lasts")
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--fast-lane-seconds", type=int, default=60)
    parser.add_argument("--mode", choices=("all", "webhooks", "fastlane", "kill"), default="all")
    parser.add_argument(
        "--deliveries",
        choices=("sandbox", "bench"),
        default="sandbox",
        help="webhooks sent by the sandbox (signed, batched, retried), or POSTed by the bench after each change",
    )
    parser.add_argument("--retry-scale", type=float, default=1.0, help="the vendors' retry gaps times this")
    parser.add_argument("--write-results", action="store_true", help="put the figures in bench/RESULTS.md")
    args = parser.parse_args(argv)
    modes = ("webhooks", "fastlane", "kill") if args.mode == "all" else (args.mode,)
    crms = tuple(sorted(CRM_NAMES)) if args.crm == "all" else (args.crm,)
    rows = []
    for crm in crms:
        for mode in modes:
            figures = run_mode(
                mode, crm, args.rate, args.seconds, args.contacts, args.fast_lane_seconds, args.deliveries,
                args.retry_scale,
            )  # fmt: skip
            rows.append(figures)
            print(figures.line(), figures.note, f"(bench POSTs retried: {figures.retried_posts})", flush=True)
            print(f"  sandbox sender: {figures.sender}", flush=True)
    table = "\n".join(
        [
            "| mode | deliveries | CRM | changes | written | p50 s | p95 s | max s | lost | duplicated |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *(f.line() for f in rows),
        ]
    )
    body = (
        f"`python -m bench.latency --crm {args.crm} --mode {args.mode} --rate {args.rate:g} --seconds "
        f"{args.seconds:g} --contacts {args.contacts} --fast-lane-seconds {args.fast_lane_seconds} --deliveries "
        f"{args.deliveries} --retry-scale {args.retry_scale:g}`; {machine()}.\n\n{table}\n\n"
        "From the change made in the sandbox to its new score readable there (watched every 0.2 s). Deliveries "
        "`sandbox`: the sandbox's own webhook sender (signed, batched, retried on the vendor's schedule); `bench`: "
        "one signed POST by the bench after each change. " + " ".join(f.note for f in rows if f.note)
    )
    if args.write_results:
        write_section("Hot-lead latency (webhooks, fast lane, SIGKILL)", body)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LEADSYNC_PURE_PYTHON", "1")
    sys.exit(main())
