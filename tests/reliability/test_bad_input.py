"""Bad input: odd CRM records are scored or quarantined with a reason and the run goes on; broken model
files and settings stop leadsync with exit code 2, one sentence per problem naming the file and line or the
variable, and no traceback.  The corpus is ``tests/data/bad_input/`` (see its README).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox import Sandbox
from scoring import STARTER_MODEL_PATH
from sync.state import RunStatus
from tests.harnesses import CRMS
from tests.reliability.helpers import (
    DATA,
    Installation,
    Result,
    dataset_of,
    installation,
    leadsync_env,
    run_leadsync,
)

STARTER = str(STARTER_MODEL_PATH)
MODELS = sorted((DATA / "models").glob("*.yaml"))
SETTINGS = sorted((DATA / "settings").glob("*.env"))


# -- records ----------------------------------------------------------------------------------------------
def value(spec: Any) -> Any:
    """A corpus value: ``{"$repeat": text, "$bytes": n}`` is ``text`` repeated to ``n`` bytes of UTF-8."""
    if isinstance(spec, dict) and "$repeat" in spec:
        text, size = str(spec["$repeat"]), int(spec["$bytes"])
        out = text * (size // len(text.encode()) + 1)
        return out.encode()[:size].decode(errors="ignore")
    return spec


def fields(specs: dict[str, Any]) -> dict[str, Any]:
    return {name: value(spec) for name, spec in specs.items()}


def apply_hubspot(sandbox: Sandbox, contact_id: str, case: dict[str, Any]) -> None:
    sandbox.apis["hubspot"].touch(contact_id, **fields(case.get("touch", {})))  # type: ignore[attr-defined]


def apply_salesforce(sandbox: Sandbox, contact_id: str, case: dict[str, Any]) -> None:
    api: Any = sandbox.apis["salesforce"]
    if case.get("touch"):
        api.touch(contact_id, **fields(case["touch"]))
    if case.get("raw"):  # stored as is, past the field types the API enforces
        sobject, data, _ = api._get(contact_id)
        api._write_rows([(sobject, data | fields(case["raw"]))])
    if case.get("activity_raw"):
        with sandbox.store.read() as conn:
            row = conn.execute(
                "SELECT id FROM sf_record WHERE type = 'Task' AND json_extract(data, '$.WhoId') = ? LIMIT 1",
                (contact_id,),
            ).fetchone()
        if row is None:
            row = {"id": api.add_activity(contact_id, "call")}
        sobject, data, _ = api._get(row["id"])
        api._write_rows([(sobject, data | fields(case["activity_raw"]))])


def apply_pipedrive(sandbox: Sandbox, contact_id: str, case: dict[str, Any]) -> None:
    api: Any = sandbox.apis["pipedrive"]
    if case.get("touch"):
        api.touch(contact_id, **fields(case["touch"]))
    with sandbox.store.tx() as db:
        if case.get("raw"):  # custom field values stored as is, by field name (a deleted option's id, ...)
            row = db.execute("SELECT custom FROM pd_persons WHERE id = ?", (int(contact_id),)).fetchone()
            custom = json.loads(row["custom"] or "{}")
            for name, raw in fields(case["raw"]).items():
                custom[api._field_by_name(db, name)["key"]] = raw
            db.execute("UPDATE pd_persons SET custom = ? WHERE id = ?", (json.dumps(custom), int(contact_id)))
        for column, raw in fields(case.get("raw_columns", {})).items():
            db.execute(f"UPDATE pd_persons SET {column} = ? WHERE id = ?", (raw, int(contact_id)))
        if case.get("activity_raw"):
            row = db.execute("SELECT id FROM pd_activities WHERE person_id = ? LIMIT 1", (int(contact_id),)).fetchone()
            activity = row["id"] if row else None
            if activity is None:
                activity = int(api.add_activity(contact_id, "call"))
            for column, raw in case["activity_raw"].items():
                db.execute(f"UPDATE pd_activities SET {column} = ? WHERE id = ?", (raw, activity))


APPLY = {"hubspot": apply_hubspot, "salesforce": apply_salesforce, "pipedrive": apply_pipedrive}
IDENTITY = {
    "hubspot": ("firstname", "lastname", "email"),
    "salesforce": ("FirstName", "LastName", "Email"),
    "pipedrive": ("first_name", "last_name", "email"),
}


def load_corpus(inst: Installation) -> tuple[dict[str, str], set[str]]:
    """Apply every case of the CRM's corpus to a contact of its own; (case -> contact id, merged-away ids)."""
    corpus = json.loads((DATA / f"{inst.crm}.json").read_text(encoding="utf-8"))
    ids = list(inst.ids.values())
    by_case = {case["case"]: ids[i] for i, case in enumerate(corpus["cases"])}
    merged: set[str] = set()
    for case in corpus["cases"]:
        contact = by_case[case["case"]]
        if "duplicate_of" in case:
            twin = by_case[case["duplicate_of"]]
            copied = {name: inst.harness.crm_value(twin, name) for name in IDENTITY[inst.crm]}
            APPLY[inst.crm](inst.sandbox, contact, {"touch": copied})
        elif "merge_into" in case:
            merge = getattr(inst.harness, "merge", None) or inst.sandbox.apis[inst.crm].merge  # type: ignore[attr-defined]
            merge(by_case[case["merge_into"]], contact)
            merged.add(contact)
        else:
            APPLY[inst.crm](inst.sandbox, contact, case)
    return by_case, merged


@pytest.mark.parametrize("crm", CRMS)
def test_bad_records_are_scored_or_quarantined_with_a_reason_and_the_run_goes_on(crm: str, tmp_path: Path) -> None:
    with installation(crm, tmp_path, dataset_of(40)) as inst:
        by_case, merged = load_corpus(inst)
        # the corpus was written just now: what a backfill started in the same second leaves, the sync reads
        for kind in ("backfill", "sync"):
            summary = inst.app.run(kind)
            assert summary.status in (RunStatus.OK, RunStatus.PARTIAL), (kind, summary.error)
        store = inst.app.store
        scored = set(store.load_inputs(crm, list(inst.ids.values())))
        quarantined = {q.contact_id: q.reason for q in store.quarantine_list(crm)}
        assert all(reason.strip() for reason in quarantined.values())
        outcome = {
            case: "scored" if cid in scored else f"quarantined: {quarantined[cid]}" if cid in quarantined else "lost"
            for case, cid in by_case.items()
            if cid not in merged
        }
        assert "lost" not in outcome.values(), outcome
        # the good contacts around them went through as usual
        assert len(scored) >= len(inst.ids) - len(by_case)


# -- model files and settings -----------------------------------------------------------------------------
def expectations(path: Path) -> list[str]:
    """The ``# expect:`` lines at the top of a corpus file, with ``{file}`` filled in."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("# expect:"):
            break
        out.append(line.removeprefix("# expect:").strip().replace("{file}", str(path)))
    assert out, f"{path.name} says what its error must say"
    return out


def check_config_error(result: Result, path: Path, command: str) -> None:
    where = f"{path.name} with `leadsync {command}`"
    assert result.code == 2, f"{where}: exit {result.code}\n{result.output}"
    assert "Traceback" not in result.output, f"{where}\n{result.output}"
    for expected in expectations(path):
        assert expected in result.stderr, f"{where}: {expected!r} not in\n{result.stderr}"
    problems = [line for line in result.stderr.splitlines() if line.strip() and not line.endswith(":")]
    assert all(len(line) < 600 for line in problems), f"{where}: one sentence per problem\n{result.stderr}"


def run_all(commands: list[tuple[list[str], dict[str, str]]], cwd: Path) -> list[Result]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda c: run_leadsync(c[0], c[1], cwd), commands))


def test_broken_model_files_are_one_sentence_per_problem_with_file_and_line(tmp_path: Path) -> None:
    assert len(MODELS) >= 6
    env_file = tmp_path / "settings.env"
    env_file.write_text("LEADSYNC_HUBSPOT__ACCESS_TOKEN=pat-test\n", encoding="utf-8")
    commands = []
    for path in MODELS:
        # a state database each: these run side by side, and only one could hold a shared one's run lock
        env = leadsync_env(LEADSYNC_MODEL_FILE=str(path), LEADSYNC_STATE_URL=f"sqlite:///{tmp_path / path.stem}.db")
        commands.append((["model", "validate", str(path)], env))
        commands.append((["--env-file", str(env_file), "backfill"], env))  # fails before any API call
    results = run_all(commands, tmp_path)
    for i, path in enumerate(MODELS):
        check_config_error(results[2 * i], path, "model validate")
        check_config_error(results[2 * i + 1], path, "backfill")


def test_broken_settings_name_the_variable(tmp_path: Path) -> None:
    assert len(SETTINGS) >= 8
    commands = []
    for path in SETTINGS:
        # the starter model, unless the file names its own model file
        model = {} if "LEADSYNC_MODEL_FILE=" in path.read_text(encoding="utf-8") else {"LEADSYNC_MODEL_FILE": STARTER}
        commands.append((["--env-file", str(path), "check"], leadsync_env(**model)))
    results = run_all(commands, tmp_path)
    for path, result in zip(SETTINGS, results, strict=True):
        check_config_error(result, path, "check")
