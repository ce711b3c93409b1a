"""The pipeline's bookkeeping on the in-memory FakeCRM: cursors, crash safety, quota, one page at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import AuthError, ConfigurationError, ConnectorError, FatalApiError
from connectors.records import Activity, ContactPage, FieldUpdate, WriteResult
from sync.app import App
from sync.state import AuditStatus, RunStatus
from tests.sync.fakes import T0, Clock, FakeCRM, make_app, make_settings

CRM = "hubspot"
SCORE = "leadsync_score"


class Crash(BaseException):
    """The process dies here (SIGKILL, power cut): nothing after this line runs."""


@pytest.fixture
def crm(clock: Clock) -> FakeCRM:
    """Six VPs, two per page, each with a page view: every one of them gets a score to write."""
    fake = FakeCRM(clock=clock, page_size=2)
    for i in range(6):
        fake.add_contact(f"c{i}", updated_at=T0 - timedelta(days=10, minutes=-i), title="VP Sales")
        fake.add_activity(f"c{i}", "page_view", occurred_at=T0 - timedelta(days=3))
    return fake


@pytest.fixture
def new_app(tmp_path: Path, crm: FakeCRM, clock: Clock) -> Iterator[Any]:
    apps: list[App] = []

    def make() -> App:
        app = make_app(make_settings(tmp_path, batch_size=2), crm, clock)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def page_cursors(crm: FakeCRM) -> list[str | None]:
    pages = list(crm.read_contacts(None))
    crm.reset_counters()
    return [p.cursor for p in pages]


def written_ids(writes: Sequence[FieldUpdate]) -> list[str]:
    return [u.contact_id for u in writes]


def test_the_cursor_moves_only_once_a_batch_is_recorded(crm: FakeCRM, new_app: Any) -> None:
    app = new_app()
    cursors = page_cursors(crm)
    seen: list[str | None] = []
    crm.on_write = lambda batch: seen.append(app.store.get_cursor(CRM, "contacts"))

    summary = app.run("sync")

    assert summary.status is RunStatus.OK and summary.counts["written"] == 6
    assert seen == [None, cursors[0], cursors[1]], "while batch k is written, the cursor is batch k-1's"
    assert app.store.get_cursor(CRM, "contacts") == cursors[2]


def test_an_error_mid_batch_leaves_the_cursor_where_it_was(crm: FakeCRM, new_app: Any) -> None:
    cursors = page_cursors(crm)
    calls = {"n": 0}

    def refuse_second_batch(batch: Sequence[FieldUpdate]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise FatalApiError("400 the request was malformed", crm=CRM, endpoint="write", status=400)

    crm.on_write = refuse_second_batch
    app = new_app()
    summary = app.run("sync")

    assert summary.status is RunStatus.FAILED and summary.exit_code == 1
    assert "malformed" in (summary.error or "")
    assert app.store.get_cursor(CRM, "contacts") == cursors[0]
    assert written_ids(crm.writes) == ["c0", "c1"]
    assert {row.contact_id for row in app.store.audit_for_run(summary.run_id)} == {"c0", "c1"}

    crm.on_write = None
    crm.reset_counters()
    again = new_app().run("sync")

    assert again.status is RunStatus.OK
    assert sorted(written_ids(crm.writes)) == ["c2", "c3", "c4", "c5"], "each contact written once in all"
    assert again.counts["read"] == 6, "c0 and c1 come back once: the first run's writes bumped them"


def test_a_crash_after_the_write_landed_is_recorded_on_the_rerun_not_repeated(crm: FakeCRM, new_app: Any) -> None:
    cursors = page_cursors(crm)
    write = crm.write

    def crash_after_second_batch(updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        results = write(updates)
        if "c2" in written_ids(updates):
            raise Crash
        return results

    crm.write = crash_after_second_batch  # type: ignore[method-assign]
    app = new_app()
    with pytest.raises(Crash):
        app.run("sync")
    crashed = app.store.list_runs(CRM, limit=1)[0]
    assert crashed.status is RunStatus.FAILED
    assert app.store.get_cursor(CRM, "contacts") == cursors[0]
    inflight = app.store.inflight_writes(CRM)
    assert set(inflight) == {"c2", "c3"} and inflight["c2"].run_id == crashed.id
    assert crm.value("c2", SCORE) == 35, "the write landed before the crash"

    crm.write = write  # type: ignore[method-assign]
    crm.reset_counters()
    rerun = new_app()
    summary = rerun.run("sync")

    assert summary.status is RunStatus.OK
    assert sorted(written_ids(crm.writes)) == ["c4", "c5"], "c2 and c3 are not written again"
    for cid in ("c2", "c3"):
        rows = rerun.store.audit_for_contact(CRM, cid)
        assert {r.run_id for r in rows} == {crashed.id}, "recorded under the run that wrote them"
        assert {r.field for r in rows} >= {SCORE, "leadsync_scored_at"}
        assert all(r.status is AuditStatus.OK for r in rows)
    assert rerun.store.inflight_writes(CRM) == {}
    assert rerun.store.get_cursor(CRM, "contacts") is not None


def test_quota_exhausted_ends_the_run_with_exit_3_and_the_cursor_saved(crm: FakeCRM, new_app: Any) -> None:
    cursors = page_cursors(crm)
    # a batch costs three calls (read contacts, read activities, write): the second batch runs dry
    crm.quota_limit = 4
    crm.quota_reset_at = T0 + timedelta(hours=15)
    app = new_app()

    summary = app.run("sync")

    assert summary.status is RunStatus.FAILED and summary.exit_code == 3
    assert summary.quota_exhausted and summary.quota_reset_at == T0 + timedelta(hours=15)
    assert "The cursor is saved" in (summary.error or "")
    assert app.store.get_cursor(CRM, "contacts") == cursors[0]
    assert written_ids(crm.writes) == ["c0", "c1"]

    crm.quota_limit = None
    crm.reset_counters()
    again = new_app().run("sync")
    assert again.exit_code == 0 and sorted(written_ids(crm.writes)) == ["c2", "c3", "c4", "c5"]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AuthError("401 the token was revoked", crm=CRM), 3),
        (ConfigurationError("no such property", crm=CRM), 2),
        (FatalApiError("400 bad request", crm=CRM), 1),
    ],
)
def test_connector_errors_end_the_run_with_their_exit_code(
    crm: FakeCRM, new_app: Any, error: ConnectorError, code: int
) -> None:
    crm.raise_on["read_activities"] = error
    summary = new_app().run("backfill")
    assert summary.status is RunStatus.FAILED and summary.exit_code == code
    assert crm.writes == []


def test_batches_are_processed_one_page_at_a_time(crm: FakeCRM, new_app: Any) -> None:
    app = new_app()
    read = crm.read_contacts
    handed_out: list[int] = []

    def one_page_at_a_time(cursor: str | None) -> Iterator[ContactPage]:
        for page in read(cursor):
            handed_out.append(len(page.contacts))
            yield page
            # the pipeline asks for the next page only once this one is scored, written and recorded
            assert app.store.get_cursor(CRM, "contacts") == page.cursor, "a page was still outstanding"

    activity_reads: list[int] = []
    read_activities = crm.read_activities

    def counted_activities(contact_ids: Sequence[str]) -> Mapping[str, list[Activity]]:
        activity_reads.append(len(contact_ids))
        return read_activities(contact_ids)

    crm.read_contacts = one_page_at_a_time  # type: ignore[method-assign]
    crm.read_activities = counted_activities  # type: ignore[method-assign]

    summary = app.run("sync")

    assert summary.status is RunStatus.OK and summary.counts["written"] == 6
    assert handed_out == [2, 2, 2] and activity_reads == [2, 2, 2]
    assert crm.calls["write"] == 3


def test_a_limited_backfill_resumes_without_skipping_the_rest_of_its_page(crm: FakeCRM, new_app: Any) -> None:
    crm.page_size = 4
    first = new_app().run("backfill", limit=3)
    assert first.counts["written"] == 3

    crm.reset_counters()
    rest = new_app().run("backfill")

    assert rest.status is RunStatus.OK
    assert all(crm.value(f"c{i}", SCORE) == 35 for i in range(6)), "every contact is scored in the end"
    assert sorted(written_ids(crm.writes)) == ["c3", "c4", "c5"]
