"""The ``leadsync`` command line through click's CliRunner, against the sandbox: output, files, exit codes.

Exit codes (README): 0 ok, 1 some records quarantined or a run failed, 2 configuration, 3 authentication
or quota.  The runs use the real adapter wiring from the ``.env`` (no test factory); ``LEADSYNC_TEST_NOW``
pins the clock of every command.  Salesforce makes the cheapest sandbox for the run commands: its adapter
paces nothing.
"""

from __future__ import annotations

import csv
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from scoring import STARTER_MODEL_PATH, load_model, score
from sync.cli import _register_optional_commands, cli
from sync.csvsafe import plain_cell
from sync.policies import same_value
from sync.testhooks import TEST_NOW_ENV
from tests.harnesses import CRMS, NOW
from tests.sync.conftest import Stack

_register_optional_commands()


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_NOW_ENV, NOW.isoformat())


def invoke(*args: str, env_file: Path | None = None) -> Result:
    head = ["--env-file", str(env_file)] if env_file is not None else []
    return CliRunner().invoke(cli, [*head, *args], catch_exceptions=False)


def env_with(stack: Stack, name: str, **settings: str) -> Path:
    """A copy of the stack's ``.env`` with some LEADSYNC_ variables replaced or added."""
    lines = stack.env_file.read_text(encoding="utf-8").splitlines()
    keys = {f"LEADSYNC_{key.upper()}": value for key, value in settings.items()}
    kept = [line for line in lines if line.split("=", 1)[0] not in keys]
    path = stack.workdir / name
    path.write_text("\n".join([*kept, *(f"{k}={v}" for k, v in keys.items())]) + "\n", encoding="utf-8")
    return path


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))


@pytest.fixture
def salesforce(make_stack: Any) -> Stack:
    stack: Stack = make_stack("salesforce", contacts=60)
    return stack


# -- help, init, model validate ---------------------------------------------------------------------------------
def test_every_command_has_help() -> None:
    paths = [path for path, _ in commands(cli)]
    assert {("backfill",), ("sync",), ("score",), ("check",), ("init",), ("model", "validate")} <= set(paths)
    for path, command in commands(cli):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: cli {' '.join(path)}"), path
        assert command.get_short_help_str().strip(), f"{' '.join(path)} has no help text"
    assert invoke("--help").exit_code == 0


def test_init_writes_a_private_env_and_the_starter_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("init", env_file=Path(".env"))

    assert result.exit_code == 0, result.output
    assert "Wrote .env, scoring.yaml" in result.output
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert "LEADSYNC_HUBSPOT__ACCESS_TOKEN=" in (tmp_path / ".env").read_text(encoding="utf-8")
    assert (tmp_path / "scoring.yaml").read_bytes() == STARTER_MODEL_PATH.read_bytes()
    assert invoke("model", "validate", "scoring.yaml").exit_code == 0

    (tmp_path / "scoring.yaml").write_text("name: mine\n", encoding="utf-8")
    again = invoke("init", env_file=Path(".env"))
    assert again.exit_code == 0 and "left alone" in again.output
    assert (tmp_path / "scoring.yaml").read_text(encoding="utf-8") == "name: mine\n"
    assert invoke("init", "--force", env_file=Path(".env")).exit_code == 0
    assert (tmp_path / "scoring.yaml").read_bytes() == STARTER_MODEL_PATH.read_bytes()


def broken(tmp_path: Path, old: str, new: str, extra: str = "") -> Path:
    text = STARTER_MODEL_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1) + extra, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "extra", "needle", "where"),
    [
        ("      points: 25\n", "      points: lots\n", "", "points: lots", "engagement.rules[4].points"),
        ("stages: {mql: 40, sql: 75}", "stages: {mql: 80, sql: 75}", "", "stages: {mql: 80", "stages"),
        ("", "", "\npolicies:\n  owners:\n    strategy: round_robbin\n", "round_robbin", "policies.owners.strategy"),
        ("\nfields:\n", "\nfields:\n  scroe: {mode: always}\n", "", "scroe", "fields.scroe"),
    ],
)
def test_model_validate_names_the_file_and_line_of_each_problem(
    tmp_path: Path, old: str, new: str, extra: str, needle: str, where: str
) -> None:
    path = broken(tmp_path, old or "\n", new or "\n", extra)
    result = invoke("model", "validate", str(path))

    assert result.exit_code == 2, result.output
    assert f"{path}:{line_of(path, needle)} {where}" in result.stderr, result.stderr
    assert "1 problem found" in result.stderr


# -- runs against the sandbox ------------------------------------------------------------------------------------
def test_dry_run_backfill_then_backfill_then_sync(salesforce: Stack) -> None:
    env = salesforce.env_file
    before = salesforce.snapshot()
    dry = invoke("backfill", "--dry-run", env_file=env)

    assert dry.exit_code == 0, dry.output
    assert salesforce.writes_since(before) == {}
    summary = re.search(r"read (\d+), scored (\d+), changed (\d+), would change (\d+)", dry.output)
    assert summary and summary.group(1) == summary.group(2) == "60", dry.output
    assert "Planned changes (first rows)" in dry.output and "score changes: " in dry.output
    plan = Path(re.search(r"Full plan: (\S+)", dry.output).group(1))  # type: ignore[union-attr]
    with plan.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len({r["contact_id"] for r in rows}) == int(summary.group(3)) > 0

    real = invoke("backfill", env_file=env)
    assert real.exit_code == 0, real.output
    assert f"wrote {summary.group(3)}," in real.output
    for row in rows:
        stored = salesforce.harness.crm_value(row["contact_id"], row["field"])
        assert same_value(stored, plain_cell(row["new"])), (row, stored)

    again = invoke("sync", env_file=env)
    assert again.exit_code == 0, again.output
    assert ", wrote 0," in again.output


def test_score_explain_json(salesforce: Stack) -> None:
    cid = sorted(salesforce.ids.values())[3]
    result = invoke("score", cid, "--explain", "--json", env_file=salesforce.env_file)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    app = salesforce.app()
    contact = app.adapter.get_contacts([cid])[0]
    expected = score(load_model(STARTER_MODEL_PATH), contact, list(app.adapter.read_activities([cid])[cid]), NOW)
    assert report["contact_id"] == cid
    assert (report["result"]["total"], report["result"]["grade"]) == (expected.total, expected.grade)
    assert [r["rule"] for r in report["result"]["reasons"]] == [r.rule for r in expected.reasons]
    assert {c["field"] for c in report["changes"]} >= {"Leadsync_Score__c", "Leadsync_ScoredAt__c"}
    assert report["result"]["segments"] == list(expected.segments)
    assert [(s["name"], s["matched"]) for s in report["segments"]] == [
        (name, name in expected.segments) for name in ("nurture", "hot_not_contacted")
    ]

    text = invoke("score", cid, "--explain", env_file=salesforce.env_file)
    assert text.exit_code == 0 and f"{cid}: score {expected.total}" in text.output
    assert "would write:" in text.output
    assert f"segments: {', '.join(expected.segments) or 'none'}" in text.output
    for s in report["segments"]:  # each segment with the tests that decided it
        assert f"{'in' if s['matched'] else 'not in':>6}  {s['name']}: {s['why']}" in text.output


@pytest.mark.parametrize("crm", CRMS)
def test_check_json(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm, contacts=10)
    result = invoke("check", "--json", env_file=stack.env_file)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["exit_code"] == 0
    assert any(line.startswith(f"Connected to {crm}:") for line in report["lines"])


def test_check_reports_missing_salesforce_fields_with_exit_1(make_stack: Any) -> None:
    stack = make_stack("salesforce", contacts=5, fields=False)
    result = invoke("check", "--json", env_file=stack.env_file)

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["exit_code"] == 1
    assert any("Fields missing: Leadsync_Score__c" in line for line in report["lines"])
    assert any("Setup > Object Manager" in line for line in report["lines"]), "it says what to do"


# -- exit codes --------------------------------------------------------------------------------------------------
def test_exit_1_when_records_are_quarantined(salesforce: Stack) -> None:
    failing = sorted(salesforce.ids.values())[10]
    salesforce.sandbox.faults.configure(fail_records=[failing])
    result = invoke("backfill", env_file=salesforce.env_file)

    assert result.exit_code == 1, result.output
    assert "partial" in result.output and "quarantined 1" in result.output

    salesforce.sandbox.faults.clear()
    assert invoke("sync", env_file=salesforce.env_file).exit_code == 0


def test_exit_2_on_configuration_errors(salesforce: Stack, tmp_path: Path) -> None:
    typo = env_with(salesforce, "typo.env", salesforce__sesion_id="x")
    result = invoke("sync", env_file=typo)
    assert result.exit_code == 2
    assert "LEADSYNC_SALESFORCE__SESION_ID" in result.stderr and "Did you mean" in result.stderr

    bad_model = broken(tmp_path, "      points: 25\n", "      points: lots\n")
    result = invoke("sync", env_file=env_with(salesforce, "model.env", model_file=str(bad_model)))
    assert result.exit_code == 2
    assert f"{bad_model}:{line_of(bad_model, 'points: lots')}" in result.stderr

    bad_policy = broken(tmp_path, "\n", "\n", "\npolicies:\n  owners:\n    strategy: round_robbin\n")
    before = salesforce.snapshot()
    result = invoke("sync", env_file=env_with(salesforce, "policy.env", model_file=str(bad_policy)))
    assert result.exit_code == 2 and f"{bad_policy}:{line_of(bad_policy, 'round_robbin')}" in result.stderr
    assert salesforce.sandbox.counters.delta(before) == {}, "a bad model file fails before any API call"


def test_exit_3_on_a_bad_token(salesforce: Stack) -> None:
    result = invoke("sync", env_file=env_with(salesforce, "bad.env", salesforce__session_id="00D!not-a-session"))

    assert result.exit_code == 3, result.output
    assert "00D!not-a-session" not in result.output, "secrets never reach the terminal"


def test_exit_3_when_the_salesforce_daily_limit_is_spent(salesforce: Stack) -> None:
    assert invoke("backfill", env_file=salesforce.env_file).exit_code == 0
    api = salesforce.sandbox.apis["salesforce"]
    salesforce.sandbox.config.limits["salesforce"] = {"daily_api_requests": api.api_usage()}  # type: ignore[attr-defined]

    result = invoke("sync", env_file=salesforce.env_file)

    assert result.exit_code == 3, result.output
    assert "REQUEST_LIMIT_EXCEEDED" in result.output or "quota" in result.output.lower(), result.output
