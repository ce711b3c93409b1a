"""The hand-off wired into a run: the App's pipeline feeds each page to the nurture step after its CRM writes.

The segments are the engine's, from the model file's ``segments:`` block; the rest is the real stack:
FakeCRM pages, the pipeline, the SQLite state, and the official Mailchimp client over HTTP to the sandbox.
(The same on the sandbox's CRMs, through real backfills and syncs: test_nurture_e2e.py.)
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.sandbox import Sandbox
from connectors.sandbox.mailchimp import API_KEY, LIST_ID
from tests.nurture_harness import TAG, mailchimp_api, nurture_sandbox
from tests.sync.fakes import T0, TEST_MODEL, Clock, FakeCRM, make_app, make_settings

# the test model with a segment, as a model file names it: everyone below its MQL line (40)
BELOW_MQL_MODEL = TEST_MODEL + "\nsegments:\n  nurture: score < 40\n"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with nurture_sandbox() as sb:
        yield sb


def test_a_sync_hands_the_page_below_mql_to_mailchimp_and_a_dry_run_plans_it(tmp_path: Path, sandbox: Sandbox) -> None:
    clock = Clock(T0)
    crm = FakeCRM(clock=clock, page_size=3)
    api = mailchimp_api(sandbox)
    for i in range(6):
        email = f"p{i}@example.com"
        opt_out = "true" if i == 2 else None
        crm.add_contact(f"c{i}", updated_at=T0 - timedelta(days=1, minutes=-i), email=email, hs_email_optout=opt_out)
        api.add_member(email, "unsubscribed" if opt_out else "subscribed")
    settings = make_settings(
        tmp_path,
        model=BELOW_MQL_MODEL,
        nurture={"segments": {"nurture": [f"mailchimp:tag:{TAG}"]}},
        mailchimp={
            "api_key": API_KEY,
            "list_id": LIST_ID,
            "base_url": sandbox.http_url + "/3.0",
            "batch_poll_seconds": 0,
        },
    )

    app = make_app(settings, crm, clock)
    try:
        planned = app.run("sync", dry_run=True)
        assert not api.tagged(TAG)
        assert planned.counts["nurture_planned_add"] == 5 and planned.plan_path is not None
        with planned.plan_path.open(encoding="utf-8") as fh:
            rows = [row for row in csv.DictReader(fh) if row["kind"] == "nurture"]
        assert sorted(r["contact_id"] for r in rows) == ["c0", "c1", "c3", "c4", "c5"]
        assert {(r["field"], r["old"], r["new"]) for r in rows} == {(f"nurture:mailchimp:tag:{TAG}", "out", "in")}

        summary = app.run("sync")
    finally:
        app.close()

    assert summary.counts["nurture_added"] == 5
    assert api.tagged(TAG) == {f"p{i}@example.com" for i in (0, 1, 3, 4, 5)}
    assert api.status_of("p2@example.com") == "unsubscribed"


def test_check_names_a_missing_tag_in_a_sentence(tmp_path: Path, sandbox: Sandbox) -> None:
    clock = Clock(T0)
    settings = make_settings(
        tmp_path,
        nurture={"segments": {"nurture": ["mailchimp:tag:Nurturing"]}},
        mailchimp={"api_key": API_KEY, "list_id": LIST_ID, "base_url": sandbox.http_url + "/3.0"},
    )
    app = make_app(settings, FakeCRM(clock=clock), clock)
    try:
        report = app.check()
    finally:
        app.close()
    assert not report["ok"]
    assert any("has no tag 'Nurturing'" in line for line in report["lines"])


def test_leadsync_nurture_revert_takes_a_runs_contacts_out_again(tmp_path: Path, sandbox: Sandbox) -> None:
    from click.testing import CliRunner

    from connectors.nurture import Target
    from sync.cli import _register_optional_commands, cli
    from sync.nurture import NurtureStep, Route, Scored, build_destinations
    from sync.settings import load_settings
    from sync.state import RunKind, open_store

    env = tmp_path / ".env"
    env.write_text(
        "\n".join(
            [
                "LEADSYNC_CRM=hubspot",
                "LEADSYNC_HUBSPOT__ACCESS_TOKEN=pat-test-token",
                f"LEADSYNC_STATE_URL=sqlite:///{tmp_path / 'state.db'}",
                f'LEADSYNC_NURTURE__SEGMENTS={{"nurture": ["mailchimp:tag:{TAG}"]}}',
                f"LEADSYNC_MAILCHIMP__API_KEY={API_KEY}",
                f"LEADSYNC_MAILCHIMP__LIST_ID={LIST_ID}",
                f"LEADSYNC_MAILCHIMP__BASE_URL={sandbox.http_url}/3.0",
                "LEADSYNC_MAILCHIMP__BATCH_POLL_SECONDS=0",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    api = mailchimp_api(sandbox)
    for i in range(3):
        api.add_member(f"p{i}@example.com")
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    step = NurtureStep(
        crm="hubspot",
        store=store,
        routes=[Route("nurture", "mailchimp", Target("tag", TAG))],
        destinations=build_destinations(load_settings(env)),
        clock=Clock(T0),
    )
    run_id = store.start_run("hubspot", RunKind.SYNC, now=T0)
    step.run(
        [Scored(f"c{i}", f"p{i}@example.com", "", True, frozenset({"nurture"})) for i in range(3)],
        run_id=run_id,
        dry_run=False,
    )
    store.close()
    assert len(api.tagged(TAG)) == 3

    _register_optional_commands()
    planned = CliRunner().invoke(cli, ["--env-file", str(env), "nurture", "revert", str(run_id), "--dry-run"])
    assert planned.exit_code == 0 and "planned_remove 3" in planned.output and len(api.tagged(TAG)) == 3
    done = CliRunner().invoke(cli, ["--env-file", str(env), "nurture", "revert", str(run_id)])
    assert done.exit_code == 0, done.output
    assert "removed 3" in done.output and not api.tagged(TAG)
    assert CliRunner().invoke(cli, ["--env-file", str(env), "nurture", "revert", "999"]).exit_code == 2
