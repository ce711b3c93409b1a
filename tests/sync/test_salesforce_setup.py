"""Salesforce from a fresh org to a reverted run, through the ``leadsync`` CLI on the sandbox (simple-salesforce
over HTTPS): ``check --create-fields`` finishes the set-up, a backfill writes, ``revert`` restores ``Status``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sync.cli import _register_optional_commands, cli
from sync.state import AuditStatus, open_store
from sync.testhooks import TEST_NOW_ENV
from tests.harnesses import NOW
from tests.sync.conftest import Stack

_register_optional_commands()
OPEN = "Open - Not Contacted"  # a new org's default Lead Status (docs/crm-api/salesforce.md 3.3b)


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_NOW_ENV, NOW.isoformat())


def invoke(stack: Stack, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--env-file", str(stack.env_file), *args], catch_exceptions=False)


def last_run_id(stack: Stack) -> int:
    with open_store(stack.workdir / "salesforce-state.db") as store:
        runs = store.list_runs(limit=1)
    return runs[0].id


def test_revert_of_a_salesforce_run_restores_lead_status(make_stack: Any) -> None:
    stack: Stack = make_stack("salesforce", contacts=60)
    # a demo request qualifies a new lead of good fit: the starter model then moves its Status forward
    fresh = sorted(cid for cid in stack.ids.values() if stack.harness.crm_value(cid, "Status") == OPEN)[:6]
    for cid in fresh:
        stack.harness.add_activity(cid, "demo_request")
    before = {cid: stack.harness.crm_value(cid, "Status") for cid in stack.ids.values()}
    assert invoke(stack, "backfill").exit_code == 0
    run_id = last_run_id(stack)
    with open_store(stack.workdir / "salesforce-state.db") as store:
        moved = {
            row.contact_id: (row.old_value, row.new_value)
            for row in store.audit_for_run(run_id)
            if row.field == "lead_status" and row.status is AuditStatus.OK
        }
    assert moved and set(moved) <= set(fresh), "the starter model moves a lead that asked for a demo, only those"
    for cid, (old, new) in moved.items():
        assert (before[cid], stack.harness.crm_value(cid, "Status")) == (old, new)

    result = invoke(stack, "revert", str(run_id), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "ok" and report["conflicts"] == [] and report["failed"] == []
    restored = {(r["contact_id"], r["field"]) for r in report["restored"]}
    assert {(cid, "lead_status") for cid in moved} <= restored
    assert {cid: stack.harness.crm_value(cid, "Status") for cid in moved} == {
        cid: old for cid, (old, _) in moved.items()
    }


def test_check_create_fields_finishes_the_set_up_and_a_backfill_writes(make_stack: Any) -> None:
    stack: Stack = make_stack("salesforce", contacts=20, fields=False)
    missing = invoke(stack, "check", "--json")
    assert missing.exit_code == 1 and any("Fields missing" in line for line in json.loads(missing.stdout)["lines"])

    result = invoke(stack, "check", "--create-fields", "--json")

    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)["lines"]
    assert any(line.startswith("Fields created: ") and "Leadsync_Score__c" in line for line in lines), lines
    assert not any(line.startswith("Fields present") for line in lines), "created, not also present"
    again = json.loads(invoke(stack, "check", "--create-fields", "--json").stdout)["lines"]
    assert not any(line.startswith("Fields created") for line in again), "a second run creates nothing"
    assert invoke(stack, "backfill").exit_code == 0
    lead = sorted(stack.ids.values())[0]
    assert stack.harness.crm_value(lead, "Leadsync_Score__c") is not None
    assert stack.harness.crm_value(lead, "Leadsync_ScoredAt__c") is not None
