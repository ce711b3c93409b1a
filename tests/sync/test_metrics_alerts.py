"""Health, Prometheus metrics and webhook alerts: served and delivered over real local HTTP."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from connectors.http import redact
from connectors.records import Contact
from sync.alerts import Alerter
from sync.metrics import Health, Metrics, MetricsServer
from tests.sync.fakes import Clock, WebhookReceiver

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def alerter_for(url: str, **kwargs: object) -> Alerter:
    return Alerter(SecretStr(url), crm="hubspot", sleep=lambda s: None, **kwargs)  # type: ignore[arg-type]


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


# -- metrics and health ----------------------------------------------------------------------------------
def test_metrics_count_records_calls_quota_and_last_success() -> None:
    metrics = Metrics()
    for status in ("ok", "failed"):
        metrics.observe_run(
            crm="hubspot",
            kind="sync",
            status=status,
            counts={"read": 10, "scored": 10, "written": 4, "failed": 1, "quarantined": 1},
            api_calls={"contacts.search": 3, "contacts.batch_update": 1},
            quota_left=900,
            duration=2.5,
            finished_at=T0,
        )
    value = metrics.registry.get_sample_value
    assert value("leadsync_records_total", {"crm": "hubspot", "kind": "sync", "outcome": "read"}) == 20
    assert value("leadsync_records_total", {"crm": "hubspot", "kind": "sync", "outcome": "written"}) == 8
    assert value("leadsync_api_calls_total", {"crm": "hubspot", "endpoint": "contacts.search"}) == 6
    assert value("leadsync_quota_left", {"crm": "hubspot"}) == 900
    assert value("leadsync_runs_total", {"crm": "hubspot", "kind": "sync", "status": "failed"}) == 1
    assert value("leadsync_last_success_timestamp_seconds", {"crm": "hubspot", "kind": "sync"}) == T0.timestamp()
    assert b'leadsync_records_total{crm="hubspot",kind="sync",outcome="read"} 20.0' in metrics.render()


def test_health_follows_the_last_sync_and_its_age() -> None:
    clock = Clock(T0)
    health = Health(crm="hubspot", sync_interval=timedelta(minutes=15), clock=clock)
    assert health.report().healthy, "just started: healthy until the first sync is due twice"
    clock.advance(minutes=31)
    report = health.report()
    assert not report.healthy and report.status_code == 503
    assert "no successful sync" in report.body["reason"]

    health.record(run_id=1, kind="sync", status="ok", finished_at=clock(), error=None)
    assert health.report().status_code == 200
    clock.advance(minutes=29)
    assert health.report().healthy
    clock.advance(minutes=2)
    assert not health.report().healthy, "older than twice the interval"

    health.record(run_id=2, kind="sync", status="partial", finished_at=clock(), error=None)
    assert health.report().healthy, "a partial run finished: only records were quarantined"
    health.record(run_id=3, kind="sync", status="failed", finished_at=clock(), error="CRM error: boom")
    report = health.report()
    assert not report.healthy
    assert report.body["last_run"]["error"] == "CRM error: boom"
    assert report.body["last_success_at"] == clock().isoformat()


def test_health_seeded_with_a_success_before_start() -> None:
    clock = Clock(T0)
    health = Health(crm="salesforce", sync_interval=timedelta(minutes=15), clock=clock)
    health.seed(T0 - timedelta(minutes=5))
    assert health.report().body["last_success_at"] == (T0 - timedelta(minutes=5)).isoformat()


def test_server_answers_healthz_and_metrics_on_localhost() -> None:
    clock = Clock(T0)
    metrics = Metrics()
    health = Health(crm="hubspot", sync_interval=timedelta(minutes=15), clock=clock)
    metrics.observe_run(
        crm="hubspot",
        kind="sync",
        status="ok",
        counts={"read": 3},
        api_calls={"search": 1},
        quota_left=5,
        duration=0.1,
        finished_at=T0,
    )
    health.record(run_id=7, kind="sync", status="ok", finished_at=T0, error=None)
    server = MetricsServer(metrics, health, port=0).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        status, ctype, body = get(server.url + "/healthz")
        assert status == 200 and ctype == "application/json"
        doc = json.loads(body)
        assert doc["status"] == "ok" and doc["last_run"]["run_id"] == 7

        status, ctype, body = get(server.url + "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert b'leadsync_quota_left{crm="hubspot"} 5.0' in body

        clock.advance(hours=1)
        status, _, body = get(server.url + "/healthz")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"
        assert get(server.url + "/nope")[0] == 404
    finally:
        server.stop()


# -- alerts ----------------------------------------------------------------------------------------------
def test_alerts_on_failure_once_per_error_recovery_and_new_quarantines(receiver: WebhookReceiver) -> None:
    alerter = alerter_for(receiver.url)
    alerter.run_finished(run_id=1, kind="sync", status="ok", error=None)
    alerter.run_finished(run_id=2, kind="sync", status="failed", error="CRM error: 500 from search")
    alerter.run_finished(run_id=3, kind="sync", status="failed", error="CRM error: 500 from search")
    alerter.run_finished(run_id=4, kind="sync", status="partial", error=None, quarantined=2, newly_quarantined=2)
    alerter.run_finished(run_id=5, kind="sync", status="partial", error=None, quarantined=2, newly_quarantined=0)
    alerter.close()

    texts = receiver.texts
    assert len(texts) == 3, texts
    assert "run 2 (sync) on hubspot failed: CRM error: 500 from search" in texts[0]
    assert "works again" in texts[1] and "run 4" in texts[1]
    assert "run 4 (sync) on hubspot quarantined 2 record(s)" in texts[2] and "leadsync show 4" in texts[2]
    assert alerter.delivered == 3 and alerter.dropped == 0


def test_p1_alerts_queued_together_go_out_as_one_message(receiver: WebhookReceiver) -> None:
    alerter = alerter_for(receiver.url)
    gate = threading.Event()
    original = alerter._post

    def slow_post(text: str) -> None:
        gate.wait(5)
        original(text)

    alerter._post = slow_post  # type: ignore[method-assign]
    alerter.notify("first")  # keeps the sender busy while the P1s queue up
    for i in range(3):
        contact = Contact(f"c{i}", T0, {"first_name": "Ann", "last_name": f"Lee{i}", "email": f"ann{i}@acme.test"})
        alerter.p1(contact, score=91, sla_due_at=T0 + timedelta(minutes=10), reason="Requested a demo")
    gate.set()
    alerter.close()

    assert receiver.texts[0] == "first"
    assert len(receiver.texts) == 2
    p1 = receiver.texts[1]
    assert p1.startswith(":rotating_light: 3 new P1 leads in hubspot:")
    for i in range(3):
        assert p1.count(f"contact c{i},") == 1
    assert "Ann Lee0 <ann0@acme.test>, contact c0, score 91, respond by 2026-03-02 09:10 UTC. Requested a demo" in p1


def test_delivery_is_retried_then_given_up_without_logging_the_url(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [503, 429]
    alerter = alerter_for(receiver.url)
    alerter.notify("run failed")
    assert alerter.flush(5)
    assert receiver.texts == ["run failed"] and len(receiver.paths) == 3, "two retries, then delivered"

    receiver.statuses = [500, 500, 500]
    with caplog.at_level(logging.WARNING, logger="leadsync.alerts"):
        alerter.notify("another")
        assert alerter.flush(5)
    assert alerter.dropped == 1
    assert "could not deliver an alert to the webhook (HTTP 500)" in caplog.text

    receiver.statuses = [404]
    alerter.notify("refused")
    assert alerter.flush(5)
    assert len(receiver.paths) == 7, "a 4xx is not retried"
    alerter.close()
    assert "SECRET" not in caplog.text


def test_unreachable_webhook_never_breaks_the_caller_or_leaks_the_url(caplog: pytest.LogCaptureFixture) -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens there any more
    alerter = alerter_for(f"http://127.0.0.1:{port}/hooks/SECRETPATH", timeout=1.0)
    with caplog.at_level(logging.DEBUG):
        alerter.notify("hello")
        assert alerter.flush(10)
        alerter.close()
    assert alerter.dropped == 1
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("leadsync"))
    assert "ConnectionError" in ours and "SECRETPATH" not in ours
    # HTTP libraries log request paths at DEBUG: the redactor every log handler uses hides the webhook's
    assert "SECRETPATH" not in redact(f'"POST /hooks/SECRETPATH HTTP/1.1" 200 2 127.0.0.1:{port}')


def test_without_a_webhook_alerts_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    alerter = Alerter(None, crm="pipedrive")
    assert not alerter.enabled
    with caplog.at_level(logging.INFO, logger="leadsync.alerts"):
        alerter.run_finished(run_id=9, kind="rescore", status="failed", error="boom")
    alerter.close()
    assert "alert (no webhook configured)" in caplog.text and "run 9 (rescore)" in caplog.text
