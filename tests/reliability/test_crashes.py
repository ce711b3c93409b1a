"""Killed mid-backfill: SIGKILL at five seeded random points, then a rerun, ends exactly like no crash at all.

One sandbox DB is seeded once (contacts plus leadsync's write-back fields) and copied: one copy is served to
an uninterrupted ``leadsync backfill``, the other to a ``leadsync backfill`` that is SIGKILLed five times
(right after a write of its lands, after a read, or after a random delay: drawn from a seeded RNG) and then
run to the end.  Both are separate processes with the same fixed clock (``LEADSYNC_TEST_NOW``).

Asserted: the CRM's write-back values equal the uninterrupted run's for every contact; every run starts
where the last recorded batch ended, so it re-reads at most the batch that was in flight; and across the
killed runs and the rerun every field change is in the audit trail exactly once, with no write repeated.
"""

from __future__ import annotations

import math
import random
import shutil
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.records import FieldUpdate, WriteResult
from connectors.sandbox import SandboxProcess, run_subprocess
from sync.policies import same_value
from sync.state import AuditStatus, RunKind, RunStatus, open_store
from tests.harnesses import CRMS, wait_for
from tests.reliability.helpers import (
    counted,
    differences,
    popen_leadsync,
    read_values,
    recorded,
    report_figures,
    run_leadsync,
    seed_sandbox_db,
    sized,
    stage_field,
    subprocess_env,
)
from tests.sync.fakes import T0, Clock, FakeCRM, make_app, make_settings

KILLS = 5
# contacts, and contacts per batch: 16 batches, and a run is killed by the time it recorded two of them
SIZES = {
    "hubspot": ((1600, 100), (5000, 250)),
    "salesforce": ((800, 50), (5000, 250)),
    "pipedrive": ((640, 40), (5000, 250)),
}
# no rate limits: the clients pace themselves to the burst headers, in real seconds here
SANDBOX: dict[str, Any] = {"contacts": 0, "rate_limits": False, "limits": {"pipedrive": {"burst": 1_000_000}}}
READ_ENDPOINT = {"hubspot": "hubspot.contacts.list", "salesforce": "salesforce.query", "pipedrive": "pipedrive.persons"}


def calls_per_batch(crm: str, batch: int) -> int:
    """Read calls per batch: HubSpot lists 100 contacts a call, the others a whole batch."""
    return math.ceil(batch / 100) if crm == "hubspot" else 1


def recorded_in_flight(state_db: Path, crm: str) -> int:
    """Contacts recorded whose write is still in flight: a write the CRM refused (a timeout, a 5xx on a loaded
    machine) may have landed, so the next run reads them again to find out (``sync.pipeline._record``)."""
    conn = sqlite3.connect(state_db, timeout=10)
    try:
        sql = (
            "SELECT COUNT(*) FROM inflight_writes w JOIN scoring_inputs i"
            " ON i.crm = w.crm AND i.contact_id = w.contact_id WHERE w.crm = ?"
        )
        return int(conn.execute(sql, (crm,)).fetchone()[0])
    finally:
        conn.close()


def kill_point(proc: SandboxProcess, point: str, rng: random.Random, crm: str, batch: int) -> Any:
    """A condition that becomes true at the seeded kill point (counted from now)."""
    if point == "after a write":  # between a write landing and its batch being recorded, or a bit later
        # Pipedrive writes one person a call: anywhere in the first two batches; the others a batch a call
        writes_to = counted(proc, writes=True) + rng.randint(1, 2 * batch if crm == "pipedrive" else 2)
        return lambda: counted(proc, writes=True) >= writes_to
    if point == "after a read":
        endpoint = READ_ENDPOINT[crm]
        reads_to = counted(proc, writes=False, prefix=endpoint) + rng.randint(1, 2 * calls_per_batch(crm, batch))
        return lambda: counted(proc, writes=False, prefix=endpoint) >= reads_to
    calls, delay = counted(proc, writes=False), rng.uniform(0.05, 1.5)
    started: list[float] = []

    def after_delay() -> bool:  # a random delay after the run's first call
        if not started and counted(proc, writes=False) > calls:
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] >= delay

    return after_delay


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_sigkill_five_times_then_rerun_ends_like_an_uninterrupted_backfill(crm: str, tmp_path: Path) -> None:
    contacts, batch = sized(*SIZES[crm])
    ids, fields = seed_sandbox_db(tmp_path / "seeded.db", crm, contacts, tmp_path / "seeding")
    for name in ("calm.db", "killed.db"):
        shutil.copyfile(tmp_path / "seeded.db", tmp_path / name)
    read_endpoint = READ_ENDPOINT[crm]

    # the uninterrupted run
    with run_subprocess(db_path=str(tmp_path / "calm.db"), crm=crm, **SANDBOX) as proc:
        env_file, env = subprocess_env(proc, crm, tmp_path / "calm", batch)
        calm = run_leadsync(["--env-file", str(env_file), "backfill"], env, tmp_path, timeout=300)
        assert calm.code == 0, calm.output
        calm_writes = proc.faults()["record_attempts"]
    expected = read_values(tmp_path / "calm.db", crm, ids, fields)
    assert sum(1 for values in expected.values() if values[fields[0]] is not None) > contacts // 2

    # the run killed five times, then finished
    rng = random.Random(f"crashes/{crm}")
    state_db = tmp_path / "killed" / f"{crm}-state.db"
    kills: list[dict[str, Any]] = []
    with run_subprocess(db_path=str(tmp_path / "killed.db"), crm=crm, **SANDBOX) as proc:
        env_file, env = subprocess_env(proc, crm, tmp_path / "killed", batch)
        for _ in range(KILLS):
            before = recorded(state_db, crm)
            reads0 = counted(proc, writes=False, prefix=read_endpoint)
            point = rng.choice(["after a write", "after a read", "after a delay"])
            reached = kill_point(proc, point, rng, crm, batch)
            leadsync = popen_leadsync(["--env-file", str(env_file), "backfill"], env, tmp_path)
            try:
                # the seeded point, or two batches recorded: whichever comes first, so five kills fit in
                wait_for(lambda r=reached, b=before: r() or recorded(state_db, crm) >= b + 2 * batch, timeout=120)
            finally:
                leadsync.send_signal(signal.SIGKILL)
                out, err = leadsync.communicate(timeout=60)
            assert leadsync.returncode == -signal.SIGKILL, f"the backfill ended before its kill point:\n{out}{err}"
            after = recorded(state_db, crm)
            reads = counted(proc, writes=False, prefix=read_endpoint) - reads0
            kills.append({"point": point, "recorded_before": before, "recorded_after": after, "reads": reads})
            assert after < contacts, "killed before the backfill was recorded whole"
            # it started where the last recorded batch ended: besides the batches it recorded, it read the one
            # it was killed in and the contacts left in flight (by id, 100 a call at most)
            batches = math.ceil((after - before) / batch) + 1
            assert reads <= batches * calls_per_batch(crm, batch) + math.ceil(batch / 100), kills

        before = recorded(state_db, crm)
        recheck = recorded_in_flight(state_db, crm)
        reads0 = counted(proc, writes=False, prefix=read_endpoint)
        rerun = run_leadsync(["--env-file", str(env_file), "backfill"], env, tmp_path, timeout=300)
        assert rerun.code == 0, rerun.output
        rerun_reads = counted(proc, writes=False, prefix=read_endpoint) - reads0
        writes = proc.faults()["record_attempts"]

    assert differences(expected, read_values(tmp_path / "killed.db", crm, ids, fields)) == {}
    assert max(calm_writes.values()) == 1
    assert writes == calm_writes, "each record written once, as without crashes: none lost, none repeated"

    with open_store(state_db) as store:
        runs = list(reversed(store.list_runs(crm, kind=RunKind.BACKFILL)))
        assert [r.status for r in runs[:-1]] == [RunStatus.INTERRUPTED] * (len(runs) - 1)
        assert runs[-1].status is RunStatus.OK
        final = runs[-1]
        # the rerun reads the batches not yet recorded (the one in flight included), nothing recorded before
        # but the contacts whose refused writes are still in flight
        assert final.counts["read"] <= contacts - before + recheck, (kills, recheck, final.counts)
        assert final.counts["read"] >= contacts - before - batch, kills
        # every field change once in the audit trail, with the value the CRM holds
        rows = [row for run in runs for row in store.audit_for_run(run.id) if row.status is AuditStatus.OK]
        assert store.inflight_writes(crm) == {}, "nothing left in flight"
    per_field = Counter((row.contact_id, row.field) for row in rows)
    assert max(per_field.values()) == 1, "a field change recorded twice"
    by_id = {cid: key for key, cid in ids.items()}
    calm_changed = {
        (key, f)
        for key, values in expected.items()
        for f in fields
        if not same_value(values[f], None) and f != stage_field(crm)
    }
    audited = {(by_id[row.contact_id], row.field) for row in rows if row.field != stage_field(crm)}
    assert audited == calm_changed, "the audit trail holds every write-back value the CRM holds, no more"

    report_figures(
        f"crashes[{crm}]",
        {"contacts": contacts, "batch": batch, "kills": kills, "rerun_reads": rerun_reads, "writes": len(writes)},
    )


class Crash(BaseException):
    """The process dies here (SIGKILL, power cut): nothing after this line runs."""


def test_a_second_crash_before_the_reconciling_batch_is_recorded_loses_nothing(tmp_path: Path) -> None:
    """Backfill run 1 dies after c3's write landed; run 2 resumes with c2 and c3 (what run 1 left in flight),
    finds c3's write, but dies writing c2 before recording the batch.

    What run 1 left in flight must survive run 2's death, so run 3 still records c3's write (under run 1),
    and nothing is written twice.
    """
    clock = Clock(T0)
    crm = FakeCRM(clock=clock, page_size=2)
    for i in range(4):
        crm.add_contact(f"c{i}", updated_at=clock() - timedelta(days=10, minutes=-i), title="VP Sales")
    write = crm.write

    def c3_lands_then_crash(updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        if any(u.contact_id == "c3" for u in updates):
            write([u for u in updates if u.contact_id == "c3"])
            raise Crash
        return write(updates)

    def crash_before_landing(updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        raise Crash

    apps = []
    try:
        for crash in (c3_lands_then_crash, crash_before_landing, None):
            crm.write = crash or write  # type: ignore[method-assign]
            app = make_app(make_settings(tmp_path, batch_size=2), crm, clock)
            apps.append(app)
            if crash is None:
                assert app.run("backfill").status is RunStatus.OK
            else:
                with pytest.raises(Crash):
                    app.run("backfill")
        first_run = apps[0].store.list_runs("hubspot")[-1].id
        rows = apps[-1].store.audit_for_contact("hubspot", "c3")
        assert rows and {r.run_id for r in rows} == {first_run}, "c3's write is recorded, under the run that made it"
        assert all(r.status is AuditStatus.OK for r in rows)
        assert sorted(u.contact_id for u in crm.writes) == ["c0", "c1", "c2", "c3"], "each contact written once"
    finally:
        for app in apps:
            app.close()
