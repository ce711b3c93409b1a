"""The run lock of every state store, within a process and across processes (SQLite and PostgreSQL, through
the ``store`` and ``store_url`` fixtures of tests/sync/conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.state import SQLiteStateStore, StateStore, open_store
from tests.harnesses import REPO, sql_under_api

CRM = "hubspot"  # locks are per CRM; any one will do


# -- run lock -----------------------------------------------------------------------------------------------
def test_the_lock_is_exclusive_within_a_process(store: StateStore) -> None:
    lock = store.acquire_lock(CRM)
    assert lock is not None and lock.held
    assert (lock.crm, lock.holder_info.pid, lock.holder_info.host) == (CRM, os.getpid(), socket.gethostname())
    assert store.acquire_lock(CRM) is None
    holder = store.lock_holder(CRM)
    assert holder is not None and holder.pid == os.getpid()
    assert "pid" in holder.describe()

    other = store.acquire_lock("salesforce")
    assert other is not None
    other.release()

    lock.release()
    lock.release()
    assert not lock.held
    assert store.lock_holder(CRM) is None
    with store.acquire_lock(CRM) as again:
        assert again is not None and again.held
    assert store.lock_holder(CRM) is None


def test_waiting_for_a_held_lock_gives_up_after_the_timeout(store: StateStore) -> None:
    lock = store.acquire_lock(CRM)
    assert lock is not None
    with lock:
        started = time.monotonic()
        assert store.acquire_lock(CRM, wait=True, timeout=0.3) is None
        assert time.monotonic() - started >= 0.3


def test_closing_the_store_releases_its_locks(store_url: str) -> None:
    first = open_store(store_url)
    assert first.acquire_lock(CRM) is not None
    first.close()
    with open_store(store_url) as second:
        assert second.acquire_lock(CRM) is not None


HOLDER = """
import sys
from sync.state import open_store
store = open_store(sys.argv[1])
lock = store.acquire_lock(sys.argv[2], wait=True, timeout=20)
print("locked" if lock else "busy", flush=True)
sys.stdin.readline()
store.close()
"""


@contextmanager
def _holder_process(url: str, crm: str = CRM) -> Iterator[subprocess.Popen[str]]:
    """A separate process that takes the CRM's lock and keeps it until told (a line on stdin) or killed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, crm],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _let_go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()


def test_the_lock_holds_across_processes(store: StateStore, store_url: str) -> None:
    with _holder_process(store_url) as proc:
        assert store.acquire_lock(CRM) is None
        holder = store.lock_holder(CRM)
        assert holder is not None and holder.pid == proc.pid
        assert store.acquire_lock("salesforce") is not None

        threading.Timer(0.3, _let_go, [proc]).start()
        started = time.monotonic()
        lock = store.acquire_lock(CRM, wait=True, timeout=20)
        assert lock is not None and lock.holder_info.pid == os.getpid()
        assert time.monotonic() - started >= 0.25
        lock.release()


def test_the_lock_of_a_killed_process_is_taken_over(store: StateStore, store_url: str) -> None:
    with _holder_process(store_url) as proc:
        assert store.acquire_lock(CRM) is None
        proc.kill()
        proc.wait(10)
        # SQLite: the row names a dead pid on this host, taken over at once;
        # PostgreSQL: the server drops the lock as soon as it sees the dead client's socket close
        lock = store.acquire_lock(CRM, wait=store_url.startswith("postgresql://"), timeout=10)
        assert lock is not None and lock.held
        assert store.lock_holder(CRM) == lock.holder_info
        lock.release()


def test_processes_can_write_to_one_store_at_once(store: StateStore, store_url: str) -> None:
    worker = """
import sys
from datetime import UTC, datetime
from sync.state import open_store
with open_store(sys.argv[1]) as store:
    for i in range(60):
        with store.transaction():
            store.quarantine_add("hubspot", "c1", reason="r", payload={}, run_id=None, now=datetime.now(UTC))
            store.set_cursor("hubspot", sys.argv[2], str(i), datetime.now(UTC))
"""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", worker, store_url, f"w{n}"], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
        )
        for n in range(3)
    ]
    assert [proc.wait(60) for proc in procs] == [0, 0, 0]
    assert store.quarantine_list(CRM)[0].attempts == 180
    assert [store.get_cursor(CRM, f"w{n}") for n in range(3)] == ["59", "59", "59"]


def test_a_sqlite_lock_with_a_stale_heartbeat_on_another_host_is_taken_over(tmp_path: Path) -> None:
    with SQLiteStateStore(tmp_path / "state.db", lock_ttl=60) as store:
        fresh = datetime.now(UTC)
        sql_under_api(
            store,
            "INSERT INTO run_locks (crm, token, pid, host, acquired_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)",
            CRM,
            "their-token",
            1,
            "another-host",
            store._ts(fresh - timedelta(hours=1)),
            store._ts(fresh - timedelta(seconds=5)),
        )
        assert store.acquire_lock(CRM) is None
        holder = store.lock_holder(CRM)
        assert holder is not None and holder.host == "another-host"

        sql_under_api(store, "UPDATE run_locks SET heartbeat_at = ?", store._ts(fresh - timedelta(seconds=61)))
        assert store.lock_holder(CRM) is None
        lock = store.acquire_lock(CRM)
        assert lock is not None
        lock.release()


def test_a_sqlite_heartbeat_keeps_a_live_lock_and_notices_a_takeover(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStateStore(path, lock_ttl=1.0) as store, SQLiteStateStore(path, lock_ttl=1.0) as rival:
        lock = store.acquire_lock(CRM)
        assert lock is not None
        sql_under_api(store, "UPDATE run_locks SET host = ?", "another-host")  # so only the heartbeat vouches for it
        time.sleep(1.3)  # longer than the TTL: only heartbeats (every 0.25 s) keep it
        assert rival.acquire_lock(CRM) is None
        assert lock.held

        sql_under_api(store, "UPDATE run_locks SET token = ?", "someone-else")
        deadline = time.monotonic() + 5
        while lock.held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not lock.held
        lock.release()


@pytest.mark.postgres
def test_a_postgres_lock_dies_with_its_connection(pg_url: str) -> None:
    with open_store(pg_url) as store, open_store(pg_url) as rival:
        lock = store.acquire_lock(CRM)
        assert lock is not None and lock.held
        backend_pid = lock._conn.info.backend_pid  # type: ignore[attr-defined]
        sql_under_api(rival, "SELECT pg_terminate_backend(?)", backend_pid)
        again = rival.acquire_lock(CRM, wait=True, timeout=10)
        assert again is not None
        assert not lock.held
        lock.release()
        again.release()
