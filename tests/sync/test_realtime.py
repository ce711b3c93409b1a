"""The webhook worker on the sandbox: events in the queue -> contacts read, scored, written once -> acked.

Each test stores vendor-shaped events (``tests.sync.realtime_helpers``) the way the intake does, then runs the
worker's batches by hand with a settable clock: nothing here waits on real time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectors.base import Removal
from sync.app import App
from sync.daemon import SharedAdapter
from sync.policies import field_name, writeback_specs
from sync.realtime import EventWorker, _final_survivors
from sync.state import RunKind, RunStatus, WebhookEvent
from tests.harnesses import CRMS, NOW, flatten, sql_under_api
from tests.sync.conftest import Stack
from tests.sync.fakes import WebhookReceiver
from tests.sync.realtime_helpers import queued_event
from tests.sync.test_e2e import ONE_WRITE, engine_view, is_protected, past_the_search_lag

# the sandbox endpoint that reads contacts by id, per CRM
GET_CONTACTS = {
    "hubspot": "hubspot.contacts.batch_read",
    "salesforce": "salesforce.composite_read",
    "pipedrive": "pipedrive.persons.v2.list",  # ids= filter
}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def synced_stack(make_stack: Callable[..., Stack], crm: str, **settings: Any) -> Stack:
    extra = [f"LEADSYNC_REALTIME__{k.upper()}={v}" for k, v in settings.items()]
    stack = make_stack(crm, contacts=40, extra=extra)
    app = stack.app()
    app.run("backfill")
    past_the_search_lag(stack)
    app.run("sync")  # drains the backfill's overlap window
    return stack


def plain_lead(stack: Stack) -> str:
    """A contact a demo request turns into a P1: a lead, not protected, with no tier yet."""
    view = engine_view(stack)
    return next(c for c, (contact, r) in sorted(view.items()) if not is_protected(stack, contact) and not r.tier)


def worker_for(stack: Stack, clock: Clock) -> EventWorker:
    app = stack.app()
    return EventWorker(app.settings, app_factory=lambda: stack.app(clock=clock), clock=clock)


def enqueue(stack: Stack, events: list[WebhookEvent], now: datetime) -> int:
    app = stack.app()
    return app.store.enqueue_events(events, now)


def queue_rows(stack: Stack) -> list[tuple[Any, ...]]:
    app = stack.app()
    return sql_under_api(app.store, "SELECT object_id, attempts, acked_at, ack_reason FROM webhook_events ORDER BY id")


@pytest.mark.parametrize("crm", CRMS)
def test_three_events_for_one_contact_cost_one_read_and_one_write(crm: str, make_stack: Any) -> None:
    stack = synced_stack(make_stack, crm)
    target = plain_lead(stack)
    activity = stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(minutes=5))
    clock = Clock(NOW + timedelta(minutes=3))
    events = [
        queued_event(crm, target, NOW + timedelta(seconds=1), activity_id=activity),
        queued_event(crm, target, NOW + timedelta(seconds=2)),
        queued_event(crm, target, NOW + timedelta(seconds=3)),
    ]
    assert enqueue(stack, events, clock()) == 3

    before = stack.snapshot()
    report = worker_for(stack, clock).process_batch(wait_for_batch=False)

    assert report is not None and report.summary is not None
    assert (report.claimed, report.contacts, report.processed, report.dropped) == (3, 1, 3, {})
    assert report.summary.status is RunStatus.OK and report.summary.counts["written"] == 1
    delta = flatten(stack.sandbox.counters.delta(before))
    assert delta.get(GET_CONTACTS[crm]) == 1, delta
    assert stack.writes_since(before) == ONE_WRITE[crm]
    app = stack.app()
    run = app.store.list_runs(crm, limit=1)[0]
    assert run.kind is RunKind.REALTIME and run.id == report.summary.run_id
    assert {row.contact_id for row in app.store.audit_for_run(run.id)} == {target}
    assert [(acked is not None, reason) for _, _, acked, reason in queue_rows(stack)] == [(True, None)] * 3


@pytest.mark.parametrize("crm", ["hubspot", "pipedrive"])
def test_a_claimed_unacked_batch_is_processed_again_after_a_crash_and_writes_once(crm: str, make_stack: Any) -> None:
    stack = synced_stack(make_stack, crm, lease_seconds=60)
    target = plain_lead(stack)
    activity = stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(minutes=5))
    clock = Clock(NOW + timedelta(minutes=3))
    enqueue(stack, [queued_event(crm, target, NOW, activity_id=activity)], clock())

    crashing = worker_for(stack, clock)

    def die(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed after the write, before the ack")

    crashing._ack = die  # type: ignore[method-assign]
    before = stack.snapshot()
    with pytest.raises(SystemExit):
        crashing.process_batch(wait_for_batch=False)
    assert stack.writes_since(before) == ONE_WRITE[crm], "the first worker wrote, then died"
    assert [(attempts, acked) for _, attempts, acked, _ in queue_rows(stack)] == [(1, None)]

    restarted = worker_for(stack, clock)
    assert restarted.process_batch(wait_for_batch=False) is None, "the dead worker's claim holds until its lease ends"
    clock.at += timedelta(seconds=61)
    again = stack.snapshot()
    report = restarted.process_batch(wait_for_batch=False)

    assert report is not None and report.processed == 1 and report.summary is not None
    assert report.summary.counts["written"] == 0
    assert stack.writes_since(again) == {}, "processed twice, written once"
    [(_, attempts, acked, reason)] = queue_rows(stack)
    assert attempts == 2 and acked is not None and reason is None


@pytest.mark.parametrize("crm", CRMS)
def test_poison_events_are_acked_with_their_reason_and_never_block_the_queue(crm: str, make_stack: Any) -> None:
    stack = synced_stack(make_stack, crm, lease_seconds=30, max_attempts=2)
    target = plain_lead(stack)
    missing = {"hubspot": "999999991", "pipedrive": "999991", "salesforce": "00Q000000000999AAA"}[crm]
    clock = Clock(NOW + timedelta(minutes=3))
    good = queued_event(crm, target, NOW)
    gone = queued_event(crm, missing, NOW + timedelta(seconds=1))
    payload = {"meta": {}, "data": {"id": 5}, "previous": None}
    nobody = {
        "hubspot": WebhookEvent("hubspot", "e-deal", "deal.creation", "deal", "77", NOW, {"objectId": 77}),
        "pipedrive": WebhookEvent("pipedrive", "e-act", "create.activity", "activity", "5", NOW, payload),
        "salesforce": WebhookEvent("salesforce", "e-task", "Task.changed", "Task", "00T000000000001", NOW, {}),
    }[crm]
    enqueue(stack, [gone, nobody, good], clock())
    worker = worker_for(stack, clock)

    first = worker.process_batch(wait_for_batch=False)
    assert first is not None and first.processed == 1 and first.retried == 1
    assert len(first.dropped) == 1, "the event naming no contact is acked at once: a retry reads the same payload"
    rows = {
        object_id: (attempts, acked is not None, reason) for object_id, attempts, acked, reason in queue_rows(stack)
    }
    assert rows[target] == (1, True, None)
    assert rows[missing][:2] == (1, False), "a contact the CRM does not return is tried again"

    clock.at += timedelta(seconds=31)
    second = worker.process_batch(wait_for_batch=False)
    assert second is not None and second.claimed == 1 and second.processed == 0
    attempts, acked, reason = {r[0]: r[1:] for r in queue_rows(stack)}[missing]
    assert (
        (attempts, acked is not None) == (2, True)
        and reason.startswith("given up after 2 attempts")
        and missing in reason
    )
    assert stack.app().store.count_pending_events(crm) == 0
    clock.at += timedelta(seconds=31)
    assert worker.process_batch(wait_for_batch=False) is None


def test_leadsyncs_own_write_coming_back_is_not_read_again(make_stack: Any) -> None:
    stack = synced_stack(make_stack, "hubspot")
    target = plain_lead(stack)
    app = stack.app()
    score_property = writeback_specs(app.fields_config, "hubspot")[0].name
    echo = WebhookEvent(
        "hubspot", "e-echo", "contact.propertyChange", "contact", target, NOW, {"propertyName": score_property}
    )
    clock = Clock(NOW + timedelta(minutes=3))
    enqueue(stack, [echo], clock())
    before = stack.snapshot()
    report = worker_for(stack, clock).process_batch(wait_for_batch=False)
    assert (
        report is not None
        and report.contacts == 0
        and list(report.dropped) == [f"leadsync's own write of {score_property} coming back"]
    )
    assert stack.sandbox.counters.delta(before) == {}


def test_a_batch_waits_for_more_events_until_the_oldest_has_waited_long_enough(make_stack: Any) -> None:
    stack = synced_stack(make_stack, "pipedrive", batch_wait_seconds=5, batch_events=3)
    target = plain_lead(stack)
    clock = Clock(NOW + timedelta(minutes=3))
    worker = worker_for(stack, clock)
    enqueue(stack, [queued_event("pipedrive", target, NOW)], clock())
    assert worker.process_batch() is None, "one event, just received: wait for more"
    clock.at += timedelta(seconds=5)
    report = worker.process_batch()
    assert report is not None and report.claimed == 1
    enqueue(stack, [queued_event("pipedrive", target, NOW + timedelta(seconds=i)) for i in range(1, 4)], clock())
    report = worker.process_batch()
    assert report is not None and report.claimed == 3, "a full batch goes at once"


def test_a_shared_pipedrive_adapter_sees_an_activity_added_after_its_last_batch(make_stack: Any) -> None:
    stack = synced_stack(make_stack, "pipedrive")
    clock = Clock(NOW + timedelta(minutes=3))
    shared = SharedAdapter(clock)

    def batch_app() -> App:
        app = stack.app(clock=clock)
        app.adapter_factory = shared.factory(app.adapter_factory)
        return app

    worker = EventWorker(stack.app().settings, app_factory=batch_app, clock=clock)
    view = engine_view(stack)
    leads = [c for c, (contact, r) in sorted(view.items()) if not is_protected(stack, contact) and not r.tier]
    target, first, second = leads[0], leads[1:8], leads[8:13]
    # seven persons: the adapter streams every activity once rather than asking per person
    enqueue(stack, [queued_event("pipedrive", cid, NOW) for cid in first], clock())
    assert worker.process_batch(wait_for_batch=False) is not None

    stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(minutes=1))
    events = [queued_event("pipedrive", cid, NOW + timedelta(seconds=1)) for cid in [target, *second]]
    enqueue(stack, events, clock())
    report = worker.process_batch(wait_for_batch=False)

    assert report is not None and report.summary is not None and report.summary.counts["written"] >= 1
    _, result = engine_view(stack)[target]
    assert result.tier == "P1"
    app = stack.app()
    assert stack.harness.crm_value(target, field_name(app.fields_config, "tier", "pipedrive")) == "P1"
    shared.drop()


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_webhook_batch_that_makes_a_p1_tells_the_owner_and_starts_its_sla(crm: str, make_stack: Any) -> None:
    receiver = WebhookReceiver()
    try:
        notify = [f"LEADSYNC_NOTIFY__SLACK_WEBHOOK_URL={receiver.url}", 'LEADSYNC_NOTIFY__EVENTS={"p1": ["slack"]}']
        stack = make_stack(crm, contacts=40, extra=notify)
        app = stack.app()
        app.run("backfill")
        past_the_search_lag(stack)
        app.run("sync")
        target = plain_lead(stack)
        activity = stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(minutes=5))
        clock = Clock(NOW + timedelta(minutes=3))
        enqueue(stack, [queued_event(crm, target, NOW, activity_id=activity)], clock())
        sent_before = len(receiver.bodies)

        report = worker_for(stack, clock).process_batch(wait_for_batch=False)

        assert report is not None and report.summary is not None and report.summary.counts["written"] == 1
        assert engine_view(stack)[target][1].tier == "P1"
        new = receiver.texts[sent_before:]
        assert len(new) == 1 and "P1" in new[0], new
        open_slas = stack.app().store.sla_open(crm, [target])
        assert open_slas[target].tier == "P1" and open_slas[target].due_at is not None
    finally:
        receiver.close()


def test_merges_chained_in_one_batch_point_at_the_last_survivor() -> None:
    removals = {
        "1": Removal("1", "2"),  # 1 into 2, then 2 into 3: both end in 3
        "2": Removal("2", "3"),
        "4": Removal("4", "5"),  # 4 into 5, then 5 deleted: moved to 5, then forgotten with it
        "5": Removal("5"),
        "6": Removal("6", "7"),  # a cycle (never sent, but must end)
        "7": Removal("7", "6"),
    }
    final = {gone: r.survivor_id for gone, r in _final_survivors(removals).items()}
    assert final == {"1": "3", "2": "3", "4": "5", "5": None, "6": "6", "7": "7"}
