"""A bad API day: 429s, 5xx, connection resets, timeouts and per-record failures, and nothing lost or repeated.

The same seeded contacts are backfilled twice, on two identical sandboxes with leadsync's clock fixed: once
on a calm day, once with the sandbox injecting faults into 10% of the requests (a quarter each of 429,
5xx, connection reset, and an answer slower than the client's timeout) and failing 2% of the record writes.
Every contact must end written with exactly the calm day's values or quarantined with a reason; the next
sync drains the quarantine and leaves both CRMs identical; and the audit trail agrees with the sandbox:
every value it records is the one the CRM holds, and every record write the sandbox processed is one audit
entry (a write the client gave up waiting for is counted apart: it lands late and the retry lands again).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.records import FieldUpdate
from sync.policies import same_value
from sync.state import AuditAction, AuditRow, AuditStatus, RunStatus, StateStore
from tests.harnesses import CRMS
from tests.reliability.helpers import (
    Installation,
    WriteLedger,
    dataset_of,
    differences,
    installation,
    report_figures,
    sized,
)
from tests.sync.fakes import T0, Clock, FakeCRM, make_app, make_settings

CLIENT_TIMEOUT = 0.5  # seconds the adapters wait for an answer
SLOW_SECONDS = 1.5  # how late a "slow" fault answers: always after the client gave up
BAD_DAY = {
    "rate_429": 0.025,
    "rate_5xx": 0.025,
    "rate_reset": 0.025,
    "rate_slow": 0.025,
    "slow_seconds": SLOW_SECONDS,
    "rate_record_failure": 0.02,
}
# Contacts per batch: Salesforce reads and writes up to 2,000 records a call and packs its reads, so small
# batches give its few calls enough requests for every kind of fault to show up.
BATCH = {"hubspot": (100, 500), "salesforce": (10, 100), "pipedrive": (100, 500)}


def audit_rows(store: StateStore, crm: str) -> list[AuditRow]:
    return sorted(
        (row for run in store.list_runs(crm, limit=1000) for row in store.audit_for_run(run.id)), key=lambda r: r.id
    )


def backfill_then_sync(inst: Installation) -> None:
    for kind in ("backfill", "sync"):
        summary = inst.app.run(kind)
        assert summary.status is RunStatus.OK, (kind, summary.error, dict(summary.counts))


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_a_backfill_through_a_bad_api_day_ends_as_a_calm_one(
    crm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = sized(400, 5000)
    batch = [f"LEADSYNC_BATCH_SIZE={sized(*BATCH[crm])}"]
    dataset = dataset_of(contacts)

    with installation(crm, tmp_path / "calm", dataset, env=batch) as calm:
        backfill_then_sync(calm)
        expected = calm.snapshot()
        calm_written = {row.contact_id for row in audit_rows(calm.app.store, crm)}
        calm_keys = {key for key, cid in calm.ids.items() if cid in calm_written}
    assert len(calm_keys) > contacts // 2, "the model writes most contacts: the comparison is not empty"

    with installation(crm, tmp_path / "bad-day", dataset, env=batch, timeout=CLIENT_TIMEOUT) as inst:
        store, sandbox = inst.app.store, inst.sandbox
        ledger = WriteLedger(sandbox, CLIENT_TIMEOUT, monkeypatch)
        sandbox.faults.configure(**BAD_DAY)
        started = time.monotonic()

        backfill = inst.app.run("backfill")
        backfill_seconds = time.monotonic() - started
        assert backfill.status in (RunStatus.OK, RunStatus.PARTIAL), backfill.error
        assert backfill.counts["read"] == contacts
        quarantine = {q.contact_id: q for q in store.quarantine_list(crm)}
        assert all(q.reason.strip() for q in quarantine.values()), "every quarantined contact says why"
        assert backfill.counts["quarantined"] == len(quarantine)
        assert backfill.exit_code == (1 if quarantine else 0)
        after_backfill = inst.snapshot()
        for key in differences(expected, after_backfill):
            assert inst.ids[key] in quarantine, f"{key} differs from the calm run and is not quarantined"

        # the CRM's bad day is over for records (requests still fail): the next sync drains the quarantine
        sandbox.faults.configure(rate_record_failure=0.0)
        drain = inst.app.run("sync")
        assert drain.status is RunStatus.OK, drain.error
        assert store.quarantine_count(crm) == 0
        assert differences(expected, inst.snapshot()) == {}
        injected = Counter(sandbox.faults.state()["injected"])
        retries = sum(inst.app.adapter.usage().extra.get("retries", {}).values())
        check_audit_matches_sandbox(inst, ledger, set(quarantine))
        written = {row.contact_id for row in ok_writes(inst)}
        written_keys = {key for key, cid in inst.ids.items() if cid in written}
        assert written_keys == calm_keys, "the bad day wrote the same contacts as the calm day"

    for kind in ("429", "5xx", "reset", "slow", "record"):
        assert injected[kind] > 0, f"no {kind} fault was injected: the test proves nothing about it"
    assert retries >= injected["429"] + injected["5xx"] + injected["reset"] + injected["slow"]
    report_figures(
        f"faults[{crm}]",
        {
            "contacts": contacts,
            "faults": dict(injected),
            "retries": retries,
            "quarantined": len(quarantine),
            "drained": len(quarantine),
            "writes_landed_after_timeout": sum(ledger.abandoned.values()),
            "backfill_seconds": round(backfill_seconds, 1),
            "wall_seconds": round(time.monotonic() - started, 1),
        },
    )


def ok_writes(inst: Installation) -> list[AuditRow]:
    return [
        row
        for row in audit_rows(inst.app.store, inst.crm)
        if row.status is AuditStatus.OK and row.action is AuditAction.WRITE
    ]


def check_audit_matches_sandbox(inst: Installation, ledger: WriteLedger, quarantined: set[str]) -> None:
    """The audit trail's last value of every field is the CRM's, and its writes are the sandbox's writes."""
    rows = ok_writes(inst)
    last: dict[tuple[str, str], Any] = {}
    for row in rows:
        last[(row.contact_id, row.field)] = row.new_value
    wrong = {
        key: (value, inst.harness.crm_value(*key))
        for key, value in last.items()
        if not same_value(inst.harness.crm_value(*key), value)
    }
    assert wrong == {}, "the audit trail records values the CRM does not hold"

    # one successful write call per contact and run: the audit's (run, contact) pairs
    audited = Counter(contact for _run, contact in {(row.run_id, row.contact_id) for row in rows})
    assert max(audited.values()) == 1, "the audit records no contact written twice"
    assert max(ledger.landed.values()) == 1, "the sandbox processed no write twice while the client waited"
    assert set(audited) == set(ledger.landed) | set(ledger.abandoned), "every write the sandbox processed is audited"
    failed = {r.contact_id for r in audit_rows(inst.app.store, inst.crm) if r.status is AuditStatus.FAILED}
    assert failed == quarantined, "every failed write is in the audit trail as failed, and was quarantined"


def test_a_write_refused_on_retry_that_landed_after_all_is_recorded_and_not_repeated(tmp_path: Path) -> None:
    """The race a slow answer opens: the request the client gave up on lands late, the retry is refused.

    The contact is quarantined; the next run finds leadsync's values in the CRM, records them as written by
    the run that sent them, writes nothing, and releases the contact.
    """
    clock = Clock(T0)
    crm = FakeCRM(clock=clock)
    crm.add_contact("c1", updated_at=clock() - timedelta(days=1), title="VP Sales")
    crm.fail_writes["c1"] = "Injected per-record failure"

    def lands_anyway(chunk: Sequence[FieldUpdate]) -> None:
        for update in chunk:
            crm.touch(update.contact_id, **dict(update.values))  # the abandoned request, applied late

    crm.on_write = lands_anyway
    app = make_app(make_settings(tmp_path), crm, clock)
    try:
        first = app.run("sync")
        assert app.store.quarantine_count("hubspot") == 1
        crm.on_write, crm.fail_writes = None, {}
        writes = len(crm.writes)
        second = app.run("sync")
        assert len(crm.writes) == writes, "the values are in the CRM already: nothing is written again"
        assert app.store.quarantine_count("hubspot") == 0
        landed = [r for r in app.store.audit_for_run(first.run_id) if r.status is AuditStatus.OK]
        assert {r.field for r in landed} >= {"leadsync_score"}
        assert all(same_value(crm.value("c1", r.field), r.new_value) for r in landed)
        assert list(app.store.audit_for_run(second.run_id)) == []
    finally:
        app.close()
