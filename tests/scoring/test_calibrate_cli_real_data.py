"""``leadsync calibrate --csv`` on the X Education leads (``../shared/data/leads_train.csv``, never copied here) as
a new user runs it: nothing excluded by hand, through the command line.

The leak guard names Tags and Lead Quality with their single-column AUCs (0.92 and about 0.80, where no
legitimate column passes 0.71) first in the summary and the report, lists the latest-state columns as
suspects, never uses Lead Number, and the report shows conversion per source and region.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bench.calibration import DEFAULT_DATA
from scoring import STARTER_MODEL_PATH, parse_model
from sync.cli import cli

pytestmark = pytest.mark.skipif(not DEFAULT_DATA.exists(), reason=f"real lead data not found at {DEFAULT_DATA}")

SUSPECTS = ("Last Activity", "Last Notable Activity", "Lead Profile")


def calibrate(tmp_path: Path, *args: str) -> Result:
    head = ["--env-file", str(tmp_path / "none.env"), "calibrate", "--csv", str(DEFAULT_DATA)]
    return CliRunner().invoke(cli, [*head, "--model", str(STARTER_MODEL_PATH), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, dict[str, Any], str, str]:
    out = tmp_path_factory.mktemp("x_education")
    files = ["--out-model", str(out / "proposed.yaml"), "--html", str(out / "report.html")]
    result = calibrate(
        out, *files, "--json-out", str(out / "report.json"), "--keep-unmatched", "--leads-per-week", "120"
    )
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return result, report, (out / "proposed.yaml").read_text(encoding="utf-8"), (out / "report.html").read_text()


def test_the_guard_names_the_leaks_with_their_auc_first(run: tuple[Result, dict[str, Any], str, str]) -> None:
    result, report, _, _ = run
    assert result.exit_code == 0, result.output
    first_section = result.output.split("\nRead 6,520 contacts")[0].splitlines()
    assert first_section[0].startswith("Left out of the proposal by the leak guard")
    lines = {line.strip().split(":")[0]: line for line in first_section[1:]}
    assert re.search(r"too good to be true: .*\(single-column AUC 0\.9[12]\)$", lines["Tags"])
    assert re.search(r"too good to be true: .*\(single-column AUC 0\.(79|80|81)\)$", lines["Lead Quality"])
    for suspect in SUSPECTS:
        assert "latest state: the name says" in lines[suspect], suspect
    assert "identifier" in lines["Lead Number"] and "identifier" in lines["Prospect ID"]

    leak = report["proposal"]["leak"]
    left_out = {item["field"] for item in leak["left_out"]}
    legitimate = {name: auc for name, auc in leak["column_auc"].items() if name not in left_out}
    assert "Total Time Spent on Website" in legitimate and max(legitimate.values()) < 0.71
    assert leak["column_auc"]["Tags"] > 0.9 and leak["column_auc"]["Lead Quality"] > 0.75


def test_no_rule_uses_a_leak_or_the_lead_number(run: tuple[Result, dict[str, Any], str, str]) -> None:
    _, report, proposed, html = run
    model = parse_model(proposed)
    used = {n for _, rule in model.iter_rules() if getattr(rule, "when", None) for n in rule.when.fields_used()}
    assert used and not used & {"Tags", "Lead Quality", "Lead Number", "Prospect ID", *SUSPECTS}
    assert "Lead Number" not in proposed.split("\nname:")[1]  # the header may say where it came from; rules never
    assert all(float(rule.points).is_integer() for _, rule in model.iter_rules())
    assert 0.84 <= report["proposal"]["holdout_auc_proposed"] < 0.9  # honest: a leaking column would give 0.9+
    headings = re.findall(r"<h2>([^<]*)</h2>", html)
    assert headings[0] == "Fields left out of the proposal" and "Conversion per segment" in headings
    leak_section = html.split("<h2>Summary</h2>")[0]
    assert "Tags" in leak_section and "Lead Quality" in leak_section and "Last Activity" in leak_section


def test_segments_by_source_and_region_on_the_csv(run: tuple[Result, dict[str, Any], str, str]) -> None:
    result, report, _, _ = run
    kinds: dict[str, list[str]] = {}
    for segment in report["segments"]:
        kinds.setdefault(segment["kind"], []).append(segment["field"])
        assert sum(level["contacts"] for level in segment["levels"]) == 6520
        assert sum(level["won"] for level in segment["levels"]) == 2522
    assert {"Lead Origin", "Lead Source"} <= set(kinds["source"]) and "City" in kinds["region"]
    assert "Conversion by Lead Source: " in result.output


def test_an_exclude_typo_is_an_error_with_a_did_you_mean(tmp_path: Path) -> None:
    result = calibrate(tmp_path, "--exclude", "Lead Qualty", "--evaluate-only")
    assert result.exit_code == 2 and "Did you mean 'Lead Quality'" in result.output
