"""A merge and a deletion made the way each CRM's users make them, then syncs: end to end through the real adapters
(hubspot-api-client, simple-salesforce, requests) over HTTP against the sandbox, with the state store and the CLI.

HubSpot and Salesforce show both in the next sync's reads (HubSpot: the archived listing and
``hs_merged_object_ids``; Salesforce: ``queryAll`` rows with ``IsDeleted``/``MasterRecordId``), so that sync
reports merged 1, deleted 1 and moves the state before anything is written.  Pipedrive's reads show neither
(docs/crm-api.md 1.8): the first write to a removed person answers 404 and is the only request that ever goes to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from connectors.salesforce import SalesforceAdapter
from connectors.sandbox.app import LoggedRequest
from sync.app import App
from sync.cli import _register_optional_commands, cli
from sync.settings import load_settings
from sync.state import Assignment, RunStatus
from sync.wiring import build_adapter
from tests.harnesses import is_write
from tests.sync.conftest import Stack
from tests.sync.test_removals import settle

_register_optional_commands()
OWNER = "owner-from-leadsync"


def clocked_app(stack: Stack) -> App:
    """An App whose clock, and whose adapter's, are the sandbox's (``sleep`` moves it)."""
    sandbox = stack.sandbox
    clocks: dict[str, Any] = {"sleep": sandbox.clock.advance, "now": sandbox.clock.now}
    if stack.crm != "salesforce":
        clocks["monotonic"] = lambda: sandbox.clock.seconds() + 1e9

    def factory(settings: Any, fields: list[str], **kwargs: Any) -> Any:
        return build_adapter(settings, fields, **kwargs, **clocks)

    app = App(load_settings(stack.env_file), clock=sandbox.clock.now, adapter_factory=factory)
    stack._apps.append(app)
    return app


def candidates(stack: Stack, app: App) -> tuple[str, str, str]:
    """(survivor, to merge, to delete): same object type, not protected, scored with values written, and the two
    to remove with a time-driven rescore ahead (so a later rescore would write to them if leadsync forgot)."""
    ids = sorted(stack.ids.values())
    inputs = app.store.load_inputs(stack.crm, ids)
    written = app.store.get_written(stack.crm, ids)
    owned = app.store.get_assignments(stack.crm, ids)
    fit = [
        cid
        for cid in ids
        if cid in inputs and written.get(cid) and cid not in owned and not inputs[cid].contact.protected
    ]
    kind = inputs[fit[0]].contact.object_type
    fit = [cid for cid in fit if inputs[cid].contact.object_type == kind]
    timed = [cid for cid in fit if inputs[cid].next_change_at is not None]
    keep = next(cid for cid in fit if cid not in timed[:2])
    return keep, timed[0], timed[1]


def merge_and_delete(stack: Stack, keep: str, merged: str, deleted: str) -> None:
    """What a user of each CRM does: its merge, and a delete, through the vendor's endpoints where it has them."""
    sandbox, crm = stack.sandbox, stack.crm
    if crm == "hubspot":
        token = sandbox.credentials("hubspot")["private_app_token"]
        auth = {"Authorization": f"Bearer {token}"}
        merged_into = requests.post(
            f"{sandbox.hubspot_url}/crm/v3/objects/contacts/merge",
            json={"primaryObjectId": keep, "objectIdToMerge": merged},
            headers=auth,
            timeout=10,
        )
        assert merged_into.status_code == 200 and merged_into.json()["id"] == keep
        gone = requests.delete(f"{sandbox.hubspot_url}/crm/v3/objects/contacts/{deleted}", headers=auth, timeout=10)
        assert gone.status_code == 204
    elif crm == "pipedrive":
        auth = {"x-api-token": sandbox.credentials("pipedrive")["api_token"]}
        merged_into = requests.put(
            f"{sandbox.pipedrive_url}/api/v1/persons/{merged}/merge",
            json={"merge_with_id": int(keep)},
            headers=auth,
            timeout=10,
        )
        assert merged_into.status_code == 200 and merged_into.json()["data"]["merge_what_id"] == int(merged)
        gone = requests.delete(f"{sandbox.pipedrive_url}/api/v2/persons/{deleted}", headers=auth, timeout=10)
        assert gone.status_code == 200 and gone.json()["data"] == {"id": int(deleted)}
    else:
        # Salesforce's REST API has no merge resource (SOAP merge() / Apex): the sandbox's merge does what it does
        stack.harness.api.merge(keep, merged)
        admin = stack.harness.adapter()
        assert isinstance(admin, SalesforceAdapter)
        sobject = stack.harness.api.record(deleted)["attributes"]["type"]
        admin.client.call("delete", lambda sf: getattr(sf, sobject).delete(deleted))
        admin.close()


def _tokens(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _tokens(item)
    elif isinstance(value, list):
        for item in value:
            yield from _tokens(item)
    elif value is not None:
        yield from re.split(r"[/?&=,]", str(value))


def names_any(entry: LoggedRequest, ids: set[str]) -> set[str]:
    """The ``ids`` a request names in its path or JSON body (Salesforce ids by either length)."""
    found = list(_tokens(entry.path))
    if entry.body:
        try:
            found += list(_tokens(json.loads(entry.body)))
        except ValueError:
            found += list(_tokens(entry.body.decode("utf-8", "replace")))
    wanted = {i: i for i in ids} | {i[:15]: i for i in ids if len(i) == 18}
    return {wanted[t] for t in found if t in wanted}


def writes_to(entries: Iterable[LoggedRequest], ids: set[str]) -> list[tuple[str, int, set[str]]]:
    return [(e.endpoint, e.status, hit) for e in entries if is_write(e.endpoint) and (hit := names_any(e, ids))]


def cli_output(stack: Stack, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--env-file", str(stack.env_file), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def assert_shown_one_merged_one_deleted(stack: Stack, run_id: int) -> None:
    """``leadsync show RUN`` and ``runs --json`` report the run's one merge and one deletion."""
    shown = cli_output(stack, "show", str(run_id))
    assert "merged 1" in shown and "deleted 1" in shown
    listed = json.loads(cli_output(stack, "runs", "--json", "--limit", "1"))
    assert listed[0]["id"] == run_id and listed[0]["counts"]["merged"] == 1
    assert listed[0]["counts"]["deleted"] == 1


@pytest.mark.parametrize("crm", ["hubspot", "salesforce", "pipedrive"])
def test_a_merge_and_a_deletion_are_reported_and_never_written_to(make_stack: Any, crm: str) -> None:
    stack = make_stack(crm)
    app = clocked_app(stack)
    settle(stack, app)
    clock, log = stack.sandbox.clock, stack.sandbox.request_log
    keep, merged, deleted = candidates(stack, app)
    written_before = app.store.get_written(crm, [merged])[merged]
    app.store.set_assignments(crm, [Assignment(merged, OWNER, "round_robin", clock.now())])

    merge_and_delete(stack, keep, merged, deleted)
    clock.advance(120)
    log.recording = True
    synced_at = clock.now()
    summary = app.run("sync")

    assert summary.status is RunStatus.OK, summary.error
    gone = {merged, deleted}
    run = app.store.get_run(summary.run_id)
    assert run is not None
    if crm == "pipedrive":
        # nothing in a Pipedrive read says a person left: the sync sees only the survivor's change
        assert (run.counts.get("merged", 0), run.counts.get("deleted", 0)) == (0, 0)
        assert app.store.load_inputs(crm, [keep])[keep].scored_at >= synced_at, "the survivor was read again"
    else:
        assert (run.counts["merged"], run.counts["deleted"]) == (1, 1)
        assert_shown_one_merged_one_deleted(stack, summary.run_id)
        # the state moved to the survivor (sticky owner, written values) or went with the deleted id
        assert app.store.get_assignments(crm, [merged, keep]).keys() == {keep}
        assert app.store.get_assignments(crm, [keep])[keep].owner_id == OWNER
        assert set(written_before) <= set(app.store.get_written(crm, [keep])[keep])
        assert app.store.get_written(crm, sorted(gone)) == {} and app.store.load_inputs(crm, sorted(gone)) == {}
        assert writes_to(log.entries(), gone) == [], "the sync that saw them wrote nothing to the old ids"

    # days pass: their scores would have decayed, rescores and syncs run
    for _ in range(4):
        clock.advance(timedelta(days=2).total_seconds())
        for kind in ("rescore", "sync"):
            ran = app.run(kind)
            assert ran.status is RunStatus.OK, ran.error

    hits = writes_to(log.entries(), gone)
    if crm == "pipedrive":
        # the first PATCH to each removed person answers 404: counted as deleted (Pipedrive never names the
        # survivor to a poller), its state forgotten, and no request ever goes to it again
        assert sorted((endpoint, status, tuple(hit)) for endpoint, status, hit in hits) == sorted(
            ("pipedrive.persons.v2.update", 404, (cid,)) for cid in gone
        )
        removed = sum(r.counts.get("deleted", 0) for r in app.store.list_runs(crm, limit=20))
        assert removed == 2
        assert app.store.get_written(crm, sorted(gone)) == {} and app.store.load_inputs(crm, sorted(gone)) == {}
        assert app.store.get_assignments(crm, [merged]) == {}
    else:
        assert hits == [], "no later run wrote to the old ids"
        later = app.store.list_runs(crm, limit=8)
        assert all(r.counts.get("merged", 0) == r.counts.get("deleted", 0) == 0 for r in later), "reported once"
