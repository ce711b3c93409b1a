"""The daemon with webhooks: it serves the ASGI app (webhooks, /healthz, /metrics) and its worker writes the
score back; and the fast lane, which costs one call when nothing changed and never overlaps another run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from sync.daemon import FAST_LANE, Daemon, cron_trigger
from sync.dashboard.auth import hash_password
from sync.policies import field_name
from sync.state import RunKind
from tests.harnesses import CRMS, NOW, flatten, wait_for
from tests.sync.conftest import Stack
from tests.sync.realtime_helpers import SERVER_SETTINGS, signed_headers, webhook_body
from tests.sync.test_e2e import ONE_WRITE, past_the_search_lag
from tests.sync.test_realtime import Clock, plain_lead, synced_stack

YEARLY = "0 0 1 1 *"
# calls a fast-lane tick makes when nothing changed (Pipedrive: one /v1/recents lists persons and activities)
FAST_LANE_CALLS = {"hubspot": 1, "salesforce": 1, "pipedrive": 1}


def tier_of(stack: Stack, contact_id: str) -> object:
    app = stack.app()
    return stack.harness.crm_value(contact_id, field_name(app.fields_config, "tier", stack.crm))


def daemon_for(stack: Stack, clock: Clock, **kwargs: Any) -> Daemon:
    settings = stack.app().settings
    triggers = {job: cron_trigger(YEARLY) for job in ("sync", "rescore", "calibrate")}
    return Daemon(settings, app_factory=lambda: stack.app(clock=clock), clock=clock, triggers=triggers, **kwargs)


@pytest.mark.parametrize("crm", CRMS)
def test_the_daemon_serves_a_webhook_and_its_worker_writes_the_score_back(crm: str, make_stack: Any) -> None:
    extra = {"batch_wait_seconds": 0, "poll_seconds": 0.05}
    stack = synced_stack(make_stack, crm, **extra)
    stack.env_file.write_text(
        stack.env_file.read_text() + "".join(f"{k}={v}\n" for k, v in SERVER_SETTINGS.items()), encoding="utf-8"
    )
    target = plain_lead(stack)
    clock = Clock(NOW + timedelta(minutes=3))
    daemon = daemon_for(stack, clock, metrics_port=0)
    daemon.start()
    try:
        assert daemon.server is not None and daemon.worker is not None
        wait_for(lambda: any(kind == "sync" for kind, _ in daemon.finished), what="the sync the daemon runs at start")
        activity = stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(minutes=1))
        before = stack.snapshot()
        url = f"{daemon.server.url}/webhooks/{crm}"
        body = webhook_body(crm, target, NOW + timedelta(minutes=2), activity_id=activity)
        answer = httpx.post(url, content=body, headers=signed_headers(crm, url, body, clock()), timeout=10)
        assert answer.status_code == 200 and answer.json() == {"received": 1, "new": 1}
        again = httpx.post(url, content=body, headers=signed_headers(crm, url, body, clock()), timeout=10)
        assert again.json() == {"received": 1, "new": 0}, "a redelivery is a duplicate"

        wait_for(lambda: tier_of(stack, target) == "P1", what="the P1 written")
        wait_for(lambda: stack.app().store.count_pending_events(crm) == 0, what="the event acked")
        assert stack.writes_since(before) == ONE_WRITE[crm]
        health = httpx.get(f"{daemon.server.url}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["webhooks"]["pending"][crm] == 0
        metrics = httpx.get(f"{daemon.server.url}/metrics", timeout=10).text
        assert f'leadsync_records_total{{crm="{crm}",kind="realtime",outcome="written"}} 1.0' in metrics
        assert f'leadsync_webhook_events_done_total{{crm="{crm}",outcome="processed"}} 1.0' in metrics
        assert f'leadsync_webhook_queue_depth{{crm="{crm}"}} 0.0' in metrics
    finally:
        daemon.shutdown()
    runs = stack.app().store.list_runs(crm, limit=5)
    assert [r.kind for r in runs if r.kind is RunKind.REALTIME] != []


@pytest.mark.parametrize("crm", CRMS)
def test_the_fast_lane_costs_one_call_when_nothing_changed_and_writes_a_change(crm: str, make_stack: Any) -> None:
    stack = synced_stack(make_stack, crm, fast_lane_seconds=60)
    clock = Clock(NOW + timedelta(minutes=3))
    daemon = daemon_for(stack, clock)
    past_the_search_lag(stack)
    daemon.run_job(FAST_LANE)  # the first tick builds the daemon's adapter (field metadata reads)
    past_the_search_lag(stack)
    runs_before = len(stack.app().store.list_runs(crm, limit=100))

    before = stack.snapshot()
    daemon.run_job(FAST_LANE)
    calls = flatten(stack.sandbox.counters.delta(before))
    assert sum(calls.values()) == FAST_LANE_CALLS[crm], calls

    target = plain_lead(stack)
    stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(minutes=1))
    past_the_search_lag(stack)
    before = stack.snapshot()
    daemon.run_job(FAST_LANE)
    assert stack.writes_since(before) == ONE_WRITE[crm]
    assert tier_of(stack, target) == "P1"
    assert not daemon.skipped
    # nothing changed: no run recorded (the probe said so); the change: one sync run
    assert len(stack.app().store.list_runs(crm, limit=100)) == runs_before + 1
    daemon.shutdown()


def test_a_fast_lane_tick_is_skipped_not_queued_while_another_run_holds_the_daemon(make_stack: Any) -> None:
    stack = synced_stack(make_stack, "hubspot", fast_lane_seconds=60)
    daemon = daemon_for(stack, Clock(NOW + timedelta(minutes=3)))
    before = stack.snapshot()
    with daemon.run_mutex:  # a sync (or a webhook batch) in progress
        daemon.run_job(FAST_LANE)
    assert daemon.skipped[FAST_LANE] == 1
    assert stack.sandbox.counters.delta(before) == {}
    daemon.shutdown()


def test_the_daemon_serves_the_dashboard_when_it_has_a_password_even_without_webhooks(make_stack: Any) -> None:
    stack = make_stack("hubspot", contacts=10)
    password_hash = hash_password("correct horse", n=2**10)  # a cheap scrypt cost: only the daemon is tested here
    lines = [f"LEADSYNC_DASHBOARD__PASSWORD_HASH={password_hash}", "LEADSYNC_SERVER__PORT=0"]
    stack.env_file.write_text(stack.env_file.read_text() + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    daemon = daemon_for(stack, Clock(NOW))
    daemon.start()
    try:
        assert daemon.server is not None and daemon.worker is None, "no intake configured: no worker"
        page = httpx.get(f"{daemon.server.url}/dashboard/", timeout=10, follow_redirects=True)
        assert page.status_code == 401 and "<h1>Sign in</h1>" in page.text, "the sign-in page, from the daemon"
        assert httpx.get(f"{daemon.server.url}/healthz", timeout=10).status_code == 200
    finally:
        daemon.shutdown()
