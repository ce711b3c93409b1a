"""The model's own fields on the real stack, per CRM: a rule on a custom field scores live, and ``check`` names
a misspelled or missing model field with a did-you-mean (or says how to fix it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.records import FieldSpec
from connectors.sandbox.salesforce import SalesforceApi
from scoring import STARTER_MODEL_PATH, load_model
from sync.app import ConfigError, parse_blocks
from sync.policies import field_name, read_names
from tests.harnesses import CRMS, NOW, api_of, create_salesforce_fields
from tests.sync.conftest import Stack
from tests.sync.test_cli import invoke

per_crm = pytest.mark.parametrize("crm", CRMS)

# The CRM's own name for the "department" custom field each test creates (its label is "Department").
DEPARTMENT = {"hubspot": "department", "salesforce": "Department__c", "pipedrive": "Department"}
DEPT_POINTS = 40


def model_with(tmp_path: Path, rule_field: str, read: dict[str, Any] | None = None, name: str = "model.yaml") -> Path:
    """The starter model plus one fit rule on ``rule_field`` (and a ``fields.read`` block when given)."""
    model = yaml.safe_load(STARTER_MODEL_PATH.read_text(encoding="utf-8"))
    rule = {"id": "it_department", "label": "IT department", "when": {"field": rule_field, "equals": "IT"}}
    model["fit"]["rules"].append({**rule, "points": DEPT_POINTS})
    if read is not None:
        model.setdefault("fields", {})["read"] = read
    path = tmp_path / name
    path.write_text(yaml.safe_dump(model, sort_keys=False), encoding="utf-8")
    return path


def create_department_field(stack: Stack) -> None:
    """Create the custom field in the sandbox, as the CRM's admin would."""
    spec = FieldSpec(DEPARTMENT[stack.crm], "Department", "string", "the contact's department")
    if stack.crm == "salesforce":
        sobject = stack.app().settings.salesforce.object
        create_salesforce_fields(api_of(stack.sandbox, SalesforceApi), [spec], objects=(sobject,))
    else:
        assert stack.harness.adapter().check_fields([spec], create=True).missing == ()


@per_crm
def test_rule_on_a_custom_field_changes_the_live_score(crm: str, make_stack: Any, tmp_path: Path) -> None:
    # the model calls it "department"; each CRM has its own name for it, given in fields.read
    model_file = model_with(tmp_path, "department", read={"department": dict(DEPARTMENT)})
    stack = make_stack(crm, contacts=12, model_file=model_file)
    create_department_field(stack)
    in_it, elsewhere = sorted(stack.ids.values())[:2]
    stack.harness.touch(in_it, **{DEPARTMENT[crm]: "IT"})
    stack.harness.touch(elsewhere, **{DEPARTMENT[crm]: "Finance"})

    app = stack.app()
    summary = app.run("backfill")
    assert summary.exit_code == 0

    scored = {cid: app.score_one(cid, now=NOW)["result"] for cid in (in_it, elsewhere)}
    rules = {cid: {r["rule"]: r["points"] for r in result["reasons"]} for cid, result in scored.items()}
    assert rules[in_it].get("it_department") == DEPT_POINTS, rules[in_it]
    assert "it_department" not in rules[elsewhere]
    # what the sync wrote is that score, rule included
    score_field = field_name(app.fields_config, "score", crm)
    reason_field = field_name(app.fields_config, "reason", crm)
    assert float(stack.harness.crm_value(in_it, score_field)) == scored[in_it]["total"]
    assert "IT department" in str(stack.harness.crm_value(in_it, reason_field))


@per_crm
def test_check_names_a_misspelled_model_field(crm: str, make_stack: Any, tmp_path: Path) -> None:
    misspelt = {"hubspot": "departmnet", "salesforce": "Departmnet__c", "pipedrive": "Departmnet"}[crm]
    model_file = model_with(tmp_path, misspelt)
    stack = make_stack(crm, contacts=5, model_file=model_file)
    create_department_field(stack)

    result = invoke("check", "--json", env_file=stack.env_file)

    report = json.loads(result.stdout)
    found = [line for line in report["lines"] if f"'{misspelt}'" in line]
    assert len(found) == 1, report["lines"]
    rule_line = next(i for i, text in enumerate(model_file.read_text().splitlines(), 1) if misspelt in text)
    assert found[0].startswith(f"{model_file}:{rule_line}: it_department reads '{misspelt}'")
    assert found[0].endswith(f"did you mean '{DEPARTMENT[crm]}'?")


@per_crm
def test_check_reports_a_proposals_fields_the_crm_lacks(crm: str, make_stack: Any, tmp_path: Path) -> None:
    """A proposal whose rules are named after CSV columns: each column the CRM lacks is one sentence."""
    stack = make_stack(crm, contacts=5)
    proposal = model_with(tmp_path, "Budget Range (USD)", name="proposal.yaml")

    result = invoke("check", "--json", "--model", str(proposal), env_file=stack.env_file)

    lines = json.loads(result.stdout)["lines"]
    found = [line for line in lines if "'Budget Range (USD)'" in line]
    assert len(found) == 1, lines
    assert found[0].startswith(f"{proposal}:") and "does not have" in found[0]
    assert "fields.read" in found[0] or "did you mean" in found[0]


def test_fields_read_maps_model_names_per_crm_and_refuses_bad_entries(tmp_path: Path) -> None:
    read = {"department": {"salesforce": "Department__c"}, "budget": "Budget__c"}
    good = model_with(tmp_path, "department", read=read)
    model = load_model(good)
    _, fields = parse_blocks(model, str(good))
    assert read_names(fields, "salesforce", ["department", "title"]) == {
        "department": "Department__c",
        "title": "title",
        "budget": "Budget__c",
    }
    assert read_names(fields, "hubspot", ["department"]) == {"department": "department", "budget": "Budget__c"}

    bad = model_with(tmp_path, "department", read={"department": {"hubspt": "dept"}}, name="bad.yaml")
    with pytest.raises(ConfigError) as caught:
        parse_blocks(load_model(bad), str(bad))
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "hubspt" in text)
    assert str(caught.value) == f"{bad}:{line} fields.read.department.hubspt: unknown key"


def test_check_warns_of_a_lifecycle_value_the_salesforce_picklist_lacks(make_stack: Any, tmp_path: Path) -> None:
    """A default org's Lead Status has no "Qualified": a model that writes it hears so from `check`."""
    model = yaml.safe_load(STARTER_MODEL_PATH.read_text(encoding="utf-8"))
    stages = {"lead": "Open - Not Contacted", "mql": "Working - Contacted", "sql": "Qualified"}
    model["policies"] = {"lifecycle": {"stages": {"salesforce": stages}}}
    model_file = tmp_path / "model.yaml"
    model_file.write_text(yaml.safe_dump(model, sort_keys=False), encoding="utf-8")
    stack = make_stack("salesforce", contacts=5, model_file=model_file)

    lines = json.loads(invoke("check", "--json", env_file=stack.env_file).stdout)["lines"]

    found = [line for line in lines if "policies.lifecycle.stages" in line]
    assert len(found) == 1, lines
    assert found[0].startswith("policies.lifecycle.stages.salesforce.sql: 'Qualified' is not a value of")
    assert "'Status'" in found[0] and "Closed - Not Converted" in found[0]


@per_crm
def test_starter_model_checks_clean_on_every_crm(crm: str, make_stack: Any) -> None:
    """The starter's HubSpot rollups are mapped to false elsewhere, its opt-out to each CRM's own field."""
    stack = make_stack(crm, contacts=5)

    lines = json.loads(invoke("check", "--json", env_file=stack.env_file).stdout)["lines"]

    assert [line for line in lines if "does not have" in line or "policies.lifecycle" in line] == [], lines
    assert any(line.startswith("Model fields: all ") for line in lines), lines
