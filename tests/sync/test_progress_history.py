"""What an operator sees: progress per page with totals (resumed backfills included, reverts too), a run's
changes (``show RUN --changes``/``--csv``), one contact's history, the plan's email and name columns, and the
daemon's first sync at start with a ``/healthz`` that reports the last run consistently."""

from __future__ import annotations

import csv
import json
import re
import stat
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from connectors.records import FieldValue
from sync.cli import _register_optional_commands, cli
from sync.daemon import Daemon, cron_trigger
from sync.history import contact_label
from sync.policies import field_name
from sync.settings import load_settings
from sync.state import RunKind, RunStatus, open_store
from sync.testhooks import TEST_NOW_ENV
from tests.harnesses import CRMS, NOW, wait_for
from tests.sync.conftest import Stack
from tests.sync.fakes import T0, Clock, FakeCRM, make_app, make_settings

_register_optional_commands()
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_NOW_ENV, NOW.isoformat())


def invoke(env_file: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--env-file", str(env_file), *args], catch_exceptions=False)


def small_batches(stack: Stack, size: int) -> Path:
    """The stack's ``.env`` with pages (batches) of ``size`` contacts."""
    path = stack.workdir / "small.env"
    lines = [ln for ln in stack.env_file.read_text(encoding="utf-8").splitlines() if "LEADSYNC_BATCH_SIZE" not in ln]
    path.write_text("\n".join([*lines, f"LEADSYNC_BATCH_SIZE={size}"]) + "\n", encoding="utf-8")
    return path


def progress_lines(result: Result, crm: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(f"{crm}: ")]


class Recorder:
    """A Progress that remembers every call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def start(self, total: int | None, *, done: int = 0) -> None:
        self.events.append(("start", total, done))

    def read(self, records: int) -> None:
        self.events.append(("read", records))

    def advance(self, records: int, *, calls: int, quota_left: int | None) -> None:
        self.events.append(("advance", records, calls))

    def stop(self) -> None:
        self.events.append(("stop",))


# -- progress --------------------------------------------------------------------------------------------------
def _app(stack: Stack, env: Path) -> Any:
    """An App on ``env`` whose adapter reads the sandbox's clock as "now" (where a backfill's read stops)."""
    from sync.app import App
    from sync.wiring import build_adapter

    def factory(settings: Any, fields: list[str]) -> Any:
        overrides: dict[str, Any] = {"sleep": stack.sandbox.clock.advance, "now": stack.sandbox.clock.now}
        if stack.crm != "salesforce":
            overrides["monotonic"] = lambda: stack.sandbox.clock.seconds() + 1e9
        return build_adapter(settings, fields, **overrides)

    return App(load_settings(env), clock=lambda: NOW, adapter_factory=factory)


def _backfill(app: Any, **kwargs: Any) -> tuple[Any, Recorder]:
    recorder = Recorder()
    try:
        pipe = app.pipeline()
        pipe.progress = recorder
        return pipe.backfill(**kwargs), recorder
    finally:
        app.close()


@pytest.mark.parametrize(("crm", "counts"), [("hubspot", True), ("salesforce", True), ("pipedrive", False)])
def test_a_backfill_reports_each_page_as_it_is_read_and_done(crm: str, counts: bool, make_stack: Any) -> None:
    stack: Stack = make_stack(crm, contacts=45)
    summary, recorder = _backfill(_app(stack, small_batches(stack, 20)))

    assert summary.status is RunStatus.OK
    events = recorder.events
    read = summary.counts["read"]
    assert events[0] == ("start", read if counts else None, 0), "Pipedrive cannot count its persons"
    assert events[-1] == ("stop",)
    steps = [e for e in events[1:-1] if e[1]]
    pages = [e[1] for e in steps if e[0] == "advance"]
    assert sum(pages) == read
    # each page is shown as read before it is processed, and done before the next one is read
    assert [e[:2] for e in steps] == [x for n in pages for x in (("read", n), ("advance", n))]
    if crm != "hubspot":  # HubSpot's list pages hold 100 contacts: there a page is at least one API page
        assert max(pages) == 20 and len(pages) == -(-read // 20)
    calls = [e[2] for e in events if e[0] == "advance"]
    assert calls == sorted(calls) and calls[-1] > 0, "API calls so far, growing page by page"


def test_hubspot_progress_moves_with_each_api_page_of_a_page_of_contacts(make_stack: Any) -> None:
    # a page of 250 contacts gathers three list calls (100, 100, 50): the bar moves with each call
    stack: Stack = make_stack("hubspot", contacts=250)
    summary, recorder = _backfill(_app(stack, small_batches(stack, 250)))

    assert summary.status is RunStatus.OK and summary.counts["read"] == 250
    steps = [e[:2] for e in recorder.events[1:-1] if e[1]]
    assert steps == [("read", 100), ("read", 100), ("read", 50), ("advance", 250)]


def test_a_resumed_backfill_counts_what_was_done_before_and_ends_at_the_total(make_stack: Any) -> None:
    stack: Stack = make_stack("salesforce", contacts=60)
    env = small_batches(stack, 20)

    first, recorder = _backfill(_app(stack, env), limit=40)
    assert first.counts["read"] == 40
    assert recorder.events[0] == ("start", 40, 0)

    rest, recorder = _backfill(_app(stack, env))
    # it starts at what the first run did, and ends at its total: not at "20/60"
    assert recorder.events[0] == ("start", 40 + rest.counts["read"], 40)
    assert sum(e[1] for e in recorder.events if e[0] == "advance") == rest.counts["read"] > 0


def test_a_resumed_hubspot_backfill_counts_only_the_contacts_left_to_list(make_stack: Any) -> None:
    stack: Stack = make_stack("hubspot", contacts=250)
    env = small_batches(stack, 100)

    first, _ = _backfill(_app(stack, env), limit=200)
    assert first.counts["read"] == 200

    rest, recorder = _backfill(_app(stack, env))
    # the list cursor resumes at a contact id: the total is what was done plus what is left, not 200 + 250
    assert recorder.events[0] == ("start", 200 + rest.counts["read"], 200)
    assert rest.counts["read"] == 50


@pytest.mark.parametrize("limit", [40, 30], ids=["at-a-page-boundary", "inside-a-page"])
@pytest.mark.parametrize("crm", CRMS)
def test_a_limited_backfill_then_its_resume_reads_every_contact_once(crm: str, limit: int, make_stack: Any) -> None:
    # 6 of the 60 people were changed at NOW: in the second the backfill starts, which it must read too
    stack: Stack = make_stack(crm, contacts=60)
    env = small_batches(stack, 20)

    first, _ = _backfill(_app(stack, env), limit=limit)
    rest, _ = _backfill(_app(stack, env))

    assert first.counts["read"] == limit
    assert first.counts["read"] + rest.counts["read"] == len(stack.ids) == 60
    app = stack.app()
    ids = sorted(stack.ids.values())
    scored = app.store.load_inputs(crm, ids)
    assert sorted(scored) == ids, "read once each (the counts add up to 60) and every one of them scored"
    # what landed in the CRM is each contact's score, written once (customers are left alone by the policies)
    score_field = field_name(app.fields_config, "score", crm)
    in_crm = {cid: stack.harness.crm_value(cid, score_field) for cid in ids}
    in_crm = {cid: float(value) for cid, value in in_crm.items() if value not in (None, "")}
    assert len(in_crm) == first.counts["written"] + rest.counts["written"] > 40
    assert in_crm == {cid: scored[cid].total for cid in in_crm}


def test_the_progress_line_ends_on_the_total(make_stack: Any) -> None:
    stack: Stack = make_stack("hubspot", contacts=30)
    result = invoke(stack.env_file, "backfill")
    assert result.exit_code == 0, result.output
    lines = progress_lines(result, "hubspot")
    assert lines[0].startswith("hubspot: 0/30 records done, 30 read"), lines
    assert lines[-1].startswith("hubspot: 30/30 records done, 30 read"), lines
    assert "ETA" in lines[-1] and "API calls" in lines[-1]


# -- a run's changes, a contact's history, the plan --------------------------------------------------------------
def test_plan_show_changes_history_and_revert_progress(make_stack: Any, tmp_path: Path) -> None:
    stack: Stack = make_stack("salesforce", contacts=40)
    env = stack.env_file
    app = stack.app()
    people = {c.id: contact_label(c.fields) for c in app.adapter.get_contacts(sorted(stack.ids.values()))}
    assert all(email for email, _ in people.values())

    dry = invoke(env, "backfill", "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan = Path(re.search(r"Full plan: (\S+)", dry.output).group(1))  # type: ignore[union-attr]
    with plan.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["contact_id", "email", "name", "field", "old", "new", "kind"]
    for row in rows:
        assert (row["email"], row["name"]) == people[row["contact_id"]], row
        assert not any(value.startswith(FORMULA) for value in row.values()), row
    assert any(row["new"].startswith("'-") for row in rows), "the reasons that start with -10 are quoted"

    real = invoke(env, "backfill")
    assert real.exit_code == 0, real.output
    run_id = int(re.search(r"Run (\d+) \(backfill\)", real.output).group(1))  # type: ignore[union-attr]
    audit = list(app.store.audit_for_run(run_id))
    assert audit

    shown = invoke(env, "show", str(run_id), "--changes", "--limit", "5")
    assert shown.exit_code == 0, shown.output
    assert f"Changes of run {run_id} (backfill on salesforce)" in shown.output
    first = audit[0]
    assert first.contact_id in shown.output and people[first.contact_id][0] in shown.output
    assert f"...and {len(audit) - 5} more" in shown.output

    as_json = invoke(env, "show", str(run_id), "--changes", "--json")
    docs = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(d["contact_id"], d["field"], d["new"]) for d in docs] == [
        (a.contact_id, a.field, a.new_value) for a in audit
    ]
    assert all((d["email"], d["name"]) == people[d["contact_id"]] for d in docs)

    out_csv = tmp_path / "changes.csv"
    exported = invoke(env, "show", str(run_id), "--csv", str(out_csv))
    assert exported.exit_code == 0 and f"Wrote {len(audit)} change(s)" in exported.output
    assert stat.S_IMODE(out_csv.stat().st_mode) == 0o600, "it holds CRM data"
    with out_csv.open(encoding="utf-8", newline="") as fh:
        exported_rows = list(csv.DictReader(fh))
    assert len(exported_rows) == len(audit)
    for row, a in zip(exported_rows, audit, strict=True):
        assert (row["run_id"], row["contact_id"], row["field"]) == (str(run_id), a.contact_id, a.field)
        assert row["new"].removeprefix("'") == _text(a.new_value) and row["old"] == _text(a.old_value)
        assert (row["email"], row["name"]) == people[a.contact_id]

    reverted = invoke(env, "revert", str(run_id))
    assert reverted.exit_code == 0, reverted.output
    contacts = len({a.contact_id for a in audit})
    lines = progress_lines(reverted, "salesforce")
    assert lines and lines[-1].startswith(f"salesforce: {contacts}/{contacts} contacts checked done"), lines
    revert_id = int(re.search(r"recorded as run (\d+)", reverted.output).group(1))  # type: ignore[union-attr]

    cid = first.contact_id
    history = invoke(env, "history", cid, "--json")
    assert history.exit_code == 0, history.output
    entries = json.loads(history.stdout)
    wrote = [(a.field, a.new_value) for a in audit if a.contact_id == cid]
    assert [(e["run_id"], e["action"]) for e in entries] == [(run_id, "write")] * len(wrote) + [
        (revert_id, "revert")
    ] * len(wrote)
    assert [(e["field"], e["new"]) for e in entries[: len(wrote)]] == wrote
    assert [e["new"] for e in entries[len(wrote) :]] == [a.old_value for a in audit if a.contact_id == cid]
    table = invoke(env, "history", cid)
    assert f"salesforce contact {cid} ({people[cid][0]}" in table.output
    assert "backfill" in table.output and "revert" in table.output
    nothing = invoke(env, "history", "no-such-id")
    assert nothing.exit_code == 0 and "leadsync has written nothing to salesforce contact no-such-id" in nothing.output


def _text(value: FieldValue) -> str:
    return "" if value is None else str(value)


# -- the daemon ------------------------------------------------------------------------------------------------
NEVER = "0 0 1 1 *"  # once a year: a test that sees a sync saw the one at start


def _daemon(tmp_path: Path, clock: Clock, crm: FakeCRM) -> Daemon:
    settings = make_settings(tmp_path)
    triggers = {kind: cron_trigger(NEVER) for kind in ("sync", "rescore", "calibrate")}
    return Daemon(
        settings, app_factory=lambda: make_app(settings, crm, clock), clock=clock, triggers=triggers, metrics_port=0
    )


def _healthz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    assert daemon.server is not None
    try:
        with urllib.request.urlopen(f"{daemon.server.url}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _earlier_runs(tmp_path: Path, clock: Clock) -> tuple[int, int]:
    """A successful sync an hour ago, then a failed rescore: what a restarted daemon finds in the store."""
    with open_store(tmp_path / "state.db") as store:
        sync_id = store.start_run("hubspot", RunKind.SYNC, now=T0 - timedelta(hours=1))
        store.finish_run(sync_id, status=RunStatus.OK, now=T0 - timedelta(minutes=59))
        rescore_id = store.start_run("hubspot", RunKind.RESCORE, now=T0 - timedelta(minutes=30))
        store.finish_run(rescore_id, status=RunStatus.FAILED, error="boom", now=T0 - timedelta(minutes=29))
    return sync_id, rescore_id


def test_the_daemon_syncs_at_start_and_healthz_reports_that_sync(tmp_path: Path, clock: Clock) -> None:
    crm = FakeCRM(clock=clock)
    crm.add_contact("v1", updated_at=T0 - timedelta(days=3), title="VP Sales")
    _, rescore_id = _earlier_runs(tmp_path, clock)
    daemon = _daemon(tmp_path, clock, crm)
    daemon.start()
    try:
        wait_for(lambda: ("sync", RunStatus.OK) in daemon.finished, what="the sync at start")
        code, body = _healthz(daemon)
    finally:
        daemon.shutdown()

    with open_store(tmp_path / "state.db") as store:
        latest = store.list_runs("hubspot", kind="sync", limit=1)[0]
    assert code == 200 and body["status"] == "ok" and body["reason"] == "the last sync succeeded recently"
    assert body["last_run"]["run_id"] == latest.id and body["last_run"]["status"] == "ok"
    assert body["last_success_at"] == body["last_run"]["finished_at"]
    # a rescore that failed before the restart is reported, but the syncs decide health
    assert body["last_runs"]["rescore"]["run_id"] == rescore_id and body["last_runs"]["rescore"]["status"] == "failed"
    assert crm.value("v1", "leadsync_score") is not None


def test_a_restarted_daemon_reports_the_last_sync_it_finds_in_the_store(tmp_path: Path, clock: Clock) -> None:
    sync_id, _ = _earlier_runs(tmp_path, clock)
    daemon = _daemon(tmp_path, clock, FakeCRM(clock=clock))
    with open_store(tmp_path / "state.db") as store:
        lock = store.acquire_lock("hubspot")
        assert lock is not None
        with lock:  # another process holds the CRM: the sync at start is skipped
            daemon.start()
            try:
                wait_for(lambda: daemon.skipped["sync"] == 1, what="the skipped sync at start")
                code, body = _healthz(daemon)
            finally:
                daemon.shutdown()

    # the sync an hour ago is within twice the (yearly) schedule: healthy, and the report names that sync
    assert code == 200 and body["reason"] == "the last sync succeeded recently"
    assert body["last_run"]["run_id"] == sync_id and body["last_run"]["before_start"] is True
    assert body["last_success_at"] == body["last_run"]["finished_at"] == (T0 - timedelta(minutes=59)).isoformat()
    assert body["last_run"]["skipped"].startswith("leadsync pid")
    assert body["skipped"]["reason"] == body["last_run"]["skipped"]
