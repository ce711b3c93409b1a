"""The monthly calibration report goes out through the alert channel: its summary's first lines and the link
to the full report, delivered to a local Slack-compatible webhook."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.records import Outcome
from sync.alerts import CALIBRATION_SUMMARY_LINES, calibration_message
from sync.calibration_job import calibrate_job
from sync.daemon import Daemon
from tests.sync.fakes import T0, Clock, FakeCRM, WebhookReceiver, make_app, make_settings


def won_lost_history(crm: FakeCRM) -> None:
    """Eight contacts, half won, closed 10-17 days before T0, from two lead sources."""
    before = T0 - timedelta(days=60)
    for n in range(8):
        cid = f"c{n}"
        crm.add_contact(
            cid,
            updated_at=before,
            title="VP Sales" if n % 2 else "Intern",
            email=f"{cid}@acme.test",
            lead_source="Referral" if n % 4 == 1 else "Paid Search",
        )
        crm.outcomes.append(Outcome(cid, won=bool(n % 2), closed_at=T0 - timedelta(days=10 + n)))


def run_monthly_job(
    tmp_path: Path, clock: Clock, daemon: dict[str, Any], notify: dict[str, Any] | None = None, *, history: bool = True
) -> None:
    """The daemon's monthly calibration job on a fake CRM (with ``won_lost_history`` unless ``history`` is
    False), its alerts delivered before it returns; ``daemon``/``notify``: those settings sections (the
    reports go to ``tmp_path/reports`` unless ``daemon`` names a ``report_dir``)."""
    crm = FakeCRM(clock=clock)
    if history:
        won_lost_history(crm)
    settings = make_settings(tmp_path, daemon={"report_dir": tmp_path / "reports", **daemon}, notify=notify or {})
    job = Daemon(settings, app_factory=lambda: make_app(settings, crm, clock), clock=clock, calibrate=calibrate_job)
    job.alerter.sleep = lambda seconds: None
    try:
        job.run_job("calibrate")
        assert job.alerter.flush()
    finally:
        job.alerter.close()


@pytest.mark.parametrize("base_url", ["https://reports.example.test/leadsync/", None])
def test_the_monthly_report_summary_and_link_reach_the_webhook(
    tmp_path: Path, clock: Clock, receiver: WebhookReceiver, base_url: str | None
) -> None:
    reports = tmp_path / "reports"
    daemon_settings: dict[str, Any] = {"report_dir": reports, "webhook_url": SecretStr(receiver.url)}
    if base_url:
        daemon_settings["report_base_url"] = base_url
    run_monthly_job(tmp_path, clock, daemon_settings)

    (text,) = receiver.texts
    html = reports / "calibration-hubspot-2026-01-05.html"
    assert html.exists()
    assert text.startswith(":bar_chart: leadsync monthly calibration report for hubspot:\n")
    assert "Read 8 contacts from hubspot: 4 won (50%)." in text
    link = f"{base_url}calibration-hubspot-2026-01-05.html" if base_url else str(html.resolve())
    assert text.endswith(f"\nReport: {link}")
    body = text.split("\n")[1:-1]
    assert len(body) <= CALIBRATION_SUMMARY_LINES + 1


def test_a_long_summary_is_cut_to_its_first_lines() -> None:
    summary = "\n".join(f"line {n}" for n in range(20))
    text = calibration_message("salesforce", summary, "https://r.example.test/x.html")
    lines = text.splitlines()
    assert lines[1 : 1 + CALIBRATION_SUMMARY_LINES] == [f"line {n}" for n in range(CALIBRATION_SUMMARY_LINES)]
    assert lines[-2] == f"…{20 - CALIBRATION_SUMMARY_LINES} more line(s) in the report."
    assert lines[-1] == "Report: https://r.example.test/x.html"


def test_no_outcomes_no_report_no_alert(tmp_path: Path, clock: Clock, receiver: WebhookReceiver) -> None:
    daemon = {"report_dir": tmp_path / "r", "webhook_url": SecretStr(receiver.url)}
    run_monthly_job(tmp_path, clock, daemon, history=False)
    assert receiver.texts == []


def test_the_report_base_url_must_be_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="full URL"):
        make_settings(tmp_path, daemon={"report_base_url": "reports.example.test"})
