"""Operator mistakes and hostile CRM values through the real command line: each ends in bounded time with the
documented exit code, a one-sentence message, and no secret (token, password) in any output.

Cases: formula cells in the dry-run plan CSV; an unreachable PostgreSQL state database (``check``, ``backfill``,
``runs``); an unreachable CRM and a CRM URL without a scheme; ``score --explain``/``--json`` evidence; a missing
contact id; Ctrl-C (once, twice) during a backfill in a subprocess; reverting a run twice; and the modes of the
files leadsync creates under a 022 umask.  Exit codes (README): 0 ok, 1 a run failed or a contact is not found,
2 configuration, 3 authentication or quota, 130 interrupted.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import stat
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from connectors.records import FieldUpdate
from connectors.sandbox import run_subprocess
from scoring import STARTER_MODEL_PATH
from sync.cli import _register_optional_commands, cli
from sync.csvsafe import FORMULA_STARTS
from sync.state import RunKind, RunStatus, open_store
from sync.testhooks import TEST_NOW_ENV
from tests.harnesses import wait_for
from tests.reliability.helpers import (
    NOW,
    Installation,
    dataset_of,
    installation,
    leadsync_env,
    popen_leadsync,
    recorded,
    run_leadsync,
    seed_sandbox_db,
    subprocess_env,
)

_register_optional_commands()

PASSWORD = "hunter2-Pa55word"
CASE_SECONDS = 60  # every case ends well within this (retries against a closed port included)
HOSTILE = "=cmd|' /C calc'!A0"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_NOW_ENV, NOW.isoformat())


@pytest.fixture
def salesforce(workdir: Path) -> Iterator[Installation]:
    with installation("salesforce", workdir, dataset_of(30)) as inst:
        yield inst


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def secrets_of(env_file: Path) -> list[str]:
    """The secret values in a ``.env`` (tokens, passwords, keys), to search every output for."""
    found = [PASSWORD]
    for line in env_file.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if value and re.search(r"TOKEN|PASSWORD|SECRET|SESSION_ID", name):
            found.append(value)
    return found


def invoke(env_file: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Result, float]:
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--env-file", str(env_file), *args], env=env, catch_exceptions=False)
    return result, time.monotonic() - started


def assert_clean(output: str, secrets: list[str]) -> None:
    assert "Traceback" not in output, output
    assert "KeyboardInterrupt" not in output, output
    for secret in secrets:
        assert secret not in output, f"a secret reached the output:\n{output}"


def one_sentence(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one sentence, got:\n{text}"
    return lines[0]


# -- CSV cells a spreadsheet would run ---------------------------------------------------------------------------
def test_the_dry_run_plan_neutralises_formula_cells_and_is_private(
    salesforce: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a hostile value in a field leadsync writes, changed before the run's "now" so the backfill reads it
    salesforce.sandbox.clock.set(NOW - timedelta(hours=1))
    hostile = [FieldUpdate(cid, {"Leadsync_Grade__c": HOSTILE}) for cid in sorted(salesforce.ids.values())[:5]]
    assert all(r.ok for r in salesforce.app.adapter.write(hostile))
    env_file = salesforce.workdir / "salesforce.env"
    previous = os.umask(0o022)
    try:
        result, took = invoke(env_file, "backfill", "--dry-run")
    finally:
        os.umask(previous)

    assert result.exit_code == 0, result.output
    assert took < CASE_SECONDS
    plan = Path(re.search(r"Full plan: (\S+)", result.output).group(1))  # type: ignore[union-attr]
    assert stat.S_IMODE(plan.stat().st_mode) == 0o600
    assert stat.S_IMODE(plan.parent.stat().st_mode) == 0o700
    with plan.open(encoding="utf-8", newline="") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)], "a cell a spreadsheet would evaluate"
    assert "'" + HOSTILE in cells, "the CRM's hostile value is kept, neutralised"
    assert any(cell.startswith("'-10 ") for cell in cells), "leadsync's own negative reasons are neutralised"
    assert_clean(result.output, secrets_of(env_file))


# -- the state database ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["check"], ["backfill"], ["runs"]])
def test_an_unreachable_postgresql_state_database_is_one_sentence_naming_the_setting(
    salesforce: Installation, command: list[str]
) -> None:
    url = f"postgresql://leadsync:{PASSWORD}@127.0.0.1:{closed_port()}/leads"
    env_file = salesforce.workdir / "salesforce.env"
    result, took = invoke(env_file, *command, env={"LEADSYNC_STATE_URL": url})

    assert result.exit_code == 2, result.output
    assert took < CASE_SECONDS
    assert_clean(result.output, secrets_of(env_file))
    assert "psycopg" not in result.output
    sentence = (
        next(line for line in result.output.splitlines() if "state database" in line and "Cannot" in line)
        if command == ["check"]
        else one_sentence(result.stderr)
    )
    assert "LEADSYNC_STATE_URL" in sentence and "postgresql://leadsync:***@127.0.0.1" in sentence, sentence
    if command == ["check"]:
        assert "Settings: ok" in result.output and "leadsync:***@127.0.0.1" in result.output


def test_check_opens_the_state_database(salesforce: Installation, workdir: Path) -> None:
    state = workdir / "fresh" / "state.db"
    result, _ = invoke(salesforce.workdir / "salesforce.env", "check", env={"LEADSYNC_STATE_URL": f"sqlite:///{state}"})

    assert result.exit_code == 0, result.output
    assert re.search(r"State database sqlite:///\S+: ok \(schema version \d+\)", result.output), result.output
    assert state.exists()


# -- CRM URLs ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("crm", "variable", "command"),
    [
        ("hubspot", "LEADSYNC_HUBSPOT__BASE_URL", "check"),
        ("hubspot", "LEADSYNC_HUBSPOT__BASE_URL", "sync"),
        ("pipedrive", "LEADSYNC_PIPEDRIVE__BASE_URL", "score"),
    ],
)
def test_an_unreachable_crm_is_one_sentence_naming_its_url_setting(
    crm: str, variable: str, command: str, workdir: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    token = "pat-na1-" + "7" * 24
    env_file = workdir / f"{crm}.env"
    env_file.write_text(
        f"LEADSYNC_CRM={crm}\n{variable}={url}\nLEADSYNC_{crm.upper()}__"
        f"{'ACCESS' if crm == 'hubspot' else 'API'}_TOKEN={token}\n"
        f"LEADSYNC_STATE_URL=sqlite:///{workdir / 'state.db'}\nLEADSYNC_MODEL_FILE={STARTER_MODEL_PATH}\n",
        encoding="utf-8",
    )
    args = [command, "12345"] if command == "score" else [command]
    started = time.monotonic()
    result = run_leadsync(["--env-file", str(env_file), *args], leadsync_env(), workdir, timeout=CASE_SECONDS)
    took = time.monotonic() - started

    assert result.code == 1, result.output
    assert took < CASE_SECONDS
    assert_clean(result.output, [token])
    assert "MaxRetryError" not in result.output and "HTTPConnectionPool" not in result.output
    sentence = next(line for line in result.output.splitlines() if line.startswith("Cannot reach"))
    assert variable in sentence and url in sentence and "connection refused" in sentence, sentence
    if command == "sync":
        with open_store(workdir / "state.db") as store:
            assert store.list_runs(crm)[0].error == sentence, "the run's record says the same"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADSYNC_HUBSPOT__BASE_URL", "api.hubapi.com"),
        ("LEADSYNC_PIPEDRIVE__BASE_URL", "yourcompany.pipedrive.com"),
        ("LEADSYNC_SALESFORCE__LOGIN_URL", "login.salesforce.com/"),
        ("LEADSYNC_HUBSPOT__BASE_URL", "http://127.0.0.1:notaport"),
    ],
)
def test_a_crm_url_without_a_scheme_is_refused_when_settings_load(variable: str, value: str, workdir: Path) -> None:
    env_file = workdir / "no-scheme.env"
    env_file.write_text(f"{variable}={value}\nLEADSYNC_HUBSPOT__ACCESS_TOKEN=pat-secret-123456\n", encoding="utf-8")
    result, took = invoke(env_file, "check")

    assert result.exit_code == 2, result.output
    assert took < CASE_SECONDS
    assert "FutureWarning" not in result.output and "_request_methods" not in result.output
    problem = next(line for line in result.stderr.splitlines() if line.startswith(variable))
    assert "must be a full URL starting with https://" in problem, problem
    assert_clean(result.output, ["pat-secret-123456"])


# -- score -------------------------------------------------------------------------------------------------------
def test_score_explain_is_readable_and_json_evidence_is_structured(salesforce: Installation) -> None:
    env_file = salesforce.workdir / "salesforce.env"
    app = salesforce.app
    activities = app.adapter.read_activities(sorted(salesforce.ids.values()))
    cid = max(activities, key=lambda c: len(activities[c]))

    text, took = invoke(env_file, "score", cid, "--explain")
    assert text.exit_code == 0, text.output
    assert took < CASE_SECONDS
    assert "Evidence(" not in text.output and "datetime.datetime" not in text.output
    assert not re.search(r"[+-]\d+\.\d{2,}", text.output), "points are rounded for reading"
    assert re.search(r"\d{4}-\d\d-\d\d", text.output), "evidence says when"

    data, _ = invoke(env_file, "score", cid, "--json")
    assert data.exit_code == 0, data.output
    reasons = json.loads(data.stdout)["result"]["reasons"]
    evidence = [e for r in reasons for e in r["evidence"]]
    assert evidence, "the contact with the most activities has some evidence"
    for item in evidence:
        assert isinstance(item, dict)
        if "activity_id" in item:
            assert item["type"] and datetime.fromisoformat(item["occurred_at"]).tzinfo is not None
            assert item["points"] == round(item["points"], 2)
        else:
            assert set(item) == {"field", "value"}
    assert_clean(text.output + data.output, secrets_of(env_file))


def test_a_missing_contact_is_not_found_exit_1(salesforce: Installation) -> None:
    result, took = invoke(salesforce.workdir / "salesforce.env", "score", "00QNOSUCHID0000AAA")

    assert result.exit_code == 1, result.output
    assert took < CASE_SECONDS
    sentence = one_sentence(result.stderr)
    assert "No contact with id '00QNOSUCHID0000AAA'" in sentence and "Configuration" not in sentence


# -- revert ------------------------------------------------------------------------------------------------------
def test_reverting_a_run_twice_is_refused_unless_forced(salesforce: Installation) -> None:
    env_file = salesforce.workdir / "salesforce.env"
    assert invoke(env_file, "backfill", "--limit", "5")[0].exit_code == 0
    assert invoke(env_file, "revert", "1")[0].exit_code == 0
    assert invoke(env_file, "sync")[0].exit_code == 0  # writes the reverted contacts' values again

    before = salesforce.sandbox.counters.snapshot()
    dry, _ = invoke(env_file, "revert", "1", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would restore (nothing written)" in dry.output and "Leadsync_Score__c" in dry.output
    refused, took = invoke(env_file, "revert", "1")
    assert refused.exit_code == 2, refused.output
    assert took < CASE_SECONDS
    sentence = one_sentence(refused.stderr)
    assert "already reverted by run 2" in sentence and "--force" in sentence, sentence
    assert re.search(r"would restore [1-9]\d* field\(s\)", sentence), sentence
    writes = {k: v for k, v in salesforce.sandbox.counters.delta(before).items() if "query" not in k}
    assert not any(k for k in writes if "composite" in k or "sobjects" in k), writes

    forced, _ = invoke(env_file, "revert", "1", "--force")
    assert forced.exit_code == 0, forced.output
    assert_clean(dry.output + refused.output + forced.output, secrets_of(env_file))


# -- Ctrl-C ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_a_backfill_exits_130_with_a_readable_status(presses: int, tmp_path: Path) -> None:
    crm, contacts, batch = "salesforce", 800, 50
    seed_sandbox_db(tmp_path / "seeded.db", crm, contacts, tmp_path / "seeding")
    state_db = tmp_path / "run" / f"{crm}-state.db"
    with run_subprocess(db_path=str(tmp_path / "seeded.db"), crm=crm, contacts=0, rate_limits=False) as proc:
        env_file, env = subprocess_env(proc, crm, tmp_path / "run", batch)
        leadsync = popen_leadsync(["--env-file", str(env_file), "backfill"], env, tmp_path)
        try:
            wait_for(lambda: recorded(state_db, crm) >= batch, timeout=CASE_SECONDS, what="a recorded batch")
            for _ in range(presses):
                leadsync.send_signal(signal.SIGINT)
                time.sleep(0.01)
            out, err = leadsync.communicate(timeout=CASE_SECONDS)
        finally:
            if leadsync.poll() is None:
                leadsync.kill()
    assert leadsync.returncode == 130, out + err
    assert_clean(out + err, secrets_of(env_file))
    with open_store(state_db) as store:
        run = store.list_runs(crm, kind=RunKind.BACKFILL)[0]
    assert run.status is RunStatus.INTERRUPTED
    assert run.error and "KeyboardInterrupt" not in run.error and run.error[0].isalpha(), run.error
    assert recorded(state_db, crm) < contacts, "stopped before the end"
    if presses == 1:
        assert "interrupted" in out and "stopped on request" in err + out
