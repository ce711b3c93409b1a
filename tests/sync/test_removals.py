"""Contacts that leave the CRM (deleted, merged away), HubSpot's search index lag, and sticky owners on revert.

On the sandbox over HTTP with the real adapters, state store and App; the App's and the adapter's clocks are
the sandbox's, so "seconds later" is a clock move.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ReadsRemovals
from connectors.hubspot import HubSpotAdapter
from connectors.records import Contact, FieldUpdate, WriteStatus
from sync.app import App
from sync.policies import field_name
from sync.revert import revert_run
from sync.settings import load_settings
from sync.state import Assignment, RunStatus
from sync.wiring import build_adapter
from tests.sync.conftest import Stack
from tests.sync.fakes import T0, TEST_MODEL, Clock, FakeCRM, make_app, make_settings

_MONOTONIC_BASE = 1e9


def clocked_app(stack: Stack, **config: Any) -> App:
    """An App whose clock, and whose adapter's ``now``, are the sandbox's (the lag margin is measured on it)."""
    sandbox = stack.sandbox

    def factory(settings: Any, fields: list[str]) -> Any:
        return build_adapter(
            settings,
            fields,
            sleep=sandbox.clock.advance,
            monotonic=lambda: sandbox.clock.seconds() + _MONOTONIC_BASE,
            now=sandbox.clock.now,
            **config,
        )

    app = App(load_settings(stack.env_file), clock=sandbox.clock.now, adapter_factory=factory)
    stack._apps.append(app)
    return app


def settle(stack: Stack, app: App) -> None:
    """Backfill, then sync until a sync finds nothing to process: the steady state of a running install."""
    assert app.run("backfill").status is RunStatus.OK
    for _ in range(6):
        stack.sandbox.clock.advance(600)
        if app.run("sync").counts["read"] == 0:
            return
    raise AssertionError("the syncs never settled")


def tier_of(stack: Stack, app: App, contact_id: str) -> Any:
    return stack.harness.crm_value(contact_id, field_name(app.fields_config, "tier", "hubspot"))


def plain_leads(stack: Stack, app: App, n: int) -> list[str]:
    """``n`` contacts with no tier yet whose stage leadsync may write (no customers, no opportunities)."""
    found = []
    for cid in sorted(stack.ids.values(), key=int):
        stage = stack.harness.crm_value(cid, "lifecyclestage")
        if stage in ("lead", "subscriber", None) and not tier_of(stack, app, cid):
            found.append(cid)
        if len(found) == n:
            return found
    raise AssertionError("the seeded data has too few plain leads")


# -- HubSpot's search index lag ------------------------------------------------------------------------------
def _late_change_then_two_syncs(stack: Stack, app: App) -> tuple[str, str]:
    """Contact ``late`` gets a demo request that HubSpot indexes 200 s late; ``quick``, changed 10 s later,
    is indexed at once; a sync runs 100 s after, and another 150 s after that."""
    api = stack.harness.api
    clock = stack.sandbox.clock
    late, quick = plain_leads(stack, app, 2)
    api.index_delay_seconds = 200
    api.add_activity(late, "demo_request", clock.now())
    api.index_delay_seconds = 0
    clock.advance(10)
    api.add_activity(quick, "page_view", clock.now())
    clock.advance(90)
    first = app.run("sync")
    assert first.status is RunStatus.OK
    clock.advance(150)
    assert app.run("sync").status is RunStatus.OK
    return late, quick


def test_without_a_lag_margin_a_change_indexed_late_is_skipped_for_good(make_stack: Any) -> None:
    """The sandbox's index delay bites: with no margin and no overlap, the cursor passes the late change."""
    stack = make_stack("hubspot")
    app = clocked_app(stack, search_lag_seconds=0.0, search_overlap_seconds=0.0)
    settle(stack, app)

    late, _ = _late_change_then_two_syncs(stack, app)

    assert tier_of(stack, app, late) in (None, ""), "skipped: the cursor went past it before it was indexed"
    assert stack.harness.api.record(late)["properties"]["hs_object_id"] == late


def test_the_default_margin_and_overlap_read_a_change_indexed_late(make_stack: Any) -> None:
    stack = make_stack("hubspot")
    app = clocked_app(stack)  # the defaults: 60 s behind now, 300 s re-read before the cursor
    settle(stack, app)

    late, _ = _late_change_then_two_syncs(stack, app)

    assert tier_of(stack, app, late) == "P1", "the demo request was read once indexed, inside the overlap"
    # the window behind the cursor is read again until a run reads it after the index settled, then never
    adapter = app.adapter
    assert isinstance(adapter, HubSpotAdapter)
    stack.sandbox.clock.advance(400)  # the last writes are older than the lag + overlap now
    assert app.run("sync").counts["written"] == 0  # their echoes, read once more
    stack.sandbox.clock.advance(20)
    cursor = app.store.get_cursor("hubspot", "contacts")
    assert cursor is not None
    before = stack.sandbox.counters.snapshot()
    overlap = [c.id for page in adapter.read_contacts(cursor) for c in page.contacts]
    searches = stack.sandbox.counters.delta(before).get("hubspot.contacts.search", {})
    steady = app.run("sync")
    assert overlap == [] and sum(searches.values()) == 1, "a settled window is not read again: one search"
    assert steady.counts["read"] == 0 and steady.counts["written"] == 0 and steady.counts["echoes"] == 0


# -- merges and deletions on HubSpot ---------------------------------------------------------------------------
def test_hubspot_merge_and_delete_are_reported_and_never_written_again(make_stack: Any) -> None:
    stack = make_stack("hubspot")
    app = clocked_app(stack)
    settle(stack, app)
    api = stack.harness.api
    clock = stack.sandbox.clock
    keep, merged, deleted = plain_leads(stack, app, 3)
    owner = "owner-from-leadsync"
    app.store.set_assignments("hubspot", [Assignment(merged, owner, "round_robin", clock.now())])
    assert app.store.load_inputs("hubspot", [merged, deleted]).keys() == {merged, deleted}

    api.merge(keep, merged)
    api.archive(deleted)
    clock.advance(120)
    summary = app.run("sync")

    assert summary.status is RunStatus.OK
    assert (summary.counts["merged"], summary.counts["deleted"]) == (1, 1)
    assert app.store.get_assignments("hubspot", [merged, keep]) == {
        keep: Assignment(keep, owner, "round_robin", app.store.get_assignments("hubspot", [keep])[keep].assigned_at)
    }
    assert app.store.load_inputs("hubspot", [merged, deleted]) == {}
    run = app.store.get_run(summary.run_id)
    assert run is not None and (run.counts["merged"], run.counts["deleted"]) == (1, 1)

    # time passes (scores decay, rescores run): nothing is ever written to the old ids again
    for _ in range(3):
        clock.advance(3600 * 24)
        for kind in ("rescore", "sync"):
            ran = app.run(kind)
            assert ran.status is RunStatus.OK, ran.error
            audited = {row.contact_id for row in app.store.audit_for_run(ran.run_id)}
            assert not audited & {merged, deleted}
            assert ran.counts["merged"] == ran.counts["deleted"] == 0, "reported once"


def test_a_write_to_an_archived_contact_is_gone_not_retried(make_stack: Any) -> None:
    stack = make_stack("hubspot")
    app = clocked_app(stack)
    (cid,) = plain_leads(stack, app, 1)
    adapter = app.adapter
    stack.harness.api.archive(cid)

    (result,) = adapter.write([FieldUpdate(cid, {field_name(app.fields_config, "score", "hubspot"): 5})])

    assert result.status is WriteStatus.GONE and result.requested_id == cid


def test_the_hubspot_adapter_reads_removals_incrementally(make_stack: Any) -> None:
    stack = make_stack("hubspot")
    app = clocked_app(stack)
    adapter = app.adapter
    assert isinstance(adapter, ReadsRemovals)
    clock = stack.sandbox.clock
    start = adapter.removals_cursor_at(clock.now())
    a, b = plain_leads(stack, app, 2)
    stack.harness.api.archive(a)
    clock.advance(5)

    (page,) = adapter.read_removals(start)
    assert [(r.id, r.survivor_id) for r in page.removals] == [(a, None)]
    stack.harness.api.archive(b)
    clock.advance(5)
    (later,) = adapter.read_removals(page.cursor)
    assert [r.id for r in later.removals] == [b], "a removal already reported is not reported again"


# -- a write to an id the CRM no longer has, on the in-memory CRM ------------------------------------------
def test_a_write_answered_not_found_forgets_the_contact_instead_of_quarantining_it(
    tmp_path: Path, clock: Clock
) -> None:
    crm = FakeCRM(clock=clock, page_size=10)
    crm.add_contact("c1", updated_at=T0 - timedelta(days=1), title="VP Sales")
    crm.add_contact("c2", updated_at=T0 - timedelta(days=1), title="VP Sales")
    app = make_app(make_settings(tmp_path), crm, clock)
    real_write = crm.write

    def delete_c1_first(updates: Any) -> Any:
        crm.contacts.pop("c1", None)  # deleted in the CRM between the read and the write
        return real_write(updates)

    crm.write = delete_c1_first  # type: ignore[method-assign]
    summary = app.run("backfill")

    assert summary.counts["deleted"] == 1 and summary.counts["quarantined"] == 0
    assert summary.status is RunStatus.OK
    assert app.store.quarantine_count("hubspot") == 0
    assert app.store.load_inputs("hubspot", ["c1"]) == {}
    assert set(app.store.load_inputs("hubspot", ["c2"])) == {"c2"}
    app.close()


def test_a_merge_found_on_write_moves_the_state_to_the_survivor(tmp_path: Path, clock: Clock) -> None:
    crm = FakeCRM(clock=clock, page_size=10)
    crm.add_contact("old", updated_at=T0 - timedelta(days=1), title="VP Sales")
    app = make_app(make_settings(tmp_path), crm, clock)
    real_apply = crm._apply

    def merged_into_keep(update: FieldUpdate) -> Any:
        if update.contact_id == "old":  # HubSpot resolves a merged id and answers with the survivor's
            crm.contacts["keep"] = Contact("keep", clock(), {})
            result = real_apply(update)
            return type(result)("keep", result.status, requested_id="old")
        return real_apply(update)

    crm._apply = merged_into_keep  # type: ignore[method-assign]
    summary = app.run("backfill")

    assert summary.counts["merged"] == 1 and summary.counts["written"] == 1
    assert set(app.store.get_written("hubspot", ["old", "keep"])) == {"keep"}
    app.close()


# -- sticky owners and revert ------------------------------------------------------------------------------
OWNERS_MODEL = (
    TEST_MODEL
    + """
policies:
  owners:
    enabled: true
    strategy: round_robin
    assign_from_stage: mql
"""
)


@pytest.mark.parametrize("crm_name", ["hubspot"])
def test_reverting_an_owner_write_lets_leadsync_assign_the_contact_again(
    tmp_path: Path, clock: Clock, crm_name: str
) -> None:
    from connectors.records import Owner

    crm = FakeCRM(clock=clock, page_size=10)
    crm.owners = [Owner("u1", "Ann"), Owner("u2", "Bob")]
    crm.add_contact("c1", updated_at=T0 - timedelta(days=1), title="VP Sales", owner_id=None)
    crm.add_activity("c1", "demo_request", occurred_at=T0 - timedelta(hours=2))
    app = make_app(make_settings(tmp_path, model=OWNERS_MODEL), crm, clock)
    first = app.run("backfill")
    assert first.status is RunStatus.OK, first.error
    assigned = crm.value("c1", "owner_id")
    assert assigned in ("u1", "u2")
    assert app.store.get_assignments("hubspot", ["c1"])["c1"].owner_id == assigned

    clock.advance(hours=1)
    report = revert_run(crm="hubspot", adapter=crm, store=app.store, run_id=first.run_id, clock=clock)

    assert report.status is RunStatus.OK and crm.value("c1", "owner_id") is None
    assert app.store.get_assignments("hubspot", ["c1"]) == {}, "the sticky assignment went with the revert"
    assert report.counts["owners_unassigned"] == 1
    clock.advance(hours=1)
    crm.touch("c1")
    again = app.run("sync")
    assert again.status is RunStatus.OK, again.error
    assert crm.value("c1", "owner_id") in ("u1", "u2"), "a fresh assignment, not a human's clearing"
    app.close()
