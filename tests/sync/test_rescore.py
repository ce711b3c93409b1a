"""Time-driven rescoring: from stored inputs, only the contacts time has changed, and not one read call."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import sync.pipeline
from sync.app import App
from sync.state import RunKind, RunStatus
from tests.sync.fakes import T0, TEST_MODEL, Clock, FakeCRM, make_app, make_settings

SCORE, TIER, SLA = "leadsync_score", "leadsync_priority_tier", "leadsync_sla_due_at"


@pytest.fixture
def crm(clock: Clock) -> FakeCRM:
    """Two VPs who asked for a demo an hour ago (P1 for a day, demo points for 7 days), and three who did
    nothing that time can change."""
    fake = FakeCRM(clock=clock, page_size=2)
    before = T0 - timedelta(days=30)
    for cid in ("d1", "d2"):
        fake.add_contact(cid, updated_at=before, title="VP Sales", email=f"{cid}@acme.test")
        fake.add_activity(cid, "demo_request", occurred_at=T0 - timedelta(hours=1))
    for cid in ("v1", "v2"):
        fake.add_contact(cid, updated_at=before, title="VP Marketing")
        fake.add_activity(cid, "page_view", occurred_at=T0 - timedelta(days=3))
    fake.add_contact("n1", updated_at=before, title="Student")
    return fake


@pytest.fixture
def app(tmp_path: Path, crm: FakeCRM, clock: Clock) -> Iterator[App]:
    application = make_app(make_settings(tmp_path, batch_size=2), crm, clock)
    summary = application.run("backfill")
    assert summary.status is RunStatus.OK and summary.counts["written"] == 5
    crm.reset_counters()
    yield application
    application.close()


def written_by_contact(crm: FakeCRM) -> dict[str, dict[str, Any]]:
    return {u.contact_id: dict(u.values) for u in crm.writes}


def test_rescore_after_time_passes_writes_only_the_changed_contacts_and_reads_nothing(
    app: App, crm: FakeCRM, clock: Clock
) -> None:
    assert crm.value("d1", TIER) == "P1" and crm.value("d1", SCORE) == 70

    clock.advance(days=2)  # the demo requests are older than 24h: no longer P1
    summary = app.run("rescore")

    assert summary.status is RunStatus.OK
    assert crm.read_calls == 0 and crm.calls == {"write": 1}, "two due contacts, one batch, one write"
    writes = written_by_contact(crm)
    assert set(writes) == {"d1", "d2"}
    assert writes["d1"][TIER] == "" and writes["d1"][SLA] == ""
    assert SCORE not in writes["d1"], "the demo still counts: only what changed is written"
    assert summary.counts["read"] == 2 and summary.counts["written"] == 2

    crm.reset_counters()
    clock.advance(days=6)  # the demo requests are older than 7 days: their points are gone
    summary = app.run("rescore")
    assert crm.read_calls == 0 and set(written_by_contact(crm)) == {"d1", "d2"}
    assert crm.value("d1", SCORE) == 30 and crm.value("d2", SCORE) == 30
    assert crm.value("v1", SCORE) == 35, "untouched"

    crm.reset_counters()
    summary = app.run("rescore")  # nothing left that time can change
    assert crm.calls == {} and summary.counts["read"] == 0

    runs = app.store.list_runs("hubspot", kind=RunKind.RESCORE)
    assert [r.status for r in runs] == [RunStatus.OK] * 3
    assert app.store.count_due("hubspot", clock() + timedelta(days=365)) == 0


def test_rescore_compares_with_what_leadsync_wrote_since_the_inputs_were_saved(
    app: App, crm: FakeCRM, clock: Clock
) -> None:
    clock.advance(days=2)
    app.run("rescore")
    crm.reset_counters()
    clock.advance(hours=1)  # nothing due: the tier was already cleared, the written values say so
    app.run("rescore")
    assert crm.calls == {}


def test_dry_run_rescore_neither_reads_nor_writes(app: App, crm: FakeCRM, clock: Clock) -> None:
    clock.advance(days=2)
    summary = app.run("rescore", dry_run=True)
    assert crm.calls == {} and summary.counts["changed"] == 2
    assert crm.value("d1", TIER) == "P1"


def test_rescore_with_owner_assignment_on_reads_no_owners(tmp_path: Path, crm: FakeCRM, clock: Clock) -> None:
    model = TEST_MODEL + "policies:\n  owners:\n    enabled: true\n    pool: [u1, u2]\n"
    application = make_app(make_settings(tmp_path, model=model), crm, clock)
    try:
        application.run("backfill")
        assert crm.calls["read_owners"] == 1
        crm.reset_counters()
        clock.advance(days=2)
        application.run("rescore")
        assert crm.read_calls == 0 and crm.calls == {"write": 1}
    finally:
        application.close()


def test_a_contact_due_again_within_the_same_rescore_is_scored_once(
    app: App, crm: FakeCRM, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_score = sync.pipeline.score

    def always_due(model: Any, contact: Any, activities: Any, now: datetime) -> Any:
        # an engine that says "changes again right now" must not make a rescore loop
        return dataclasses.replace(real_score(model, contact, activities, now), next_change_at=now)

    monkeypatch.setattr(sync.pipeline, "score", always_due)
    clock.advance(days=2)  # d1 and d2 are due (since T0 + 23h); once rescored they are due again, at now
    summary = app.run("rescore")
    assert summary.counts["read"] == 2 and summary.counts["scored"] == 2, "each due contact once"
    assert crm.read_calls == 0
