"""Response-SLA tracking: the state store's SLA book, first touches per CRM, the report, escalation with a
frozen clock, the Prometheus gauges and ``leadsync sla``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from connectors.records import Activity
from scoring import score
from sync.leads import LeadWatch
from sync.notify.courier import Courier
from sync.sla import EscalationJob, is_touch, outcome, sla_report
from sync.state import ScoringInputs, SlaLead, StateStore, open_store
from tests.sync.fakes import T0, Clock, FakeCRM, WebhookReceiver, make_app, make_settings


@pytest.fixture
def owner_hook(receivers: Callable[[], WebhookReceiver]) -> WebhookReceiver:
    return receivers()


@pytest.fixture
def manager_hook(receivers: Callable[[], WebhookReceiver]) -> WebhookReceiver:
    return receivers()


def act(aid: str, kind: str, at: datetime, source: str = "", **attrs: Any) -> Activity:
    return Activity(aid, "c1", kind, at, attrs, source or kind)


# -- the store ------------------------------------------------------------------------------------------
def test_the_sla_book_keeps_open_due_and_recent_leads(store: StateStore) -> None:
    lead = SlaLead("c1", "P1", "u1", T0, T0 + timedelta(minutes=10))
    store.sla_save("hubspot", [lead, SlaLead("c2", "P2", None, T0, T0 + timedelta(hours=48))])
    (stored,) = store.sla_open("hubspot", ["c1"]).values()
    assert stored.id is not None and (stored.tier, stored.owner_id, stored.due_at) == ("P1", "u1", lead.due_at)
    assert store.sla_due("hubspot", T0 + timedelta(minutes=9)) == []
    assert [d.contact_id for d in store.sla_due("hubspot", T0 + timedelta(minutes=10))] == ["c1"]

    touched = SlaLead("c1", "P1", "u1", T0, lead.due_at, T0 + timedelta(minutes=5), "a9", id=stored.id)
    store.sla_save("hubspot", [touched])
    assert store.sla_open("hubspot", ["c1"]) == {}
    assert store.sla_due("hubspot", T0 + timedelta(days=3)) == [store.sla_open("hubspot", ["c2"])["c2"]]
    assert {x.contact_id for x in store.sla_since("hubspot", T0)} == {"c1", "c2"}
    assert store.sla_since("pipedrive", T0) == [] and store.sla_since("hubspot", T0 + timedelta(seconds=1)) == []


# -- what counts as a touch -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("crm", "activity", "touch"),
    [
        ("hubspot", act("a", "call", T0, "CALL:COMPLETED"), True),
        ("hubspot", act("a", "call", T0, "CALL:NO_ANSWER"), True),
        ("hubspot", act("a", "call", T0, "CALL:CANCELED"), False),
        ("hubspot", act("a", "email_sent", T0, "EMAIL:SENT"), True),
        ("hubspot", act("a", "email_open", T0, "EMAIL:OPENED"), True),  # a seller's e-mail the lead opened
        ("hubspot", act("a", "email_reply", T0, "EMAIL:INCOMING_EMAIL"), False),  # the lead wrote
        ("hubspot", act("a", "meeting", T0, "MEETING:SCHEDULED"), True),
        ("hubspot", act("a", "form_submission", T0, "FORM"), False),
        ("salesforce", act("a", "call", T0, "Task:Call", sobject="Task", status="Completed"), True),
        ("salesforce", act("a", "call", T0, "Task:Call", sobject="Task", status="Not Started"), False),
        ("salesforce", act("a", "email_open", T0, "Task:Email Opened", sobject="Task", status="Completed"), False),
        ("salesforce", act("a", "meeting", T0, "Event:Meeting", sobject="Event"), True),
        ("salesforce", act("a", "webinar_attended", T0, "CampaignMember:Webinar"), False),
        ("pipedrive", act("a", "call", T0, "call", done=True, owner_id="7"), True),
        ("pipedrive", act("a", "call", T0, "call", done=False, owner_id="7"), False),
        ("pipedrive", act("a", "page_view", T0, "web", done=True, owner_id="7"), False),
    ],
)
def test_a_touch_is_a_call_email_or_meeting_a_person_logged(crm: str, activity: Activity, touch: bool) -> None:
    assert is_touch(crm, activity) is touch


# -- the report -----------------------------------------------------------------------------------------
def test_report_counts_met_missed_and_pending_per_tier_and_owner_and_window() -> None:
    now = T0 + timedelta(days=40)

    def lead(cid: str, tier: str, owner: str | None, days_ago: float, touched_after: float | None) -> SlaLead:
        start = now - timedelta(days=days_ago)
        due = start + (timedelta(minutes=10) if tier == "P1" else timedelta(hours=48))
        touched = None if touched_after is None else start + timedelta(minutes=touched_after)
        return SlaLead(cid, tier, owner, start, due, touched, "a1" if touched else None)

    history = [
        lead("a", "P1", "u1", 1, 5),  # met
        lead("b", "P1", "u1", 2, 30),  # touched late: missed
        lead("c", "P1", "u1", 3, None),  # never touched, long due: missed
        lead("d", "P1", "u2", 20, 1),  # met, only in the 30-day window
        lead("e", "P2", "u1", 0.5, None),  # due in 48 h: pending
        lead("f", "P2", None, 10, 60),  # met (48 h SLA), in the 30-day window
        lead("g", "P1", "u1", 35, 1),  # older than 30 days: in neither window
    ]
    history.append(replace_escalated(history[2], now))
    week = {(r.tier, r.owner_id): (r.met, r.missed, r.pending, r.escalated) for r in sla_report(history, now, 7)}
    assert week == {("P1", "u1"): (1, 3, 0, 1), ("P2", "u1"): (0, 0, 1, 0)}
    month = {(r.tier, r.owner_id): (r.met, r.missed, r.pending) for r in sla_report(history, now, 30)}
    assert month == {("P1", "u1"): (1, 3, 0), ("P1", "u2"): (1, 0, 0), ("P2", ""): (1, 0, 0), ("P2", "u1"): (0, 0, 1)}
    (row,) = [r for r in sla_report(history, now, 7) if r.tier == "P1"]
    assert row.met_rate == 0.25 and row.as_dict()["met_rate"] == 0.25
    assert outcome(SlaLead("z", "P1", None, now, None), now) is None


def replace_escalated(lead: SlaLead, now: datetime) -> SlaLead:
    return SlaLead("c2", lead.tier, lead.owner_id, lead.prioritized_at, lead.due_at, None, None, now)


# -- escalation with a frozen clock -----------------------------------------------------------------------
def settings_with(tmp_path: Path, owner_hook: WebhookReceiver, manager_hook: WebhookReceiver) -> Any:
    return make_settings(
        tmp_path,
        notify={
            "events": {"p1": [], "escalation": ["slack"]},
            "owners": {"u1": {"slack_webhook_url": owner_hook.url, "timezone": "Europe/Berlin"}},
            "manager_slack_webhook_url": manager_hook.url,
            "hubspot_portal_id": "4711",
        },
    )


def prioritize(settings: Any, crm: FakeCRM, cid: str, now: datetime, touches: Sequence[Activity] = ()) -> None:
    """Score ``cid`` and tell a run's LeadWatch, as a sync would, with ``touches`` among its activities."""
    app = make_app(settings, crm, lambda: now)
    activities = [*crm.activities[cid], *touches]
    result = score(app.model, crm.contacts[cid], activities, now)
    with open_store(settings.state_url) as store:
        store.save_inputs(
            "hubspot",
            [
                ScoringInputs(
                    crm.contacts[cid],
                    tuple(activities),
                    app.model.version,
                    now,
                    None,
                    result.total,
                    result.stage,
                    result.tier,
                )
            ],
        )
        watch = LeadWatch(settings, store, kind="sync", respond={"P1": timedelta(minutes=10)})
        watch.observe(crm.contacts[cid], None, result, "u1", now, activities=activities)
        watch.finish()


def test_escalation_waits_for_the_due_time_tells_owner_and_manager_once_and_spares_touched_leads(
    tmp_path: Path, owner_hook: WebhookReceiver, manager_hook: WebhookReceiver
) -> None:
    settings = settings_with(tmp_path, owner_hook, manager_hook)
    clock = Clock(T0)
    crm = FakeCRM(clock=clock)
    for cid in ("c1", "c2"):
        crm.add_contact(cid, first_name=cid.upper(), title="VP Sales", owner_id="u1")
        crm.add_activity(cid, "demo_request")  # at T0: P1, due at T0 + 10 min
    prioritize(settings, crm, "c1", T0)
    call = Activity("call-1", "c2", "call", T0 + timedelta(minutes=4), {}, "CALL:COMPLETED")
    prioritize(settings, crm, "c2", T0 + timedelta(minutes=5), [call])
    registry = CollectorRegistry()
    job = EscalationJob(settings, registry, courier_factory=lambda: Courier(settings.notify, backoff=0))

    assert job.run(T0 + timedelta(minutes=9)) == [], "not yet due: nothing"
    assert owner_hook.bodies == [] and manager_hook.bodies == []

    (escalated,) = job.run(T0 + timedelta(minutes=10))
    assert escalated.contact_id == "c1" and escalated.escalated_at == T0 + timedelta(minutes=10)
    assert len(owner_hook.texts) == 1 and len(manager_hook.texts) == 1
    text = owner_hook.texts[0]
    assert "C1" in text and "past its response SLA" in text and "contact c1" in text
    assert "Respond by: 2026-01-05 10:10 CET" in text, "the owner's time zone"
    assert "https://app.hubspot.com/contacts/4711/record/0-1/c1" in text
    assert "Respond by: 2026-01-05 09:10 UTC" in manager_hook.texts[0]

    assert job.run(T0 + timedelta(minutes=11)) == [], "a second tick repeats nothing"
    assert len(owner_hook.texts) == 1 and len(manager_hook.texts) == 1

    with open_store(settings.state_url) as store:
        leads = {lead.contact_id: lead for lead in store.sla_since("hubspot", T0 - timedelta(days=1))}
    assert leads["c2"].touched_at == T0 + timedelta(minutes=4) and leads["c2"].touch_activity_id == "call-1"
    assert outcome(leads["c2"], T0 + timedelta(minutes=11)) == "met" and leads["c2"].escalated_at is None
    assert outcome(leads["c1"], T0 + timedelta(minutes=11)) == "missed"
    value = registry.get_sample_value
    labels = {"crm": "hubspot", "tier": "P1", "owner": "u1", "window": "7d"}
    assert value("leadsync_sla_leads", {**labels, "outcome": "met"}) == 1
    assert value("leadsync_sla_leads", {**labels, "outcome": "missed"}) == 1
    assert value("leadsync_sla_escalations_total", {"crm": "hubspot", "tier": "P1"}) == 1


def test_a_touch_before_the_lead_became_prioritized_does_not_count(tmp_path: Path, owner_hook: WebhookReceiver) -> None:
    settings = make_settings(tmp_path)
    crm = FakeCRM(clock=Clock(T0))
    crm.add_contact("c1", title="VP Sales", owner_id="u1")
    crm.add_activity("c1", "demo_request")
    earlier = Activity("call-0", "c1", "call", T0 - timedelta(hours=1), {}, "CALL:COMPLETED")
    prioritize(settings, crm, "c1", T0 + timedelta(minutes=1), [earlier])
    with open_store(settings.state_url) as store:
        (lead,) = store.sla_open("hubspot", ["c1"]).values()
    assert lead.prioritized_at == T0 and lead.touched_at is None


def test_leadsync_sla_reports_json_and_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.cli import _register_optional_commands, cli
    from sync.testhooks import TEST_NOW_ENV

    _register_optional_commands()
    settings = make_settings(tmp_path)
    now = T0 + timedelta(days=40)
    with open_store(settings.state_url) as store:
        store.sla_save(
            "hubspot",
            [
                SlaLead(
                    "c1",
                    "P1",
                    "u1",
                    now - timedelta(days=1),
                    now - timedelta(days=1) + timedelta(minutes=10),
                    now - timedelta(days=1) + timedelta(minutes=3),
                    "a1",
                ),
                SlaLead("c2", "P1", "u1", now - timedelta(days=9), now - timedelta(days=9) + timedelta(minutes=10)),
            ],
        )
    env = tmp_path / "test.env"
    env.write_text(
        "\n".join(
            [
                "LEADSYNC_CRM=hubspot",
                f"LEADSYNC_MODEL_FILE={settings.model_file}",
                f"LEADSYNC_STATE_URL={settings.state_url}",
                "LEADSYNC_HUBSPOT__ACCESS_TOKEN=pat-test",
            ]
        ),
        encoding="utf-8",
    )
    for name in [k for k in os.environ if k.startswith("LEADSYNC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(TEST_NOW_ENV, now.isoformat())
    result = CliRunner().invoke(cli, ["--env-file", str(env), "sla", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {
        (r["days"], r["tier"], r["owner_id"]): (r["met"], r["missed"], r["pending"]) for r in json.loads(result.output)
    }
    assert rows == {(7, "P1", "u1"): (1, 0, 0), (30, "P1", "u1"): (1, 1, 0)}
    table = CliRunner().invoke(cli, ["--env-file", str(env), "sla", "--days", "30"], catch_exceptions=False)
    assert table.exit_code == 0 and "50%" in table.output
    assert "met, missed" in CliRunner().invoke(cli, ["sla", "--help"]).output
    runs = CliRunner().invoke(cli, ["--env-file", str(env), "runs"], catch_exceptions=False)
    assert runs.exit_code == 0 and "Response SLAs, last 7 days: P1 met 1, missed 0, pending 0" in runs.output
