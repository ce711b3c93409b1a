"""``leadsync revert``: restore what a run overwrote, leave alone what changed since, and revert a revert."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.revert import RevertError, revert_run
from sync.state import AuditAction, AuditStatus, FieldChange, RunKind, RunStatus, StateStore, open_store
from tests.sync.fakes import FACTORY_ENV, FAKE_CRM_ENV, TEST_MODEL, Clock, FakeCRM

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
SCORE, TIER = "leadsync_score", "leadsync_priority_tier"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def fake_run(store: StateStore, crm: FakeCRM, clock: Clock, writes: dict[str, dict[str, object]]) -> int:
    """A finished sync that wrote ``writes`` (contact -> field -> new value) to ``crm``, as the pipeline would."""
    run_id = store.start_run("hubspot", RunKind.SYNC, model_version="m1", now=clock())
    changes = []
    for cid, values in writes.items():
        for field, new in values.items():
            changes.append(FieldChange(cid, field, crm.value(cid, field), new))  # type: ignore[arg-type]
        crm.touch(cid, **values)  # type: ignore[arg-type]
    store.record_writes(run_id, "hubspot", changes, clock())
    store.finish_run(run_id, status=RunStatus.OK, counts={"written": len(writes)}, now=clock())
    clock.advance(hours=1)
    return run_id


def revert(store: StateStore, crm: FakeCRM, clock: Clock, run_id: int, **kwargs: object):
    return revert_run(crm="hubspot", adapter=crm, store=store, run_id=run_id, clock=clock, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def crm(clock: Clock) -> FakeCRM:
    fake = FakeCRM(clock=clock, page_size=2)
    for cid in ("c1", "c2", "c3", "c4"):
        fake.add_contact(
            cid, email=f"{cid}@acme.test", lifecycle_stage="lead", owner_id=None, values={SCORE: 10, TIER: ""}
        )
    return fake


def test_revert_restores_old_values_and_leaves_human_changes_alone(
    store: StateStore, crm: FakeCRM, clock: Clock
) -> None:
    new = {SCORE: 55, TIER: "P1", "owner_id": "u7", "lifecycle_stage": "marketingqualifiedlead"}
    run_id = fake_run(store, crm, clock, {"c1": new, "c2": new, "c3": new, "c4": {SCORE: 60}})
    crm.touch("c2", **{SCORE: 99})  # a rep edits the score by hand
    crm.touch("c4", owner_id="u1")  # a field the run never wrote: irrelevant
    del crm.contacts["c3"]  # deleted in the CRM since
    crm.reset_counters()

    report = revert(store, crm, clock, run_id, batch_size=2)

    assert report.status is RunStatus.OK and report.exit_code == 0
    assert crm.value("c1", SCORE) == 10 and crm.value("c1", TIER) == ""
    assert crm.value("c1", "owner_id") is None and crm.value("c1", "lifecycle_stage") == "lead"
    assert crm.value("c2", SCORE) == 99, "the human's value stays"
    assert crm.value("c2", "owner_id") is None and crm.value("c2", TIER) == ""
    assert crm.value("c4", SCORE) == 10 and crm.value("c4", "owner_id") == "u1"
    assert [(c.contact_id, c.field, c.written, c.current) for c in report.conflicts] == [("c2", SCORE, 55, 99)]
    assert "changed in the CRM since" in report.conflicts[0].reason
    assert report.missing == ["c3"]
    # one read per batch of 2 contacts, one write per batch with something to restore, nothing else
    assert crm.calls == {"get_contacts": 2, "write": 2}
    assert {u.contact_id: dict(u.values) for u in crm.writes} == {
        "c1": {SCORE: 10, TIER: "", "owner_id": None, "lifecycle_stage": "lead"},
        "c2": {TIER: "", "owner_id": None, "lifecycle_stage": "lead"},
        "c4": {SCORE: 10},
    }

    record = store.get_run(report.run_id)
    assert record is not None and record.kind is RunKind.REVERT and record.status is RunStatus.OK
    assert record.counts["written"] == 3 and record.counts["conflicts"] == 1
    assert record.api_calls == {"get_contacts": 2, "write": 2}
    audit = list(store.audit_for_run(report.run_id))
    assert {a.action for a in audit} == {AuditAction.REVERT} and len(audit) == 8
    c1_owner = next(a for a in audit if a.contact_id == "c1" and a.field == "owner_id")
    assert (c1_owner.old_value, c1_owner.new_value) == ("u7", None)
    assert store.get_written("hubspot", ["c1"])["c1"][SCORE] == 10


def test_reverting_a_revert_puts_the_run_back(store: StateStore, crm: FakeCRM, clock: Clock) -> None:
    run_id = fake_run(store, crm, clock, {"c1": {SCORE: 55, "owner_id": "u7"}, "c2": {SCORE: 70}})
    first = revert(store, crm, clock, run_id)
    assert crm.value("c1", SCORE) == 10 and crm.value("c2", SCORE) == 10
    clock.advance(minutes=5)

    second = revert(store, crm, clock, first.run_id)

    assert second.status is RunStatus.OK and not second.conflicts
    assert crm.value("c1", SCORE) == 55 and crm.value("c1", "owner_id") == "u7" and crm.value("c2", SCORE) == 70
    assert store.get_written("hubspot", ["c1", "c2"]) == {"c1": {SCORE: 55, "owner_id": "u7"}, "c2": {SCORE: 70}}


def test_dry_run_plans_without_writing(store: StateStore, crm: FakeCRM, clock: Clock) -> None:
    run_id = fake_run(store, crm, clock, {"c1": {SCORE: 55}, "c2": {SCORE: 70}})
    crm.touch("c2", **{SCORE: 71})
    crm.reset_counters()

    report = revert(store, crm, clock, run_id, dry_run=True)

    assert crm.calls == {"get_contacts": 1} and not crm.writes
    assert [(r.contact_id, r.field, r.current, r.restore) for r in report.restores] == [("c1", SCORE, 55, 10)]
    assert len(report.conflicts) == 1
    record = store.get_run(report.run_id)
    assert record is not None and record.dry_run and list(store.audit_for_run(record.id)) == []
    assert report.as_dict()["restored"] == [{"contact_id": "c1", "field": SCORE, "from": 55, "to": 10}]


def test_a_later_leadsync_run_is_named_as_the_cause_of_a_conflict(
    store: StateStore, crm: FakeCRM, clock: Clock
) -> None:
    first = fake_run(store, crm, clock, {"c1": {SCORE: 55}})
    fake_run(store, crm, clock, {"c1": {SCORE: 60}})
    report = revert(store, crm, clock, first)
    assert [c.reason for c in report.conflicts] == ["a later leadsync run changed it since"]
    assert crm.value("c1", SCORE) == 60


def test_refused_restores_are_reported_and_recorded_as_failed(store: StateStore, crm: FakeCRM, clock: Clock) -> None:
    run_id = fake_run(store, crm, clock, {"c1": {SCORE: 55}, "c2": {SCORE: 70}})
    crm.fail_writes["c2"] = "FIELD_CUSTOM_VALIDATION_EXCEPTION: score locked"
    report = revert(store, crm, clock, run_id)
    assert report.status is RunStatus.PARTIAL and report.exit_code == 1
    assert report.failed == [("c2", "FIELD_CUSTOM_VALIDATION_EXCEPTION: score locked")]
    statuses = {(a.contact_id, a.status) for a in store.audit_for_run(report.run_id)}
    assert statuses == {("c1", AuditStatus.OK), ("c2", AuditStatus.FAILED)}
    assert store.get_written("hubspot", ["c2"])["c2"][SCORE] == 70, "a refused restore changes nothing"


def test_writes_that_failed_in_the_run_are_not_reverted(store: StateStore, crm: FakeCRM, clock: Clock) -> None:
    run_id = store.start_run("hubspot", RunKind.SYNC, now=clock())
    store.record_writes(
        run_id, "hubspot", [FieldChange("c1", SCORE, 10, 55, AuditAction.WRITE, AuditStatus.FAILED)], clock()
    )
    store.finish_run(run_id, status=RunStatus.PARTIAL, now=clock())
    report = revert(store, crm, clock, run_id)
    assert report.status is RunStatus.OK and crm.calls == {} and not report.restores


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "There is no run 42"),
        ("other_crm", "is a salesforce run"),
        ("dry_run", "was a dry run"),
        ("running", "is still running"),
    ],
)
def test_runs_that_cannot_be_reverted_say_why(
    store: StateStore, crm: FakeCRM, clock: Clock, setup: str, message: str
) -> None:
    run_id = 42
    if setup == "other_crm":
        run_id = store.start_run("salesforce", RunKind.SYNC, now=clock())
        store.finish_run(run_id, status=RunStatus.OK, now=clock())
    elif setup == "dry_run":
        run_id = store.start_run("hubspot", RunKind.SYNC, dry_run=True, now=clock())
        store.finish_run(run_id, status=RunStatus.OK, now=clock())
    elif setup == "running":
        run_id = store.start_run("hubspot", RunKind.SYNC, now=clock())
    with pytest.raises(RevertError, match=message):
        revert(store, crm, clock, run_id)
    assert crm.calls == {}


# -- the commands ----------------------------------------------------------------------------------------
@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.yaml").write_text(TEST_MODEL, encoding="utf-8")
    for name, value in {
        "LEADSYNC_MODEL_FILE": str(tmp_path / "model.yaml"),
        "LEADSYNC_CRM": "hubspot",
        "LEADSYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "LEADSYNC_HUBSPOT__ACCESS_TOKEN": "pat-test-token",
        FACTORY_ENV: "tests.sync.fakes:adapter_from_env",
        FAKE_CRM_ENV: str(tmp_path / "crm.json"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def invoke(*args: str):
    from sync import ops_cli
    from sync.cli import cli

    ops_cli.register(cli)
    return CliRunner().invoke(cli, ["--env-file", "none.env", *args], catch_exceptions=False)


def test_revert_runs_and_show_commands(cli_env: Path, clock: Clock) -> None:
    crm = FakeCRM(clock=clock)
    crm.add_contact("c1", values={SCORE: 10})
    crm.add_contact("c2", values={SCORE: 20})
    with open_store(cli_env / "state.db") as store:
        run_id = fake_run(store, crm, clock, {"c1": {SCORE: 55}, "c2": {SCORE: 65}})
    crm.touch("c2", **{SCORE: 66})
    crm.save(cli_env / "crm.json")

    dry = invoke("revert", str(run_id), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would restore 1 field(s) on 1 contact(s); 1 conflict(s) left alone" in dry.output
    assert "c2" in dry.output and "66" in dry.output

    done = invoke("revert", str(run_id), "--json")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    assert doc["reverted_run_id"] == run_id and doc["status"] == "ok"
    assert doc["restored"] == [{"contact_id": "c1", "field": SCORE, "from": 55, "to": 10}]
    assert (doc["restored_fields"], doc["restored_contacts"]) == (1, 1)
    assert FakeCRM.load(cli_env / "crm.json").value("c1", SCORE) == 10, "the adapter was closed (and saved)"

    listed = invoke("runs", "--json", "--limit", "2")
    assert [(r["id"], r["kind"], r["dry_run"]) for r in json.loads(listed.output)] == [
        (doc["run_id"], "revert", False),
        (doc["run_id"] - 1, "revert", True),
    ]
    table = invoke("runs")
    assert table.exit_code == 0 and "revert (dry)" in table.output and "sync" in table.output

    shown = invoke("show", str(doc["run_id"]), "--json")
    detail = json.loads(shown.output)
    assert detail["kind"] == "revert" and detail["counts"]["written"] == 1
    assert detail["api_calls"] == {"get_contacts": 1, "write": 1}
    text = invoke("show", str(run_id))
    assert f"Run {run_id}: sync on hubspot, ok" in text.output and "model       m1" in text.output
    assert f"leadsync revert {run_id} --dry-run" in text.output
    missing = invoke("show", "999")
    assert missing.exit_code == 2 and "There is no run 999" in missing.output


def test_revert_while_another_process_works_on_the_crm_exits_0(cli_env: Path, clock: Clock) -> None:
    FakeCRM(clock=clock).save(cli_env / "crm.json")
    with open_store(cli_env / "state.db") as store:
        lock = store.acquire_lock("hubspot")
        assert lock is not None
        with lock:
            result = invoke("revert", "1")
    assert result.exit_code == 0
    assert "Already running" in result.output
