"""The daemon: schedules, one job at a time, the run lock, quota waits, alerts, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import SecretStr

from connectors.errors import FatalApiError
from connectors.records import Outcome
from connectors.sandbox.salesforce import SANDBOX_CREDENTIALS
from scoring import STARTER_MODEL_PATH
from sync.calibration_job import _replaces, calibrate_job
from sync.daemon import Daemon, DaemonConfigError, cron_trigger, schedule_interval
from sync.policies import field_name
from sync.state import RunKind, RunStatus, open_store
from tests.harnesses import NOW, wait_for
from tests.sync.fakes import (
    FACTORY_ENV,
    FAKE_CRM_ENV,
    T0,
    TEST_MODEL,
    Clock,
    FakeCRM,
    WebhookReceiver,
    make_app,
    make_settings,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def crm(clock: Clock) -> FakeCRM:
    fake = FakeCRM(clock=clock, page_size=2)
    before = T0 - timedelta(days=30)
    for cid in ("d1", "d2"):  # VPs who asked for a demo an hour ago: P1
        fake.add_contact(cid, updated_at=before, title="VP Sales", first_name="Dana", email=f"{cid}@acme.test")
        fake.add_activity(cid, "demo_request", occurred_at=T0 - timedelta(hours=1))
    fake.add_contact("v1", updated_at=before, title="VP Marketing")
    return fake


def daemon_for(tmp_path: Path, crm: FakeCRM, clock: Clock, **kwargs: Any) -> Daemon:
    settings = make_settings(tmp_path, **kwargs.pop("settings", {}))
    kwargs.setdefault("calibrate", None)
    return Daemon(settings, app_factory=lambda: make_app(settings, crm, clock), clock=clock, **kwargs)


# -- schedules -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/15 * * * *", "2026-01-05T09:01:00", "2026-01-05T09:15:00"),
        ("0 2 * * *", "2026-01-05T09:00:00", "2026-01-06T02:00:00"),
        ("0 6 1 * *", "2026-01-05T09:00:00", "2026-02-01T06:00:00"),
        ("*/5 * * * * *", "2026-01-05T09:00:01", "2026-01-05T09:00:05"),  # six fields: seconds first
        ("0 9 * * 1-5", "2026-01-09T10:00:00", "2026-01-12T09:00:00"),  # Friday -> Monday (crontab days)
        ("0 9 * * 0", "2026-01-05T10:00:00", "2026-01-11T09:00:00"),  # 0 = Sunday
        ("0 9 * * 7", "2026-01-05T10:00:00", "2026-01-11T09:00:00"),  # 7 = Sunday too
        ("0 9 * * 5-7", "2026-01-05T10:00:00", "2026-01-09T09:00:00"),  # Fri..Sun
        ("0 9 * * sat,sun", "2026-01-05T10:00:00", "2026-01-10T09:00:00"),
    ],
)
def test_cron_schedules_follow_crontab(expr: str, after: str, expected: str) -> None:
    trigger = cron_trigger(expr)
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert trigger.get_next_fire_time(None, start) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize("expr", ["*/15 * * *", "61 * * * *", "0 9 * * funday"])
def test_a_bad_schedule_names_its_setting(expr: str) -> None:
    with pytest.raises(DaemonConfigError, match="LEADSYNC_DAEMON__SYNC_CRON"):
        cron_trigger(expr, setting="LEADSYNC_DAEMON__SYNC_CRON")


def test_the_health_window_comes_from_the_sync_schedule() -> None:
    assert schedule_interval(cron_trigger("*/15 * * * *"), T0) == timedelta(minutes=15)
    assert schedule_interval(cron_trigger("0 2 * * *"), T0) == timedelta(days=1)


# -- jobs ------------------------------------------------------------------------------------------------
def test_jobs_run_on_schedule_one_at_a_time_and_metrics_answer(tmp_path: Path, crm: FakeCRM, clock: Clock) -> None:
    calibrations: list[datetime] = []
    daemon = daemon_for(
        tmp_path,
        crm,
        clock,
        triggers={
            "sync": IntervalTrigger(seconds=0.2),
            "rescore": IntervalTrigger(seconds=0.3),
            "calibrate": IntervalTrigger(seconds=0.5),
        },
        calibrate=lambda app, now: calibrations.append(now),
        metrics_port=0,
    )
    daemon.start()
    try:
        wait_for(
            lambda: (
                [k for k, _ in daemon.finished].count("sync") >= 2
                and "rescore" in [k for k, _ in daemon.finished]
                and bool(calibrations)
            ),
            what="two syncs, a rescore and a calibration",
        )
        assert daemon.server is not None
        with urllib.request.urlopen(f"{daemon.server.url}/healthz", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
        with urllib.request.urlopen(f"{daemon.server.url}/metrics", timeout=5) as resp:
            assert b'leadsync_records_total{crm="hubspot",kind="sync",outcome="written"} 3.0' in resp.read()
    finally:
        daemon.shutdown()

    assert all(status is RunStatus.OK for _, status in daemon.finished)
    assert not daemon.skipped, "jobs never overlapped: none found the CRM's lock taken"
    with open_store(tmp_path / "state.db") as store:
        kinds = {r.kind for r in store.list_runs("hubspot", limit=500)}
        assert {RunKind.SYNC, RunKind.RESCORE} <= kinds
        assert store.lock_holder("hubspot") is None, "every job released the lock"
    assert crm.value("d1", "leadsync_priority_tier") == "P1"


def test_a_job_is_skipped_while_another_process_holds_the_lock(
    tmp_path: Path, crm: FakeCRM, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = daemon_for(tmp_path, crm, clock)
    with open_store(tmp_path / "state.db") as other:
        lock = other.acquire_lock("hubspot")
        assert lock is not None
        with lock, caplog.at_level(logging.INFO, logger="leadsync.daemon"):
            daemon.run_job("sync")
    assert daemon.skipped == {"sync": 1} and crm.calls == {}
    assert f"sync skipped: leadsync pid {os.getpid()}" in caplog.text
    with open_store(tmp_path / "state.db") as store:
        assert store.list_runs("hubspot") == []
    daemon.run_job("sync")
    assert list(daemon.finished) == [("sync", RunStatus.OK)]


def test_quota_exhausted_waits_for_the_reset_instead_of_hammering(tmp_path: Path, crm: FakeCRM, clock: Clock) -> None:
    daemon = daemon_for(tmp_path, crm, clock)
    crm.quota_limit, crm.quota_reset_at = 0, T0 + timedelta(hours=3)
    daemon.run_job("sync")
    assert list(daemon.finished) == [("sync", RunStatus.FAILED)]
    assert daemon.quota_until == T0 + timedelta(hours=3)

    crm.reset_counters()
    clock.advance(hours=2)
    for kind in ("sync", "rescore"):
        daemon.run_job(kind)
    assert daemon.skipped == {"sync": 1, "rescore": 1} and crm.calls == {}

    crm.quota_limit = None
    clock.advance(hours=1, seconds=1)
    daemon.run_job("sync")
    assert daemon.finished[-1] == ("sync", RunStatus.OK)


def test_without_a_reset_time_the_wait_backs_off_up_to_the_cap(tmp_path: Path, crm: FakeCRM, clock: Clock) -> None:
    daemon = daemon_for(tmp_path, crm, clock, settings={"daemon": {"quota_wait_max_seconds": 900}})
    crm.quota_limit = 0
    waits = []
    for _ in range(3):
        daemon.run_job("sync")
        assert daemon.quota_until is not None
        waits.append(daemon.quota_until - clock())
        clock.now = daemon.quota_until
    assert waits == [timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=15)]


def test_the_webhook_hears_p1s_quarantines_failures_and_recovery_once_each(
    tmp_path: Path, crm: FakeCRM, clock: Clock
) -> None:
    receiver = WebhookReceiver()
    crm.add_contact("bad", updated_at=T0 - timedelta(days=30), title="VP Finance")
    crm.fail_writes["bad"] = "INVALID_EMAIL_ADDRESS: email: invalid email address"
    daemon = daemon_for(tmp_path, crm, clock, settings={"daemon": {"webhook_url": SecretStr(receiver.url)}})
    daemon.alerter.sleep = lambda seconds: None
    try:
        daemon.run_job("sync")  # d1 and d2 become P1; "bad" is refused and quarantined
        assert daemon.alerter.flush()
        first = receiver.texts
        p1_texts = [t for t in first if "P1 lead" in t]
        assert sum(t.count("contact d1,") for t in p1_texts) == 1
        assert sum(t.count("contact d2,") for t in p1_texts) == 1
        assert "v1" not in "".join(p1_texts) and "bad" not in "".join(p1_texts)
        others = [t for t in first if t not in p1_texts]
        assert len(others) == 1 and "quarantined 1 record(s)" in others[0]

        daemon.run_job("sync")  # nothing new: same P1s, the same refused record
        crm.raise_on["read_contacts"] = FatalApiError("HTTP 400: bad filter", crm="hubspot", endpoint="search")
        daemon.run_job("sync")
        daemon.run_job("sync")  # the same failure again: not repeated
        del crm.raise_on["read_contacts"]
        daemon.run_job("sync")
        daemon.alerter.close()
        later = receiver.texts[len(first) :]
        assert len(later) == 2, later
        assert "failed: hubspot search: HTTP 400: bad filter" in later[0]
        assert "works again" in later[1]
        assert all("SECRET" not in t for t in receiver.texts)
    finally:
        receiver.close()


def test_monthly_calibration_reports_from_crm_outcomes_and_stored_inputs(
    tmp_path: Path, crm: FakeCRM, clock: Clock
) -> None:
    reports = tmp_path / "reports"
    daemon = daemon_for(tmp_path, crm, clock, calibrate=calibrate_job, settings={"daemon": {"report_dir": reports}})
    daemon.run_job("sync")  # d1, d2 and v1 are scored: their inputs are stored
    crm.add_contact("x1", title="Intern")  # never scored: read from the CRM
    crm.outcomes = [
        Outcome("d1", won=False, closed_at=T0 - timedelta(days=9)),
        Outcome("d1", won=True, closed_at=T0 - timedelta(days=5)),
        Outcome("d1", won=True, closed_at=T0 - timedelta(days=2)),
        Outcome("v1", won=False, closed_at=T0 - timedelta(days=3)),
        Outcome("x1", won=False, closed_at=None),
        Outcome("gone", won=True, closed_at=T0),  # no longer in the CRM: left out
    ]
    crm.reset_counters()

    daemon.run_job("calibrate")

    assert crm.calls == {"read_outcomes": 1, "get_contacts": 1, "read_activities": 1}
    assert sorted(p.name for p in reports.iterdir()) == [
        "calibration-hubspot-2026-01-05.html",
        "calibration-hubspot-2026-01-05.json",
    ]
    report = json.loads((reports / "calibration-hubspot-2026-01-05.json").read_text())
    assert json.dumps(report).count("ops test model") >= 1
    with open_store(tmp_path / "state.db") as store:
        (run,) = store.list_runs("hubspot", kind=RunKind.CALIBRATE)
    assert run.status is RunStatus.OK and run.counts == {"read": 3, "won": 1}
    assert run.api_calls == {"read_outcomes": 1, "get_contacts": 1, "read_activities": 1}


@pytest.mark.parametrize(
    ("deals", "expected"),
    [
        ([(False, 9), (True, 5), (True, 2), (False, 1)], (True, 5)),  # (won, days ago): dated by the first win
        ([(False, 9), (False, 3), (False, None)], (False, 3)),  # lost, dated by the last loss
        ([(True, None), (True, 4)], (True, 4)),
    ],
)
def test_several_deals_make_one_outcome_per_contact(
    deals: list[tuple[bool, int | None]], expected: tuple[bool, int]
) -> None:
    merged: tuple[bool, datetime | None] | None = None
    for won, days_ago in deals:
        at = None if days_ago is None else T0 - timedelta(days=days_ago)
        if _replaces(merged, won, at):
            merged = (won, at)
    assert merged == (expected[0], T0 - timedelta(days=expected[1]))


def test_calibration_hook_logs_until_the_calibration_package_exists(
    tmp_path: Path, crm: FakeCRM, clock: Clock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scoring.calibrate", None)  # as if it were not installed
    daemon = daemon_for(tmp_path, crm, clock, calibrate=calibrate_job)
    with caplog.at_level(logging.INFO, logger="leadsync.ops"):
        daemon.run_job("calibrate")
    assert "calibration not configured" in caplog.text
    assert crm.calls == {}


# -- the real thing, in another process ------------------------------------------------------------------
@pytest.fixture
def installation(tmp_path: Path, clock: Clock) -> Iterator[dict[str, str]]:
    crm = FakeCRM(page_size=2)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(1, 7):
        crm.add_contact(f"c{i}", updated_at=base + timedelta(minutes=i), title="VP Sales")
    crm.write_delay = 1.0  # long enough to land SIGTERM in the middle of the first batch
    crm.events_path = tmp_path / "events.log"
    crm.save(tmp_path / "crm.json")
    (tmp_path / "model.yaml").write_text(TEST_MODEL, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "LEADSYNC_CRM": "hubspot",
            "LEADSYNC_MODEL_FILE": str(tmp_path / "model.yaml"),
            "LEADSYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "LEADSYNC_HUBSPOT__ACCESS_TOKEN": "pat-test-token",
            "LEADSYNC_BATCH_SIZE": "2",
            "LEADSYNC_DAEMON__SYNC_CRON": "* * * * * *",  # every second
            "LEADSYNC_DAEMON__RESCORE_CRON": "0 0 1 1 *",
            "LEADSYNC_DAEMON__CALIBRATE_CRON": "0 0 1 1 *",
            FACTORY_ENV: "tests.sync.fakes:adapter_from_env",
            FAKE_CRM_ENV: str(tmp_path / "crm.json"),
        }
    )
    yield env


def leadsync(args: list[str], env: dict[str, str], cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from sync.cli import main; main()", "--env-file", "none.env", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_sigterm_mid_batch_finishes_the_batch_saves_state_and_exits_0(
    tmp_path: Path, installation: dict[str, str]
) -> None:
    proc = leadsync(["daemon"], installation, tmp_path)
    events = tmp_path / "events.log"
    try:
        wait_for(lambda: events.exists() and events.read_text().strip() != "", timeout=60, what="the first write")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert events.read_text().splitlines() == ["write c1 c2"], "the batch in flight finished; no other began"

    with open_store(tmp_path / "state.db") as store:
        runs = store.list_runs("hubspot")
        assert [(r.kind, r.status) for r in runs] == [(RunKind.SYNC, RunStatus.INTERRUPTED)], stderr
        assert runs[0].counts["written"] == 2
        # the cursor is the first page's: exactly the contacts whose writes were recorded
        second = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
        assert json.loads(store.get_cursor("hubspot", "contacts") or "{}") == {"t": second.isoformat(), "id": "c2"}
        assert {a.contact_id for a in store.audit_for_run(runs[0].id)} == {"c1", "c2"}
        assert store.lock_holder("hubspot") is None
    crm = FakeCRM.load(tmp_path / "crm.json")
    assert [c for c in ("c1", "c2", "c3") if crm.value(c, "leadsync_score") is not None] == ["c1", "c2"]


def test_a_second_process_says_already_running_and_exits_0(tmp_path: Path, installation: dict[str, str]) -> None:
    with open_store(tmp_path / "state.db") as store:
        lock = store.acquire_lock("hubspot")
        assert lock is not None
        with lock:
            proc = leadsync(["sync"], installation, tmp_path)
            stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"Already running: leadsync pid {os.getpid()}" in stdout


def test_daemon_refuses_a_bad_schedule_before_starting(tmp_path: Path, installation: dict[str, str]) -> None:
    proc = leadsync(["daemon"], {**installation, "LEADSYNC_DAEMON__RESCORE_CRON": "0 2 * *"}, tmp_path)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "LEADSYNC_DAEMON__RESCORE_CRON (environment): '0 2 * *': a schedule is a cron line of 5 fields" in stderr


# -- one adapter for every job -----------------------------------------------------------------------------
def test_a_daemon_logs_in_to_salesforce_once_for_ten_jobs(make_stack: Any) -> None:
    password_flow = [
        f"LEADSYNC_SALESFORCE__{key.upper()}={value}"
        for key, value in SANDBOX_CREDENTIALS.items()
        if key != "session_id"
    ]
    stack = make_stack("salesforce", extra=["LEADSYNC_SALESFORCE__AUTH=password", *password_flow])
    assert stack.app().settings.salesforce.auth == "password", "a set-up that logs in"
    daemon = Daemon(stack.app().settings, app_factory=stack.app, calibrate=None, clock=lambda: NOW)
    before = stack.snapshot()

    for kind in ["sync"] * 8 + ["rescore", "sync"]:
        daemon.run_job(kind)

    assert [status for _, status in daemon.finished] == [RunStatus.OK] * 10
    logins = stack.sandbox.counters.delta(before).get("salesforce.oauth.token", {})
    assert sum(logins.values()) == 1
    assert daemon.adapters.builds == 1

    # the CRM ends the session: the shared adapter's client logs in again by itself, once
    stack.harness.api.expire_sessions()
    daemon.run_job("sync")
    daemon.shutdown()
    assert daemon.finished[-1] == ("sync", RunStatus.OK)
    assert sum(stack.sandbox.counters.delta(before).get("salesforce.oauth.token", {}).values()) == 2
    assert daemon.adapters.adapter is None, "shutdown closes it"


def test_an_edited_model_file_rebuilds_the_shared_adapter(make_stack: Any, tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    shutil.copy(STARTER_MODEL_PATH, model)
    stack = make_stack("hubspot", model_file=model)
    daemon = Daemon(stack.app().settings, app_factory=stack.app, calibrate=None, clock=lambda: NOW)
    daemon.run_job("sync")
    daemon.run_job("sync")
    assert daemon.adapters.builds == 1

    # the model file now leaves the grade alone: the fields to read change, so does the adapter
    text = model.read_text(encoding="utf-8")  # the starter has a fields: block already
    model.write_text(text.replace("\nfields:\n", "\nfields:\n  grade:\n    mode: never\n", 1), encoding="utf-8")
    grade = field_name(stack.app().fields_config, "grade", "hubspot")
    daemon.run_job("sync")
    assert daemon.finished[-1] == ("sync", RunStatus.OK)
    assert daemon.adapters.builds == 2
    assert daemon.adapters.adapter is not None
    assert grade not in daemon.adapters.adapter.config.extra_fields  # type: ignore[attr-defined]
    daemon.shutdown()
