"""End to end on the sandbox, for each CRM: the real adapters over HTTP, the real state store, the real App.

Every test builds its own seeded sandbox (``make_stack``, see conftest.py) and checks what lands in the CRM
against what the scoring engine computes on its own, and the API calls against the sandbox's counters.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.records import Contact
from connectors.sandbox.salesforce import QUEUE_ID
from scoring import ScoreResult, explain, load_model, score
from scoring.numbers import parse_datetime
from sync.app import App
from sync.csvsafe import plain_cell
from sync.policies import field_name
from sync.state import AuditStatus, RunStatus
from tests.harnesses import CRMS, NOW
from tests.sync.conftest import DATA, Stack

pytestmark = pytest.mark.parametrize("crm", CRMS)

# The write requests one contact's update costs.
ONE_WRITE = {
    "hubspot": {"hubspot.contacts.batch_update": 1},
    "salesforce": {"salesforce.composite.sobjects": 1},
    "pipedrive": {"pipedrive.persons.v2.update": 1},
}
# Where each CRM keeps the stage, and the values the tests move contacts to (canonical names).
STAGE_FIELD = {"hubspot": "lifecycle_stage", "salesforce": "lead_status", "pipedrive": "lifecycle_stage"}
STAGES = {
    "hubspot": {"lead": "lead", "mql": "marketingqualifiedlead", "sql": "salesqualifiedlead"},
    "salesforce": {"lead": "Open - Not Contacted", "mql": "Working - Contacted", "sql": "Working - Contacted"},
    "pipedrive": {"lead": "Lead", "mql": "MQL", "sql": "SQL"},
}
PROTECTED = {
    "hubspot": {"opportunity", "customer"},
    "salesforce": {"Closed - Converted", "Closed - Not Converted"},
    "pipedrive": {"Opportunity", "Customer"},
}
SCORE_KEYS = ("score", "fit", "engagement", "grade", "tier", "sla_due_at", "reason", "model_version", "scored_at")


# -- helpers ---------------------------------------------------------------------------------------------
def read_all(app: App) -> list[Contact]:
    return [c for page in app.adapter.read_contacts(None) for c in page.contacts]


def engine_view(stack: Stack) -> dict[str, tuple[Contact, ScoreResult]]:
    """Every contact as a fresh adapter reads it, scored by the engine on its own with ``NOW``."""
    app = stack.app()
    model = load_model(app.settings.model_file)
    contacts = read_all(app)
    activities = app.adapter.read_activities([c.id for c in contacts])
    return {c.id: (c, score(model, c, list(activities.get(c.id, [])), NOW)) for c in contacts}


def expected_fields(result: ScoreResult) -> dict[str, Any]:
    return {
        "score": result.total,
        "fit": result.fit,
        "engagement": result.engagement,
        "grade": result.grade,
        "tier": result.tier,
        "sla_due_at": result.sla_due_at,
        "reason": explain(result, max_length=255),
        "model_version": result.model_version,
        "scored_at": NOW,
    }


def normalized(value: Any) -> Any:
    """A CRM value in a comparable form: numbers as floats, datetimes as datetimes, empty as None."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    if hasattr(value, "isoformat"):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    if isinstance(value, str) and "T" in value and ":" in value:
        return parse_datetime(value)
    return value


def crm_fields(stack: Stack, app: App, contact_id: str, keys: tuple[str, ...] = SCORE_KEYS) -> dict[str, Any]:
    names = {key: field_name(app.fields_config, key, stack.crm) for key in keys}
    return {key: normalized(stack.harness.crm_value(contact_id, name)) for key, name in names.items()}


def stage_of(stack: Stack, contact_id: str) -> Any:
    return stack.harness.crm_value(contact_id, STAGE_FIELD[stack.crm])


def is_protected(stack: Stack, contact: Contact) -> bool:
    return contact.protected or contact.get(STAGE_FIELD[stack.crm]) in PROTECTED[stack.crm]


# -- 1, 2: backfill writes the engine's values; a second sync writes nothing ---------------------------------
def test_backfill_writes_what_the_engine_computes(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    before = engine_view(stack)
    app = stack.app()

    summary = app.run("backfill")

    assert summary.status is RunStatus.OK and summary.exit_code == 0
    protected = {cid for cid, (contact, _) in before.items() if is_protected(stack, contact)}
    assert protected, "the seeded data has customers / opportunities / converted leads"
    assert summary.counts["read"] == summary.counts["scored"] == len(before)
    assert summary.counts["written"] == len(before) - len(protected)
    for cid, (_, result) in engine_view(stack).items():
        stored = crm_fields(stack, app, cid)
        if cid in protected:
            assert set(stored.values()) == {None}, f"{cid} is protected: nothing may be written"
        else:
            want = {key: normalized(value) for key, value in expected_fields(result).items()}
            assert stored == want, cid


def test_second_sync_writes_nothing(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    assert stack.app().run("backfill").counts["written"] > 0

    before = stack.snapshot()
    past_the_search_lag(stack)
    summary = stack.app().run("sync")

    assert summary.status is RunStatus.OK and summary.exit_code == 0
    # the backfill's own writes come back through the cursor overlap, as echoes: listed, not read again
    assert summary.counts["echoes"] > 0
    assert summary.counts["written"] == summary.counts["changed"] == 0
    assert stack.writes_since(before) == {}


def past_the_search_lag(stack: Stack) -> None:
    """Let the CRM's clock pass the HubSpot adapter's default search lag (60 s), so what just changed is read."""
    stack.sandbox.clock.advance(120)


# -- 3: one new activity, one update ---------------------------------------------------------------------------
def test_one_new_activity_writes_exactly_one_contact(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    app = stack.app()
    app.run("backfill")
    app.run("sync")  # drains the backfill's overlap window
    view = engine_view(stack)
    target = next(
        cid for cid, (c, r) in sorted(view.items()) if not is_protected(stack, c) and r.stage == "lead" and not r.tier
    )

    stack.harness.api.add_activity(target, "demo_request", NOW - timedelta(hours=1))
    before = stack.snapshot()
    past_the_search_lag(stack)
    summary = app.run("sync")

    assert summary.status is RunStatus.OK
    assert summary.counts["written"] == summary.counts["changed"] == 1
    assert stack.writes_since(before) == ONE_WRITE[crm]
    audit = list(app.store.audit_for_run(summary.run_id))
    assert audit and {row.contact_id for row in audit} == {target}
    _, result = engine_view(stack)[target]
    assert result.tier == "P1", "a demo request an hour ago makes a P1"
    assert crm_fields(stack, app, target)["tier"] == "P1"
    assert crm_fields(stack, app, target)["score"] == result.total


# -- 4: a dry run writes nothing and plans exactly what the real run writes ----------------------------------
def test_dry_run_writes_nothing_and_its_plan_is_what_the_real_run_writes(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    app = stack.app()

    before = stack.snapshot()
    dry = app.run("backfill", dry_run=True)

    assert dry.status is RunStatus.OK and dry.dry_run
    assert stack.writes_since(before) == {}
    assert dry.plan_path is not None and dry.plan_path.exists()
    with dry.plan_path.open(encoding="utf-8", newline="") as fh:
        rows = [{k: plain_cell(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    planned = {(r["contact_id"], r["field"], r["new"]) for r in rows}
    assert dry.plan_preview == [(r["contact_id"], r["field"], r["old"], r["new"]) for r in rows][:50]
    assert sum(dry.changes_by_kind.values()) == len(rows)
    assert dry.counts["written"] == 0 and dry.counts["changed"] == len({r["contact_id"] for r in rows})
    assert app.store.get_cursor(crm, "contacts") is None, "a dry run moves no cursor"

    real = app.run("backfill")

    audit = list(app.store.audit_for_run(real.run_id))
    written = {(row.contact_id, row.field, "" if row.new_value is None else str(row.new_value)) for row in audit}
    assert written == planned
    assert real.changes_by_kind == dry.changes_by_kind
    assert real.counts["written"] == dry.counts["changed"]


# -- 5: owners and stages follow the policies ----------------------------------------------------------------
def unassign(stack: Stack, contact_id: str, queue: str) -> None:
    """What "no owner" looks like in each CRM: empty in HubSpot, the routing queue / user elsewhere."""
    stack.harness.touch(contact_id, owner_id=queue or None)


def owner_of(stack: Stack, contact_id: str) -> str:
    value = stack.harness.crm_value(contact_id, "owner_id")
    return "" if value in (None, "") else str(value)


def owners_model(path: Path, *, pool: list[str], unassigned: list[str]) -> None:
    """The owners test model with this CRM's owner ids, at ``path``."""
    doc = yaml.safe_load((DATA / "owners.yaml").read_text(encoding="utf-8"))
    doc["policies"]["owners"].update(
        pool=pool, weights={oid: float(w) for oid, w in zip(pool, (1, 2, 3), strict=True)}, unassigned=unassigned
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def test_owners_and_stages_follow_the_policies(crm: str, make_stack: Any, tmp_path: Path) -> None:
    model_file = tmp_path / "owners.yaml"
    shutil.copyfile(DATA / "owners.yaml", model_file)
    stack = make_stack(crm, contacts=150, model_file=model_file)
    active = sorted(o.id for o in stack.app().adapter.read_owners() if o.active)
    seeded = [oid for oid in active if oid in {owner_of(stack, cid) for cid in stack.ids.values()}]
    pool, human = seeded[:3], seeded[3]
    queue = {"hubspot": "", "salesforce": QUEUE_ID, "pipedrive": seeded[4]}[crm]
    owners_model(model_file, pool=pool, unassigned=[queue] if queue else [])

    view = engine_view(stack)
    open_ = sorted(cid for cid, (c, _) in view.items() if not is_protected(stack, c))
    hot = [cid for cid in open_ if view[cid][1].stage in ("mql", "sql")]
    cold = [cid for cid in open_ if view[cid][1].stage == "lead"]
    kept = hot[:3]  # a person in the CRM chose their owner: left alone
    mover = hot[3]  # at the first stage, scored MQL/SQL: moves forward
    stuck = cold[0]  # at SQL, scored a lead: stays at SQL
    protected = sorted(cid for cid in view if cid not in open_)
    lead, sql = STAGES[crm]["lead"], STAGES[crm]["sql"]
    for cid in open_:
        unassign(stack, cid, queue)
    for cid in kept:
        stack.harness.touch(cid, owner_id=human)
    stack.harness.touch(mover, **{STAGE_FIELD[crm]: lead})
    stack.harness.touch(stuck, **{STAGE_FIELD[crm]: sql})
    for cid in protected:
        unassign(stack, cid, queue)
    before_protected = {cid: (owner_of(stack, cid), stage_of(stack, cid)) for cid in protected}

    app = stack.app()
    summary = app.run("backfill")

    assert summary.status is RunStatus.OK
    assigned = [cid for cid in hot if cid not in kept]
    got = Counter(owner_of(stack, cid) for cid in assigned)
    assert set(got) <= set(pool), got
    quota = {oid: len(assigned) * w / 6 for oid, w in zip(pool, (1, 2, 3), strict=True)}
    assert all(abs(got[oid] - quota[oid]) <= 1 for oid in pool), (got, quota)
    assert all(owner_of(stack, cid) == queue for cid in cold), "leads below the assign_from_stage keep no owner"
    assert all(owner_of(stack, cid) == human for cid in kept)
    assignments = app.store.get_assignments(crm, assigned)
    assert {cid: a.owner_id for cid, a in assignments.items()} == {cid: owner_of(stack, cid) for cid in assigned}

    assert stage_of(stack, mover) == STAGES[crm][view[mover][1].stage]
    assert stage_of(stack, stuck) == sql, "stages only move forward"
    audited = list(app.store.audit_for_run(summary.run_id))
    assert not [r for r in audited if r.contact_id == stuck and r.field == STAGE_FIELD[crm]]
    assert not [r for r in audited if r.contact_id in protected], "a protected contact gets no write at all"
    for cid in protected:
        assert (owner_of(stack, cid), stage_of(stack, cid)) == before_protected[cid]
        assert set(crm_fields(stack, app, cid, ("score", "grade")).values()) == {None}

    # sticky: once leadsync assigned an owner, a person's later change (or clearing it) stands; and a score
    # that drops (the lead turns out to work for a competitor) does not move the stage back
    changed, cleared = [cid for cid in assigned if cid != mover][:2]
    stack.harness.touch(changed, owner_id=human)
    unassign(stack, cleared, queue)
    moved_to = stage_of(stack, mover)
    stack.harness.touch(mover, email="someone@scorewise.io")
    past_the_search_lag(stack)
    summary = stack.app().run("sync")

    assert summary.status is RunStatus.OK
    assert owner_of(stack, changed) == human and owner_of(stack, cleared) == queue
    audited = list(app.store.audit_for_run(summary.run_id))
    assert not [r for r in audited if r.field == "owner_id"], "nothing to assign: the earlier choices stand"
    dropped = engine_view(stack)[mover][1]
    assert dropped.stage == "lead" and crm_fields(stack, app, mover, ("score",))["score"] == dropped.total == 0
    assert stage_of(stack, mover) == moved_to, "stages only move forward"


# -- 6: quarantine ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("refusal", ["named records", "10% of records"])
def test_refused_records_are_quarantined_and_the_next_sync_drains_them(crm: str, refusal: str, make_stack: Any) -> None:
    stack = make_stack(crm)
    view = engine_view(stack)
    open_ = sorted(cid for cid, (c, _) in view.items() if not is_protected(stack, c))
    faults = stack.sandbox.faults
    if refusal == "named records":
        failing = {open_[1], open_[5], open_[8]}
        faults.configure(fail_records=sorted(failing))
    else:
        faults.configure(rate_record_failure=0.1)
        failing = {cid for cid in open_ if faults.record_draw(crm, cid, 0)}  # the sandbox's seeded draw
        assert 0 < len(failing) < len(open_) / 3
    app = stack.app()

    summary = app.run("backfill")

    assert summary.status is RunStatus.PARTIAL and summary.exit_code == 1
    assert summary.counts["quarantined"] == summary.counts["failed"] == len(failing)
    assert summary.counts["written"] == len(open_) - len(failing)
    entries = {q.contact_id: q for q in app.store.quarantine_list(crm)}
    assert set(entries) == failing
    for entry in entries.values():
        assert re.fullmatch(r"(failed|retry): \S.{10,}", entry.reason), entry.reason
        assert entry.payload[field_name(app.fields_config, "score", crm)] == view[entry.contact_id][1].total
    failed_rows = [r for r in app.store.audit_for_run(summary.run_id) if r.status is AuditStatus.FAILED]
    assert {r.contact_id for r in failed_rows} == failing
    assert all(crm_fields(stack, app, cid, ("score",))["score"] is None for cid in failing)

    faults.clear()
    before = stack.snapshot()
    summary = stack.app().run("sync")

    assert summary.status is RunStatus.OK and summary.exit_code == 0
    assert summary.counts["written"] == len(failing)
    assert sum(stack.writes_since(before).values()) == (len(failing) if crm == "pipedrive" else 1)
    assert app.store.quarantine_count(crm) == 0
    for cid in failing:
        assert crm_fields(stack, app, cid, ("score",))["score"] == view[cid][1].total
