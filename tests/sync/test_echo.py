"""The echo rule, per CRM on the sandbox: a contact whose change is leadsync's own write is not read again, a
person's edit in the same second is.

Every CRM bumps a contact's change timestamp when leadsync writes to it, so the sync after a backfill lists
every contact the backfill wrote.  The sync compares what it lists with the stored scoring inputs overlaid
with what leadsync wrote: equal means the change was ours, and the contact's activities are not read.  Calls
are counted by the sandbox; "listing" calls are the harness's ``read_endpoints`` (the contact listing and,
for Pipedrive, the organization names and field keys it needs), everything else is activity reads and the
activity-change feed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sync.app import App
from sync.policies import field_name
from sync.state import AuditStatus, RunStatus
from tests.harnesses import CRMS, NOW
from tests.sync.conftest import Stack

pytestmark = pytest.mark.parametrize("crm", CRMS)


def non_listing_calls(stack: Stack, before: dict[str, dict[int, int]]) -> dict[str, int]:
    """Calls since ``before`` outside the contact listing, by sandbox endpoint."""
    listing = tuple(stack.harness.read_endpoints)
    delta = stack.sandbox.counters.delta(before)
    return {ep: sum(per.values()) for ep, per in delta.items() if not ep.startswith(listing) and sum(per.values())}


def past_the_search_lag(stack: Stack, app: App) -> App:
    """``app``, once the CRM's clock has passed the HubSpot adapter's default search lag (60 s): what changed
    is then listed (the changes keep their own time stamps)."""
    stack.sandbox.clock.advance(120)
    return app


def backfill(stack: Stack) -> tuple[App, list[str]]:
    """Run a backfill; the app and the contacts it wrote (sorted)."""
    app = stack.app()
    summary = app.run("backfill")
    assert summary.status is RunStatus.OK
    written = sorted(
        {row.contact_id for row in app.store.audit_for_run(summary.run_id) if row.status is AuditStatus.OK}
    )
    assert len(written) > 10
    return app, written


def unchanged_sync_calls(stack: Stack, app: App) -> dict[str, int]:
    before = stack.snapshot()
    summary = past_the_search_lag(stack, app).run("sync")
    assert summary.counts["read"] == 0 and summary.counts["written"] == 0
    return non_listing_calls(stack, before)


def test_our_own_writes_are_not_read_again(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    app, written = backfill(stack)

    before = stack.snapshot()
    echo = past_the_search_lag(stack, app).run("sync")
    echo_calls = non_listing_calls(stack, before)

    assert echo.status is RunStatus.OK
    # every contact the backfill wrote comes back, with those the cursor's overlap lists again
    assert echo.counts["echoes"] >= len(written)
    assert echo.counts["read"] == echo.counts["scored"] == echo.counts["written"] == 0
    # no activity read for any of them: beyond the listing, exactly what a sync with nothing listed costs
    assert echo_calls == unchanged_sync_calls(stack, app)


def test_a_persons_edit_in_the_same_second_is_read_and_rescored(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    app, written = backfill(stack)
    title_edited, score_edited = written[0], written[1]
    score_field = field_name(app.fields_config, "score", crm)
    # the sandbox's clock stands at NOW, the second the backfill wrote in
    stack.harness.touch(title_edited, title="Chief Everything Officer")
    stack.harness.touch(score_edited, **{score_field: 3})

    before = stack.snapshot()
    summary = past_the_search_lag(stack, app).run("sync")
    edit_calls = non_listing_calls(stack, before)

    assert summary.status is RunStatus.OK
    assert summary.counts["read"] == summary.counts["scored"] == 2
    assert summary.counts["echoes"] >= len(written) - 2
    baseline = unchanged_sync_calls(stack, app)
    assert sum(edit_calls.values()) > sum(baseline.values()), "the two edited contacts' activities were read"
    # the score a person overwrote is scored again and written back
    audit = [row for row in app.store.audit_for_run(summary.run_id) if row.status is AuditStatus.OK]
    assert {row.contact_id for row in audit} >= {score_edited}
    assert float(stack.harness.crm_value(score_edited, score_field)) != 3.0


def test_an_echo_with_a_new_activity_is_rescored(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    app, written = backfill(stack)
    tiers = {cid: app.store.load_inputs(crm, [cid])[cid].tier for cid in written}
    target = next(cid for cid in written if tiers[cid] != "P1")

    stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(hours=1))
    summary = past_the_search_lag(stack, app).run("sync")

    assert summary.status is RunStatus.OK
    assert summary.counts["echoes"] >= len(written) - 1
    assert summary.counts["scored"] >= 1
    assert app.store.load_inputs(crm, [target])[target].tier == "P1", "the activity stream still rescores it"
