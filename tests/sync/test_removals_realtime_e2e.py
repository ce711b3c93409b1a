"""A Pipedrive merge and deletion noticed at once through webhooks v2, end to end: the sandbox's own webhook sender
posts what Pipedrive posts (a merge: a ``delete`` whose meta names ``merged_to_id`` plus a ``change`` of the
survivor; a deletion: a ``delete``) to leadsync's real intake, and the worker settles both in its run.

Polling alone never shows either (tests/sync/test_removals_e2e.py: the first write answers 404); with webhooks
the worker's run reports merged 1 and deleted 1, the merged person's state moves to the survivor, and no
request ever goes to the old ids, in that run or in the rescores and syncs after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.sandbox.webhooks import WebhookConfig, WebhookSender
from sync.realtime import EventWorker
from sync.server import EventQueue, ServerThread, build_app
from sync.state import Assignment, RunKind, RunStatus
from tests.harnesses import sql_under_api
from tests.sync.conftest import Stack
from tests.sync.realtime_helpers import PD_PASSWORD, PD_USER
from tests.sync.test_removals import settle
from tests.sync.test_removals_e2e import (
    OWNER,
    assert_shown_one_merged_one_deleted,
    candidates,
    clocked_app,
    merge_and_delete,
    names_any,
    writes_to,
)

FAST = {"pipedrive": (0.05, 0.05, 0.05)}


@pytest.fixture
def stack(make_stack: Any) -> Stack:
    intake = [f"LEADSYNC_SERVER__PIPEDRIVE_USER={PD_USER}", f"LEADSYNC_SERVER__PIPEDRIVE_PASSWORD={PD_PASSWORD}"]
    return make_stack("pipedrive", extra=intake)  # type: ignore[no-any-return]


@pytest.fixture
def intake(stack: Stack) -> Iterator[str]:
    """leadsync's webhook intake (``leadsync serve``'s app) on a loopback port; yields its webhooks URL."""
    app = stack.app()
    queue = EventQueue(app.settings.state_url)
    queue.open()
    server = ServerThread(build_app(app.settings, queue=queue), app.settings.server, host="127.0.0.1", port=0)
    server.start()
    try:
        yield f"{server.url}/webhooks"
    finally:
        server.stop()
        queue.close()


def attach_sender(stack: Stack, url: str) -> WebhookSender:
    """The sandbox starts sending Pipedrive's webhooks now (after the settling syncs, which no worker heard)."""
    hooks = WebhookConfig(
        url=url, crms=("pipedrive",), pipedrive_user=PD_USER, pipedrive_password=PD_PASSWORD, retry_delays=FAST
    )
    sender = WebhookSender(hooks, lambda: datetime.now(UTC)).start()
    stack.sandbox.store.listen(sender.on_changes)
    stack.sandbox.webhooks = sender  # stopped with the sandbox
    return sender


def test_webhooks_report_a_pipedrive_merge_and_deletion_at_once_and_nothing_is_written_to_them(
    stack: Stack, intake: str
) -> None:
    app = clocked_app(stack)
    settle(stack, app)
    clock, log = stack.sandbox.clock, stack.sandbox.request_log
    keep, merged, deleted = candidates(stack, app)
    written_before = app.store.get_written("pipedrive", [merged])[merged]
    app.store.set_assignments("pipedrive", [Assignment(merged, OWNER, "round_robin", clock.now())])
    sender = attach_sender(stack, intake)

    merge_and_delete(stack, keep, merged, deleted)
    log.recording = True  # from here: what leadsync sends
    assert sender.wait_idle(20), sender.stats()
    assert sender.attempts and all(a.status == 200 for a in sender.attempts), sender.attempts
    queued = sql_under_api(app.store, "SELECT kind, object_id, payload FROM webhook_events WHERE crm = 'pipedrive'")
    people = {(kind, oid, json.loads(str(body))["meta"].get("merged_to_id")) for kind, oid, body in queued}
    assert {("delete.person", merged, keep), ("delete.person", deleted, None)} <= people
    assert ("change.person", keep, None) in people

    clock.advance(60)
    worked_at = clock.now()
    worker = EventWorker(app.settings, app_factory=lambda: clocked_app(stack), clock=clock.now)
    report = worker.process_batch(wait_for_batch=False)

    assert report is not None and report.summary is not None
    summary = report.summary
    assert summary.status is RunStatus.OK, summary.error
    assert (summary.counts["merged"], summary.counts["deleted"]) == (1, 1)
    assert report.dropped == {} and report.retried == 0 and report.processed == report.claimed == len(queued)
    assert app.store.count_pending_events("pipedrive") == 0
    run = app.store.get_run(summary.run_id)
    assert run is not None and run.kind is RunKind.REALTIME
    assert (run.counts["merged"], run.counts["deleted"]) == (1, 1)
    assert_shown_one_merged_one_deleted(stack, summary.run_id)

    # the merged person's sticky owner and written values moved to the survivor, which this run rescored
    gone = {merged, deleted}
    assert app.store.get_assignments("pipedrive", [merged, keep]).keys() == {keep}
    assert app.store.get_assignments("pipedrive", [keep])[keep].owner_id == OWNER
    assert set(written_before) <= set(app.store.get_written("pipedrive", [keep])[keep])
    assert app.store.load_inputs("pipedrive", [keep])[keep].scored_at >= worked_at
    assert app.store.get_written("pipedrive", sorted(gone)) == {}
    assert app.store.load_inputs("pipedrive", sorted(gone)) == {}
    assert any(names_any(e, {keep}) for e in log.entries()), "the log records what the worker sent"
    assert writes_to(log.entries(), gone) == [], "the worker's run sent nothing to the old ids"

    # days pass: their scores would have decayed; the worker, rescores and syncs run
    for _ in range(4):
        clock.advance(timedelta(days=2).total_seconds())
        assert sender.wait_idle(20), sender.stats()
        worker.process_batch(wait_for_batch=False)  # the echoes of leadsync's own writes
        for kind in ("rescore", "sync"):
            ran = app.run(kind)
            assert ran.status is RunStatus.OK, ran.error

    assert writes_to(log.entries(), gone) == [], "no later run wrote to the old ids"
    later = [r for r in app.store.list_runs("pipedrive", limit=20) if r.id > summary.run_id]
    assert later and all(r.counts.get("merged", 0) == r.counts.get("deleted", 0) == 0 for r in later)


def test_a_merge_into_a_person_deleted_in_the_same_batch_moves_then_forgets(stack: Stack, intake: str) -> None:
    app = clocked_app(stack)
    settle(stack, app)
    clock = stack.sandbox.clock
    keep, merged, _ = candidates(stack, app)
    app.store.set_assignments("pipedrive", [Assignment(merged, OWNER, "round_robin", clock.now())])
    sender = attach_sender(stack, intake)

    stack.sandbox.apis["pipedrive"].merge(keep, merged)  # type: ignore[attr-defined]
    stack.sandbox.apis["pipedrive"].sample_data.delete(keep)  # type: ignore[attr-defined]
    assert sender.wait_idle(20), sender.stats()
    clock.advance(60)
    report = EventWorker(app.settings, app_factory=lambda: clocked_app(stack), clock=clock.now).process_batch(
        wait_for_batch=False
    )

    assert report is not None and report.summary is not None and report.summary.status is RunStatus.OK
    assert (report.summary.counts["merged"], report.summary.counts["deleted"]) == (1, 1)
    assert report.dropped == {} and report.retried == 0 and app.store.count_pending_events("pipedrive") == 0
    both = [keep, merged]
    assert app.store.get_assignments("pipedrive", both) == {} and app.store.load_inputs("pipedrive", both) == {}
