"""Quota: Salesforce's daily API allocation and Pipedrive's daily token budget, spent mid-backfill.

The run ends with exit code 3 and a sentence saying the quota is exhausted and the cursor saved; what it
recorded stays recorded; a run before the reset stops at the first refusal instead of hammering; once the
sandbox's clock passes the reset, the next run continues from the saved cursor and completes.

(The daemon's wait for the reset, rather than retrying on schedule, is covered in tests/sync/test_daemon.py.)
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.sandbox import run_subprocess
from sync.state import RunKind, RunStatus, open_store
from tests.reliability.helpers import counted, recorded, run_leadsync, seed_sandbox_db, subprocess_env

CONTACTS, BATCH = 300, 50
LIMITS = {
    # requests per rolling 24 h: enough for the first few batches only
    "salesforce": {"salesforce": {"daily_api_requests": 12}},
    # tokens per (sandbox) day; a person update costs 5 (PATCH v2): more than half the backfill, not all of it
    "pipedrive": {"pipedrive": {"daily_budget": 1250, "burst": 1_000_000}},
}
SAYS = {"salesforce": "REQUEST_LIMIT_EXCEEDED", "pipedrive": "daily"}


def until_reset(crm: str, sandbox_now: datetime) -> float:
    """Seconds from the sandbox's now to just after the quota resets."""
    if crm == "salesforce":  # a rolling 24 hours
        return 24 * 3600 + 1
    midnight = (sandbox_now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - sandbox_now).total_seconds() + 1


@pytest.mark.parametrize("crm", ["salesforce", "pipedrive"])
def test_an_exhausted_quota_ends_the_run_with_exit_3_and_the_next_run_continues(crm: str, tmp_path: Path) -> None:
    seed_sandbox_db(tmp_path / "sandbox.db", crm, CONTACTS, tmp_path / "seeding")
    state_db = tmp_path / "work" / f"{crm}-state.db"
    with run_subprocess(db_path=str(tmp_path / "sandbox.db"), crm=crm, contacts=0, limits=LIMITS[crm]) as proc:
        env_file, env = subprocess_env(proc, crm, tmp_path / "work", BATCH)
        backfill = ["--env-file", str(env_file), "backfill"]

        first = run_leadsync(backfill, env, tmp_path)
        assert first.code == 3, first.output
        assert "Traceback" not in first.output
        assert SAYS[crm] in first.stderr, first.stderr
        assert re.search(r"saved cursor|cursor (is )?saved", first.stderr), "it says the next run continues here"
        done = recorded(state_db, crm)
        assert 0 < done < CONTACTS, "some batches were recorded before the quota ran out, not all"
        with open_store(state_db) as store:
            assert store.get_cursor(crm, "backfill") is not None
            (run,) = store.list_runs(crm, kind=RunKind.BACKFILL)
            assert run.status is RunStatus.FAILED and SAYS[crm] in (run.error or "")

        # before the reset: no write is even tried, nothing new is recorded, and the run ends at once
        reads, writes = counted(proc, writes=False), counted(proc, writes=True)
        again = run_leadsync(backfill, env, tmp_path)
        assert again.code == 3, again.output
        assert recorded(state_db, crm) == done
        assert counted(proc, writes=True) == writes
        if crm == "salesforce":  # every call is refused: the first refusal ends the run
            assert counted(proc, writes=False) - reads <= 2

        proc.advance_clock(until_reset(crm, datetime.fromisoformat(proc.advance_clock(0)["now"])))
        final = run_leadsync(backfill, env, tmp_path)
        assert final.code == 0, final.output
        assert recorded(state_db, crm) == CONTACTS
        with open_store(state_db) as store:
            last = store.list_runs(crm, kind=RunKind.BACKFILL, limit=1)[0]
            assert last.status is RunStatus.OK
            assert last.counts["read"] <= CONTACTS - done + BATCH, "continued from the cursor, not from the start"
            assert store.get_cursor(crm, "backfill") is None, "the backfill is complete"
