"""``leadsync calibrate`` on sandbox HubSpot and Salesforce history, through the CLI as a user runs it.

A field the CRM sets because of the sale, mapped under an innocent name (``customer_since``: HubSpot's
``hs_lifecyclestage_customer_date``, Salesforce's ``ConvertedDate``) and read by a rule of the model, is refused
by the leak guard: no rule of the proposal uses it, and the report lists it first.  The report shows conversion
per segment (source, industry, region) on CRM history as it does on a CSV.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scoring import STARTER_MODEL_PATH, parse_model
from scoring.calibrate._guard import AFTER_OUTCOME, SALE_SET
from sync.calibration_job import calibration_rows
from sync.cli import cli

PLANTED = "customer_since"
CRM_NAME = {"hubspot": "hs_lifecyclestage_customer_date", "salesforce": "ConvertedDate"}


def _model_reading_the_planted_field(folder: Path) -> Path:
    text = STARTER_MODEL_PATH.read_text(encoding="utf-8")
    read = next(line + "\n" for line in text.splitlines() if line.startswith("    unsubscribed: {"))
    rule = "    - id: recent_email_open\n"
    assert read in text and rule in text
    text = text.replace(
        read, f"{read}    {PLANTED}: {{hubspot: {CRM_NAME['hubspot']}, salesforce: {CRM_NAME['salesforce']}}}\n"
    )
    planted_rule = (
        f"    - id: has_{PLANTED}\n      label: customer since is set\n"
        f"      when: {{field: {PLANTED}, exists: true}}\n      points: 1\n"
    )
    text = text.replace(rule, planted_rule + rule)
    path = folder / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _fields_used(model_text: str) -> set[str]:
    model = parse_model(model_text)
    return {name for _, rule in model.iter_rules() if getattr(rule, "when", None) for name in rule.when.fields_used()}


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_field_set_by_the_sale_is_refused_and_segments_are_reported(
    crm: str, make_stack: Any, tmp_path: Path
) -> None:
    model_file = _model_reading_the_planted_field(tmp_path)
    stack = make_stack(crm, contacts=500, model_file=model_file)
    rows = calibration_rows(stack.app())
    won = [r for r in rows if r.won]
    # The CRM fills the planted field on every won contact: a model that reads it reads the outcome.
    assert len(won) >= 15 and len(rows) - len(won) >= 15
    assert all(r.contact.get(PLANTED) for r in won)

    out = tmp_path / "out"
    args = ["--env-file", str(stack.env_file), "calibrate", "--out-model", str(out / "proposed.yaml")]
    args += ["--html", str(out / "report.html"), "--json-out", str(out / "report.json"), "--force"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    left_out = {item["field"]: item for item in report["proposal"]["leak"]["left_out"]}
    # HubSpot fills it on won contacts only; Salesforce on every converted lead, dated at the outcome.
    assert left_out[PLANTED]["check"] == AFTER_OUTCOME and not left_out[PLANTED]["insisted"]
    assert ("filled in by the outcome" if crm == "hubspot" else "the outcome's day or later") in left_out[PLANTED][
        "reason"
    ]
    proposed = (out / "proposed.yaml").read_text(encoding="utf-8")
    assert PLANTED not in _fields_used(proposed) and f"has_{PLANTED}" not in proposed
    assert report["proposal"]["holdout_auc_proposed"] < 0.95  # an outcome-field model would rank perfectly
    summary = result.output
    assert summary.startswith("Left out of the proposal by the leak guard")
    assert f"  {PLANTED}: " in summary.split("Read ")[0]  # listed in the first section
    if crm == "hubspot":  # HubSpot's own outcome field, read with every contact, is on the list of sale-set fields
        assert left_out[CRM_NAME["hubspot"]]["check"] == SALE_SET

    kinds = {segment["kind"]: segment for segment in report["segments"]}
    assert {"source", "industry", "region"} <= set(kinds)
    source = kinds["source"]
    assert source["field"] == "lead_source"
    assert sum(level["contacts"] for level in source["levels"]) == len(rows)
    assert sum(level["won"] for level in source["levels"]) == len(won)
    assert "Conversion by lead_source:" in summary and "Conversion by industry:" in summary
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "lead_source" in html and "industry" in html


def test_a_first_calibration_needs_no_write_back_fields_and_never_uses_them(make_stack: Any, tmp_path: Path) -> None:
    # A new Salesforce install calibrates before ``check --create-fields``: its SOQL once named the missing
    # Leadsync_Score__c and failed with INVALID_FIELD.  After a backfill, the stored inputs carry leadsync's own
    # score fields, which are the model's output and never a candidate.
    fresh = make_stack("salesforce", contacts=300, fields=False)
    out = tmp_path / "out"
    args = ["--env-file", str(fresh.env_file), "calibrate", "--json-out", str(out / "first.json"), "--force"]
    args += ["--out-model", str(out / "first.yaml")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "INVALID_FIELD" not in result.output

    scored = make_stack("hubspot", contacts=300)
    app = scored.app()
    assert app.run("backfill", progress=False).counts["written"] > 0
    own = set(app.planner().read_fields)
    assert "leadsync_score" in own
    rows = calibration_rows(app)
    assert rows and not any(own.intersection(row.contact.fields) for row in rows)
