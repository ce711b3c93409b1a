"""One suite for every state store: each test runs against SQLite and against PostgreSQL (the ``store`` and
``store_url`` fixtures of tests/sync/conftest.py).  The run lock's tests are in test_state_locks.py."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.records import Activity, Contact
from sync.state import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Assignment,
    AuditAction,
    AuditStatus,
    FieldChange,
    InflightWrite,
    Migration,
    PostgresStateStore,
    RoundRobinState,
    RunKind,
    RunStatus,
    SchemaTooNewError,
    ScoringInputs,
    SQLiteStateStore,
    StateError,
    StateStore,
    _process,
    open_store,
)
from sync.state._schema import check_migrations
from tests.harnesses import sql_under_api

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CRM = "hubspot"


def _open(url: str, migrations: tuple[Migration, ...]) -> StateStore:
    if url.startswith("postgresql://"):
        return PostgresStateStore(url, migrations=migrations)
    return SQLiteStateStore(url, migrations=migrations)


# -- schema -------------------------------------------------------------------------------------------------
NOTES = Migration(SCHEMA_VERSION + 1, "test: notes", ("CREATE TABLE test_notes (id $serial, at $ts NOT NULL)",))


def test_migrations_are_numbered_one_to_n() -> None:
    check_migrations(MIGRATIONS)
    with pytest.raises(ValueError, match=r"1\.\.N"):
        check_migrations((*MIGRATIONS, Migration(SCHEMA_VERSION + 2, "gap", ())))


def test_a_fresh_store_is_at_the_latest_version(store: StateStore) -> None:
    assert store.schema_version() == SCHEMA_VERSION


def test_reopening_keeps_data_and_version(store_url: str) -> None:
    with open_store(store_url) as first:
        first.set_cursor(CRM, "contacts", "c-1", T0)
    with open_store(store_url) as second:
        assert second.schema_version() == SCHEMA_VERSION
        assert second.get_cursor(CRM, "contacts") == "c-1"


def test_opening_an_older_database_applies_the_new_migrations(store_url: str) -> None:
    with _open(store_url, MIGRATIONS) as old:
        old.set_cursor(CRM, "contacts", "c-1", T0)
    with _open(store_url, (*MIGRATIONS, NOTES)) as upgraded:
        assert upgraded.schema_version() == SCHEMA_VERSION + 1
        assert upgraded.get_cursor(CRM, "contacts") == "c-1"
        sql_under_api(upgraded, "INSERT INTO test_notes (at) VALUES (?)", upgraded._ts(T0))  # type: ignore[attr-defined]
        assert len(sql_under_api(upgraded, "SELECT id FROM test_notes")) == 1


def test_a_database_newer_than_the_code_is_refused(store_url: str) -> None:
    _open(store_url, (*MIGRATIONS, NOTES)).close()
    with pytest.raises(SchemaTooNewError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade leadsync"):
        open_store(store_url)


def test_a_failing_migration_changes_nothing(store_url: str) -> None:
    _open(store_url, MIGRATIONS).close()
    broken = Migration(SCHEMA_VERSION + 1, "broken", ("CREATE TABLE half_done (x INTEGER)", "NOT SQL AT ALL"))
    with pytest.raises(Exception, match="syntax error"):
        _open(store_url, (*MIGRATIONS, broken))
    fixed = Migration(SCHEMA_VERSION + 1, "fixed", ("CREATE TABLE half_done (x INTEGER)",))
    with _open(store_url, (*MIGRATIONS, fixed)) as store:
        assert store.schema_version() == SCHEMA_VERSION + 1


# -- runs ---------------------------------------------------------------------------------------------------
def test_a_run_is_recorded_from_start_to_finish(store: StateStore) -> None:
    run_id = store.start_run(CRM, RunKind.SYNC, model_version="m-3", dry_run=True, now=T0)
    running = store.get_run(run_id)
    assert running is not None
    assert (running.status, running.kind, running.started_at, running.finished_at) == (
        RunStatus.RUNNING,
        RunKind.SYNC,
        T0,
        None,
    )
    assert (running.pid, running.host, running.dry_run, running.model_version) == (
        os.getpid(),
        socket.gethostname(),
        True,
        "m-3",
    )

    counts = {"read": 10, "scored": 10, "changed": 4, "written": 3, "failed": 1, "quarantined": 1}
    store.finish_run(
        run_id,
        status="partial",
        counts=counts,
        api_calls={"contacts.search": 3, "contacts.batch_update": 1},
        quota_left=249_000,
        error="1 record refused",
        now=T0 + timedelta(seconds=90),
    )
    done = store.get_run(run_id)
    assert done is not None
    assert done.status is RunStatus.PARTIAL
    assert done.finished_at == T0 + timedelta(seconds=90)
    assert done.duration_seconds == 90.0
    assert dict(done.counts) == counts
    assert dict(done.api_calls) == {"contacts.search": 3, "contacts.batch_update": 1}
    assert (done.quota_left, done.error) == (249_000, "1 record refused")
    assert store.get_run(run_id + 1000) is None


def test_runs_are_listed_newest_first_and_filtered(store: StateStore) -> None:
    ids = [store.start_run(crm, kind, now=T0) for crm, kind in [(CRM, "sync"), ("pipedrive", "sync"), (CRM, "rescore")]]
    store.finish_run(ids[0], status=RunStatus.OK, now=T0)
    assert [run.id for run in store.list_runs()] == ids[::-1]
    assert [run.id for run in store.list_runs(CRM)] == [ids[2], ids[0]]
    assert [run.id for run in store.list_runs(CRM, kind="sync")] == [ids[0]]
    assert [run.id for run in store.list_runs(status="running")] == [ids[2], ids[1]]
    assert [run.id for run in store.list_runs(limit=1)] == [ids[2]]


def test_bad_run_arguments_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError):
        store.start_run(CRM, "resync", now=T0)
    run_id = store.start_run(CRM, "sync", now=T0)
    with pytest.raises(ValueError, match="final status"):
        store.finish_run(run_id, status="running", now=T0)
    with pytest.raises(StateError, match="does not exist"):
        store.finish_run(run_id + 1000, status="ok", now=T0)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_runs_left_running_by_dead_processes_are_marked_interrupted(store: StateStore) -> None:
    now = datetime.now(UTC)
    alive = store.start_run(CRM, "sync", now=now)
    dead = store.start_run(CRM, "sync", now=now - timedelta(minutes=5))
    sql_under_api(store, "UPDATE runs SET pid = ? WHERE id = ?", _dead_pid(), dead)
    # our own pid, but not a run this process started: left by an earlier process with the same pid
    reused = store.start_run(CRM, "sync", now=now)
    _process.unclaim(store._run_key(reused))  # type: ignore[attr-defined]
    elsewhere = store.start_run(CRM, "backfill", now=now)
    sql_under_api(store, "UPDATE runs SET host = ? WHERE id = ?", "another-host", elsewhere)
    other_crm = store.start_run("pipedrive", "sync", now=now)
    sql_under_api(store, "UPDATE runs SET pid = ? WHERE id = ?", _dead_pid(), other_crm)

    assert store.mark_interrupted_runs(CRM, now) == 2
    statuses = {run.id: run.status for run in store.list_runs()}
    assert statuses[alive] is RunStatus.RUNNING
    assert statuses[dead] is statuses[reused] is RunStatus.INTERRUPTED
    assert statuses[elsewhere] is statuses[other_crm] is RunStatus.RUNNING
    interrupted = store.get_run(dead)
    assert interrupted is not None
    assert interrupted.duration_seconds == 300.0
    assert interrupted.error is not None and "stopped before the run finished" in interrupted.error

    assert store.mark_interrupted_runs(CRM, now, include_other_hosts=True) == 1
    assert store.get_run(alive).status is RunStatus.RUNNING  # type: ignore[union-attr]


# -- cursors ------------------------------------------------------------------------------------------------
def test_cursors_are_kept_per_crm_and_stream(store: StateStore) -> None:
    assert store.get_cursor(CRM, "contacts") is None
    store.set_cursor(CRM, "contacts", '{"after": "100"}', T0)
    store.set_cursor(CRM, "activities", "a-1", T0)
    store.set_cursor("salesforce", "contacts", "sf-1", T0)
    store.set_cursor(CRM, "contacts", '{"after": "200"}', T0 + timedelta(minutes=1))
    assert store.get_cursor(CRM, "contacts") == '{"after": "200"}'
    assert store.get_cursor(CRM, "activities") == "a-1"
    assert store.get_cursor("salesforce", "contacts") == "sf-1"
    store.set_cursor(CRM, "contacts", None, T0)
    assert store.get_cursor(CRM, "contacts") is None


def test_inflight_writes_are_kept_per_crm_replaced_per_contact_and_settled(store: StateStore) -> None:
    assert store.inflight_writes(CRM) == {}
    store.save_inflight(CRM, [InflightWrite("c1", 1, {"score": (None, 40)}), InflightWrite("c2", 1, {})], T0)
    store.save_inflight("salesforce", [InflightWrite("c1", 2, {"stage": ("lead", "mql")})], T0)
    store.save_inflight(CRM, [InflightWrite("c1", 3, {"score": (40, 55), "tier": (None, "P1")})], T0)
    assert store.inflight_writes(CRM) == {
        "c1": InflightWrite("c1", 3, {"score": (40, 55), "tier": (None, "P1")}),
        "c2": InflightWrite("c2", 1, {}),
    }
    with store.transaction():
        store.settle_inflight(CRM, ["c1", "c2"])
    assert store.inflight_writes(CRM) == {}
    assert store.inflight_writes("salesforce") == {"c1": InflightWrite("c1", 2, {"stage": ("lead", "mql")})}


def test_the_schema_2_migration_moves_version_1_inflight_cursors_into_their_table(store_url: str) -> None:
    with _open(store_url, MIGRATIONS[:1]) as old:
        old.set_cursor(CRM, "inflight", '{"c7": {"run_id": 4, "changes": {"score": [10, 35]}}}', T0)
        old.set_cursor(CRM, "contacts", "c-1", T0)
    with open_store(store_url) as upgraded:
        assert upgraded.inflight_writes(CRM) == {"c7": InflightWrite("c7", 4, {"score": (10, 35)})}
        assert upgraded.get_cursor(CRM, "inflight") is None
        assert upgraded.get_cursor(CRM, "contacts") == "c-1"


def test_naive_datetimes_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_cursor(CRM, "contacts", "x", T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.start_run(CRM, "sync", now=T0.replace(tzinfo=None))


def test_datetimes_come_back_in_utc(store: StateStore) -> None:
    paris = timezone(timedelta(hours=2))
    run_id = store.start_run(CRM, "sync", now=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=paris))
    run = store.get_run(run_id)
    assert run is not None
    assert run.started_at == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert run.started_at.utcoffset() == timedelta(0)


# -- written values and audit -------------------------------------------------------------------------------
def test_record_writes_remembers_successful_values_and_audits_all(store: StateStore) -> None:
    run_id = store.start_run(CRM, "sync", now=T0)
    store.record_writes(
        run_id,
        CRM,
        [
            FieldChange("c1", "leadsync_score", None, 42),
            FieldChange("c1", "lifecycle_stage", "lead", "marketingqualifiedlead"),
            FieldChange("c1", "leadsync_hot", None, True),
            FieldChange("c2", "leadsync_score", "7", "7.5"),
            FieldChange("c3", "leadsync_score", 10, 11, status=AuditStatus.FAILED),
        ],
        T0,
    )
    written = store.get_written(CRM, ["c1", "c2", "c3", "c4"])
    assert written == {
        "c1": {"leadsync_score": 42, "lifecycle_stage": "marketingqualifiedlead", "leadsync_hot": True},
        "c2": {"leadsync_score": "7.5"},
    }
    assert type(written["c1"]["leadsync_score"]) is int
    assert store.get_written("pipedrive", ["c1"]) == {}

    later = store.start_run(CRM, "revert", now=T0 + timedelta(hours=1))
    store.record_writes(
        later,
        CRM,
        [FieldChange("c1", "leadsync_score", 42, None, action=AuditAction.REVERT)],
        T0 + timedelta(hours=1),
    )
    assert store.get_written(CRM, ["c1"])["c1"]["leadsync_score"] is None

    history = store.audit_for_contact(CRM, "c1")
    assert [(row.field, row.old_value, row.new_value, row.action) for row in history] == [
        ("leadsync_score", None, 42, AuditAction.WRITE),
        ("lifecycle_stage", "lead", "marketingqualifiedlead", AuditAction.WRITE),
        ("leadsync_hot", None, True, AuditAction.WRITE),
        ("leadsync_score", 42, None, AuditAction.REVERT),
    ]
    assert (history[-1].run_id, history[-1].at) == (later, T0 + timedelta(hours=1))
    failed = store.audit_for_contact(CRM, "c3")
    assert [(row.status, row.old_value, row.new_value) for row in failed] == [(AuditStatus.FAILED, 10, 11)]


def test_audit_for_run_streams_every_row_in_order(store: StateStore) -> None:
    run_id = store.start_run(CRM, "sync", now=T0)
    other = store.start_run(CRM, "sync", now=T0)
    store.record_writes(run_id, CRM, [FieldChange(f"c{i}", "leadsync_score", None, i) for i in range(25)], T0)
    store.record_writes(other, CRM, [FieldChange("x", "leadsync_score", None, 1)], T0)
    rows = store.audit_for_run(run_id, batch_size=4)
    assert isinstance(rows, Iterator)
    assert [(row.contact_id, row.new_value) for row in rows] == [(f"c{i}", i) for i in range(25)]
    assert list(store.audit_for_run(run_id + 1000)) == []


def test_lookups_by_many_ids_cross_chunk_boundaries(store: StateStore) -> None:
    run_id = store.start_run(CRM, "sync", now=T0)
    ids = [f"c{i}" for i in range(1_203)]
    store.record_writes(run_id, CRM, [FieldChange(cid, "leadsync_score", None, 1) for cid in ids], T0)
    assert len(store.get_written(CRM, ids)) == 1_203
    with pytest.raises(TypeError, match="sequence of contact ids"):
        store.get_written(CRM, "c1")


# -- transactions -------------------------------------------------------------------------------------------
def _batch(store: StateStore, run_id: int, cursor: str) -> None:
    store.record_writes(run_id, CRM, [FieldChange("c1", "leadsync_score", 1, 2)], T0)
    store.quarantine_add(CRM, "c9", reason="INVALID_EMAIL", payload={"email": "x"}, run_id=run_id, now=T0)
    store.save_inputs(CRM, [_inputs("c1", T0)])
    store.set_assignments(CRM, [Assignment("c1", "owner-1", "round_robin", T0)])
    store.set_cursor(CRM, "contacts", cursor, T0)


def test_an_exception_inside_a_transaction_rolls_back_the_whole_batch(store: StateStore) -> None:
    run_id = store.start_run(CRM, "sync", now=T0)
    store.set_cursor(CRM, "contacts", "before", T0)
    with pytest.raises(RuntimeError, match="adapter blew up"), store.transaction():
        _batch(store, run_id, "after")
        assert store.get_cursor(CRM, "contacts") == "after"  # visible inside the transaction
        raise RuntimeError("adapter blew up")
    assert store.get_cursor(CRM, "contacts") == "before"
    assert store.get_written(CRM, ["c1"]) == {}
    assert list(store.audit_for_run(run_id)) == []
    assert store.quarantine_count(CRM) == 0
    assert store.load_inputs(CRM, ["c1"]) == {}
    assert store.get_assignments(CRM, ["c1"]) == {}


def test_a_transaction_commits_the_whole_batch(store_url: str) -> None:
    with open_store(store_url) as store, open_store(store_url) as observer:
        run_id = store.start_run(CRM, "sync", now=T0)
        with store.transaction():
            _batch(store, run_id, "after")
            assert observer.get_cursor(CRM, "contacts") is None  # not visible to others before commit
        assert observer.get_cursor(CRM, "contacts") == "after"
        assert observer.get_written(CRM, ["c1"]) == {"c1": {"leadsync_score": 2}}
        assert len(list(observer.audit_for_run(run_id))) == 1
        assert observer.quarantine_count(CRM) == 1


def test_a_nested_transaction_rolls_back_alone(store: StateStore) -> None:
    with store.transaction():
        store.set_cursor(CRM, "contacts", "outer", T0)
        with pytest.raises(KeyError), store.transaction():
            store.set_cursor(CRM, "activities", "inner", T0)
            raise KeyError("inner")
    assert store.get_cursor(CRM, "contacts") == "outer"
    assert store.get_cursor(CRM, "activities") is None


# -- scoring inputs -----------------------------------------------------------------------------------------
def _inputs(contact_id: str, next_change_at: datetime | None, total: float = 50.0) -> ScoringInputs:
    contact = Contact(
        id=contact_id,
        updated_at=T0 - timedelta(days=1),
        fields={"email": f"{contact_id}@example.com", "employees": 250, "customer": False, "phone": None},
        merged_from=("old-1",),
    )
    activities = (
        Activity("a1", contact_id, "page_view", T0 - timedelta(days=3), {"url": "/pricing"}, "PAGE_VIEW"),
        Activity("a2", contact_id, "demo_request", T0 - timedelta(days=2), {"score": 1.5}),
    )
    return ScoringInputs(contact, activities, "m-3", T0, next_change_at, total, "mql", "A")


def test_scoring_inputs_round_trip_compressed(store: StateStore) -> None:
    paris = timezone(timedelta(hours=2))
    original = _inputs("c1", datetime(2024, 5, 8, 14, 0, tzinfo=paris))
    store.save_inputs(CRM, [original, _inputs("c2", None)])
    loaded = store.load_inputs(CRM, ["c1", "c2", "missing"])
    assert set(loaded) == {"c1", "c2"}
    assert loaded["c1"] == original
    assert loaded["c1"].next_change_at == datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
    assert loaded["c2"].next_change_at is None
    payload = sql_under_api(store, "SELECT payload FROM scoring_inputs WHERE contact_id = ?", "c1")[0][0]
    assert isinstance(payload, bytes | memoryview)
    assert b"pricing" in zlib.decompress(payload)

    store.save_inputs(CRM, [_inputs("c1", None, total=80.0)])
    assert store.load_inputs(CRM, ["c1"])["c1"].total == 80.0


def test_iter_due_streams_due_contacts_earliest_first_in_batches(store: StateStore) -> None:
    items = [_inputs(f"c{i:02}", T0 + timedelta(minutes=i // 2)) for i in range(30)]  # pairs share a time
    items += [_inputs("never", None), _inputs("later", T0 + timedelta(days=1))]
    store.save_inputs(CRM, items[::-1])
    store.save_inputs("salesforce", [_inputs("sf", T0)])
    now = T0 + timedelta(minutes=9)  # due: c00..c19

    batches = list(store.iter_due(CRM, now, batch_size=7))
    assert [len(batch) for batch in batches] == [7, 7, 6]
    assert [item.contact_id for batch in batches for item in batch] == [f"c{i:02}" for i in range(20)]
    assert [len(batch) for batch in store.iter_due(CRM, now, batch_size=7, limit=10)] == [7, 3]
    assert store.count_due(CRM, now) == 20
    assert list(store.iter_due(CRM, T0 - timedelta(seconds=1))) == []


def test_iter_due_lets_the_caller_reschedule_as_it_goes(store: StateStore) -> None:
    store.save_inputs(CRM, [_inputs(f"c{i:02}", T0 + timedelta(seconds=i)) for i in range(10)])
    now = T0 + timedelta(minutes=1)
    seen = []
    for batch in store.iter_due(CRM, now, batch_size=3):
        seen += [item.contact_id for item in batch]
        store.save_inputs(CRM, [_inputs(item.contact_id, now + timedelta(days=7)) for item in batch])
    assert seen == [f"c{i:02}" for i in range(10)]
    assert store.count_due(CRM, now) == 0


# -- owners -------------------------------------------------------------------------------------------------
def test_assignments_are_sticky_and_round_robin_continues_across_stores(store_url: str) -> None:
    with open_store(store_url) as store:
        store.set_assignments(CRM, [Assignment("c1", "o1", "round_robin", T0), Assignment("c2", "o2", "territory", T0)])
        store.set_assignments(CRM, [Assignment("c2", "o3", "manual", T0 + timedelta(hours=1))])
        assert store.get_round_robin(CRM) == RoundRobinState()
        store.set_round_robin(CRM, RoundRobinState(position=4, counters={"o1": 3, "o2": -2}), now=T0)
        store.set_round_robin(CRM, RoundRobinState(position=1), pool="emea", now=T0)
    with open_store(store_url) as later:
        assert later.get_assignments(CRM, ["c1", "c2", "c3"]) == {
            "c1": Assignment("c1", "o1", "round_robin", T0),
            "c2": Assignment("c2", "o3", "manual", T0 + timedelta(hours=1)),
        }
        assert later.get_assignments("salesforce", ["c1"]) == {}
        assert later.get_round_robin(CRM) == RoundRobinState(position=4, counters={"o1": 3, "o2": -2})
        assert later.get_round_robin(CRM, "emea") == RoundRobinState(position=1)
        assert later.get_round_robin("salesforce") == RoundRobinState()


# -- quarantine ---------------------------------------------------------------------------------------------
def test_quarantine_counts_attempts_until_released(store: StateStore) -> None:
    first = store.quarantine_add(CRM, "c1", reason="INVALID_EMAIL", payload={"score": 50}, run_id=1, now=T0)
    store.quarantine_add(CRM, "c2", reason="PROTECTED", payload={}, run_id=1, now=T0 + timedelta(seconds=1))
    store.quarantine_add("salesforce", "c1", reason="X", payload={}, run_id=None, now=T0)
    second = store.quarantine_add(
        CRM, "c1", reason="INVALID_EMAIL again", payload={"score": 55}, run_id=2, now=T0 + timedelta(hours=1)
    )
    assert (first, second) == (1, 2)
    entries = store.quarantine_list(CRM)
    assert [entry.contact_id for entry in entries] == ["c1", "c2"]
    c1 = entries[0]
    assert (c1.attempts, c1.reason, dict(c1.payload), c1.run_id) == (2, "INVALID_EMAIL again", {"score": 55}, 2)
    assert (c1.first_seen, c1.last_seen) == (T0, T0 + timedelta(hours=1))
    assert len(store.quarantine_list(CRM, limit=1)) == 1
    assert store.quarantine_count(CRM) == 2

    assert store.quarantine_release(CRM, ["c1", "not-quarantined"]) == 1
    assert [entry.contact_id for entry in store.quarantine_list(CRM)] == ["c2"]
    assert store.quarantine_count("salesforce") == 1


def test_forgetting_contacts_keeps_their_audit_trail(store: StateStore) -> None:
    run_id = store.start_run(CRM, "sync", now=T0)
    _batch(store, run_id, "cursor")
    store.forget_contacts(CRM, ["c1", "c9"])
    assert store.get_written(CRM, ["c1"]) == {}
    assert store.load_inputs(CRM, ["c1"]) == {}
    assert store.get_assignments(CRM, ["c1"]) == {}
    assert store.quarantine_count(CRM) == 0
    assert len(store.audit_for_contact(CRM, "c1")) == 1


# -- SQLite files and URLs ----------------------------------------------------------------------------------
def test_the_sqlite_file_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "state.db"
    with open_store(path) as store:
        store.set_cursor(CRM, "contacts", "c", T0)
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
        journal = sql_under_api(store, "PRAGMA journal_mode")[0][0]
        assert journal == "wal"


def test_an_existing_readable_sqlite_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    open_store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_open_store_understands_paths_and_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///relative.db") as relative:
        assert isinstance(relative, SQLiteStateStore)
    assert (tmp_path / "relative.db").exists()
    with open_store(f"sqlite:///{tmp_path}/absolute.db"):
        assert (tmp_path / "absolute.db").exists()
    with pytest.raises(StateError, match="unsupported state store URL scheme 'mysql'"):
        open_store("mysql://localhost/x")


def test_an_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StateError, match="cannot connect to the PostgreSQL state database") as caught:
        open_store("postgresql://leadsync:s3cret-pw@127.0.0.1:1/leadsync")
    assert "s3cret-pw" not in str(caught.value)
