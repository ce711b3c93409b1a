"""Pipedrive's person fields live in the state store between runs: an unchanged sync reads no field definitions."""

from __future__ import annotations

import json
from typing import Any

from connectors.base import CRMAdapter
from sync.app import App
from sync.settings import Settings, load_settings
from sync.state import RunStatus
from sync.wiring import build_adapter
from tests.harnesses import NOW, calls_since


def _app(stack: Any) -> App:
    """An App that builds its adapter as the CLI does (with the state store's fields cache), on the sandbox clock."""
    app = App(load_settings(stack.env_file), clock=lambda: NOW)
    clock = stack.sandbox.clock

    def factory(settings: Settings, read_fields: list[str]) -> CRMAdapter:
        return build_adapter(
            settings, read_fields, fields_cache=app.fields_cache(), sleep=clock.advance, monotonic=clock.seconds
        )

    app.adapter_factory = factory
    stack._apps.append(app)
    return app


def test_unchanged_sync_is_two_calls_with_the_fields_in_the_state_store(make_stack: Any) -> None:
    stack = make_stack("pipedrive")
    before = stack.snapshot()
    assert _app(stack).run("backfill").counts["written"] > 0
    assert stack.sandbox.counters.delta(before)["pipedrive.personFields.v2.list"] == {200: 1}
    cached = json.loads(_app(stack).store.get_schema_cache("pipedrive") or "{}")
    assert {f["field_name"] for f in cached["fields"]} >= {"Leadsync score", "Lifecycle stage", "Job title"}

    assert _app(stack).run("sync").status is RunStatus.OK  # the echo of the backfill's writes
    before = stack.snapshot()
    summary = _app(stack).run("sync")

    assert summary.status is RunStatus.OK and summary.counts["read"] == summary.counts["written"] == 0
    calls = calls_since(stack.sandbox, before)
    calls.pop("pipedrive.users.list", None)  # the owner pool, when the model assigns owners
    assert calls == {"pipedrive.persons.v2.list": 1, "pipedrive.activities.v2.list": 1}


def test_organization_names_come_from_the_state_store_and_follow_renames(make_stack: Any) -> None:
    """The echo sync does not list every organization again; a renamed one is read by its changes listing."""
    stack = make_stack("pipedrive")
    app = _app(stack)
    summary = app.run("backfill")
    assert summary.counts["written"] > 0
    cached = json.loads(app.store.get_schema_cache("pipedrive") or "{}")["organizations"]
    assert len(cached["names"]) > 1 and cached["since"]

    person = next(cid for cid in (str(i) for i in range(1, 10_000)) if stack.harness.api.record(cid).get("org_id"))
    org = int(stack.harness.api.record(person)["org_id"])
    stack.sandbox.clock.advance(120)
    with stack.sandbox.store.tx() as db:
        db.execute(
            "UPDATE pd_orgs SET name = ?, update_time = ? WHERE id = ?",
            ("Renamed Corp", int(stack.sandbox.clock.now().timestamp()), org),
        )
    stack.harness.touch(person, title="Chief Everything Officer")  # a person's edit: read and scored again

    rows = stack.snapshot()
    sync = _app(stack)
    assert sync.run("sync").status is RunStatus.OK
    calls = stack.sandbox.counters.delta(rows)
    assert calls["pipedrive.organizations.v2.list"] == {200: 1}, "one changes listing, not every organization"
    assert sync.store.load_inputs("pipedrive", [person])[person].contact.fields["company"] == "Renamed Corp"
