"""Two processes, one CRM: the run lock, on SQLite and on PostgreSQL; and SIGTERM to the daemon mid-batch.

The sandbox runs in this process and answers every request a little late (a ``slow`` fault shorter than
the client's timeout), so a run lasts long enough for the second process to meet it.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sandbox import Sandbox
from sync.policies import same_value
from sync.state import AuditStatus, RunKind, RunStatus, open_store
from tests.harnesses import wait_for
from tests.reliability.helpers import Installation, dataset_of, installation, leadsync_env, popen_leadsync

CONTACTS, BATCH = 300, 100
LATE = {"rate_slow": 1.0, "slow_seconds": 0.05}  # every answer 50 ms late: a batch takes about a second


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite:///{tmp_path / 'shared-state.db'}"


@pytest.fixture
def hubspot(tmp_path: Path) -> Iterator[Installation]:
    with installation("hubspot", tmp_path / "hubspot", dataset_of(CONTACTS)) as inst:
        inst.sandbox.faults.configure(**LATE)
        yield inst


def env_for(inst: Installation, state_url: str, **extra: str) -> dict[str, str]:
    """The .env of the installation, with the state database (and ``extra``) given in the environment."""
    return leadsync_env(LEADSYNC_STATE_URL=state_url, LEADSYNC_BATCH_SIZE=str(BATCH), **extra)


def cli(inst: Installation, *args: str) -> list[str]:
    return ["--env-file", str(inst.workdir / "hubspot.env"), *args]


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


def test_two_syncs_at_once_one_works_and_the_other_says_already_running(
    hubspot: Installation, state_url: str, tmp_path: Path
) -> None:
    env = env_for(hubspot, state_url)
    first = popen_leadsync(cli(hubspot, "sync"), env, tmp_path)
    second = popen_leadsync(cli(hubspot, "sync"), env, tmp_path)
    results = [finish(first), finish(second)]

    assert [code for code, _, _ in results] == [0, 0], results
    waited = [out for _, out, _ in results if out.startswith("Already running: leadsync pid ")]
    worked = [out for _, out, _ in results if "Run 1 (sync): ok." in out]
    assert len(waited) == 1 and len(worked) == 1, results
    assert "has been working on hubspot since" in waited[0]
    assert {str(p.pid) for p in (first, second)} & set(waited[0].split()), "it names the process at work"
    with open_store(state_url) as store:
        (run,) = store.list_runs("hubspot")
        assert run.status is RunStatus.OK and run.counts["read"] == CONTACTS
        assert store.lock_holder("hubspot") is None


def test_sigterm_to_the_daemon_mid_batch_leaves_the_state_consistent(
    hubspot: Installation, state_url: str, tmp_path: Path
) -> None:
    sandbox: Sandbox = hubspot.sandbox
    env = env_for(
        hubspot,
        state_url,
        LEADSYNC_DAEMON__SYNC_CRON="* * * * * *",  # every second
        LEADSYNC_DAEMON__RESCORE_CRON="0 0 1 1 *",
        LEADSYNC_DAEMON__CALIBRATE_CRON="0 0 1 1 *",
    )
    daemon = popen_leadsync(cli(hubspot, "daemon"), env, tmp_path)
    try:
        # the first batch is read and its activities are being read: its scoring and writing are under way (the
        # contacts listing alone is no sign: a sync lists archived contacts first, on the same endpoint)
        wait_for(lambda: sandbox.counters.calls("hubspot.associations") >= 1, timeout=60, what="the first page")
        daemon.send_signal(signal.SIGTERM)
    finally:
        code, out, err = finish(daemon)
    assert code == 0, out + err
    assert "Traceback" not in out + err

    # the batch in flight finished and was recorded; no other began
    assert sandbox.counters.calls("hubspot.contacts.batch_update") == 1
    with open_store(state_url) as store:
        (run,) = store.list_runs("hubspot", kind=RunKind.SYNC)
        assert run.status is RunStatus.INTERRUPTED, run
        assert run.counts["read"] == BATCH
        assert store.get_cursor("hubspot", "contacts") is not None
        assert store.inflight_writes("hubspot") == {}, "nothing left in flight"
        assert store.lock_holder("hubspot") is None
        rows = [row for row in store.audit_for_run(run.id) if row.status is AuditStatus.OK]
        assert len({row.contact_id for row in rows}) == run.counts["written"] > 0
        assert all(same_value(hubspot.harness.crm_value(row.contact_id, row.field), row.new_value) for row in rows)

    # the next run continues after the recorded batch and finishes
    sandbox.faults.clear()
    rest = popen_leadsync(cli(hubspot, "sync"), env_for(hubspot, state_url), tmp_path)
    code, out, err = finish(rest)
    assert code == 0, out + err
    with open_store(state_url) as store:
        last = store.list_runs("hubspot", kind=RunKind.SYNC, limit=1)[0]
        assert last.status is RunStatus.OK
        assert last.counts["read"] == CONTACTS - BATCH, "it read on from the cursor"
        assert not any(row.contact_id in {r.contact_id for r in rows} for row in store.audit_for_run(last.id))
