"""Label, matrix cell and segments as write-back fields: their write modes, and on each sandbox CRM through the
real adapters, the fields ``check --create-fields`` makes and the values a sync writes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from connectors.records import Contact
from scoring import STARTER_MODEL_PATH, ScoreResult
from sync.policies import Planner, parse_fields, parse_policies, writeback_specs
from sync.state import RunStatus
from tests.harnesses import CRMS
from tests.sync.conftest import Stack
from tests.sync.fakes import T0
from tests.sync.test_e2e import engine_view, is_protected
from tests.sync.test_policies import result

SEGMENTS = ("nurture", "hot_not_contacted", "everyone")


def planner(
    crm: str = "hubspot", fields: dict[str, Any] | None = None, segments: tuple[str, ...] = SEGMENTS
) -> Planner:
    return Planner(crm, parse_fields(fields), parse_policies({}), segments=segments)


def scored(label: str | None = "hot", matrix: str = "A1", segments: tuple[str, ...] = ("nurture", "everyone")) -> Any:
    return dataclasses.replace(result(), label=label, matrix=matrix, segments=segments)


def changes(p: Planner, res: ScoreResult, **held: Any) -> dict[str, Any]:
    return {c.field: c.new for c in p.plan(Contact("c1", T0, dict(held)), res)}


@pytest.mark.parametrize(("crm", "joined"), [("hubspot", "nurture;everyone"), ("salesforce", "nurture;everyone"),
                                             ("pipedrive", "nurture,everyone")])  # fmt: skip
def test_label_matrix_and_segments_are_written_in_each_crms_form(crm: str, joined: str) -> None:
    p = planner(crm)
    got = changes(p, scored())
    names = {key: p._names[key] for key in ("label", "matrix", "segments")}
    assert (
        list(names.values())
        == {
            "hubspot": ["leadsync_label", "leadsync_matrix_cell", "leadsync_segments"],
            "salesforce": ["Leadsync_Label__c", "Leadsync_MatrixCell__c", "Leadsync_Segments__c"],
            "pipedrive": ["Leadsync label", "Leadsync matrix cell", "Leadsync segments"],
        }[crm]
    )
    assert (got[names["label"]], got[names["matrix"]], got[names["segments"]]) == ("hot", "A1", joined)
    assert set(p.read_fields) >= set(names.values())


def test_segments_compare_as_a_set_and_leaving_all_of_them_clears_the_field() -> None:
    p = planner()
    assert "leadsync_segments" not in changes(p, scored(), leadsync_segments="everyone; nurture")
    assert changes(p, scored(segments=()), leadsync_segments="nurture")["leadsync_segments"] == ""


def test_the_new_fields_follow_the_write_modes() -> None:
    held = {"leadsync_label": "warm", "leadsync_matrix_cell": "B2", "leadsync_segments": "everyone"}
    modes = {"label": {"mode": "never"}, "matrix": {"mode": "set_if_empty"}, "segments": {"mode": "always"}}
    got = changes(planner(fields=modes), scored(), **held)
    assert "leadsync_label" not in got and "leadsync_matrix_cell" not in got
    assert got["leadsync_segments"] == "nurture;everyone"
    assert "leadsync_label" not in planner(fields=modes).read_fields
    named = planner(fields={"label": {"name": {"hubspot": "hs_lead_temperature"}}})
    assert changes(named, scored())["hs_lead_temperature"] == "hot"


def test_a_model_without_segments_has_no_segments_field() -> None:
    p = planner(segments=())
    assert "leadsync_segments" not in p.read_fields
    assert "leadsync_segments" not in changes(p, scored())
    assert "leadsync_segments" not in {s.name for s in writeback_specs(p.fields, "hubspot")}
    spec = {s.name: s for s in writeback_specs(p.fields, "hubspot", segments=SEGMENTS)}["leadsync_segments"]
    assert (spec.type, spec.options) == ("multiselect", SEGMENTS)


# -- on the sandbox, through the real clients ----------------------------------------------------------------
# the field type each CRM's own schema reports for the segments field
MULTI_TYPE = {"hubspot": "enumeration", "salesforce": "multipicklist", "pipedrive": "set"}


def model_with_everyone(tmp_path: Path) -> Path:
    """The starter model with a segment every contact is in, so that nurture contacts are in two at once."""
    text = STARTER_MODEL_PATH.read_text(encoding="utf-8").replace(
        "segments:\n", "segments:\n  everyone: score >= 0\n", 1
    )
    path = tmp_path / "segments.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def options(value: Any) -> set[str]:
    return {part.strip() for part in re.split(r"[;,]", str(value or "")) if part.strip()}


@pytest.mark.parametrize("crm", CRMS)
def test_check_creates_the_fields_and_a_sync_writes_label_matrix_and_segments(
    crm: str, make_stack: Any, tmp_path: Path
) -> None:
    stack: Stack = make_stack(crm, model_file=model_with_everyone(tmp_path), fields=False)
    app = stack.app()

    report = app.check(create_fields=True)

    assert report["ok"], report["lines"]
    p = app.planner()
    names = {key: p._names[key] for key in ("label", "matrix", "segments")}
    schema = {f.name.lower(): f.type for s in app.adapter.contact_field_names() for f in s.fields}
    assert schema[names["segments"].lower()] == MULTI_TYPE[crm]
    assert {schema[names["label"].lower()], schema[names["matrix"].lower()]} <= {"string", "varchar"}

    summary = app.run("backfill")

    assert summary.status is RunStatus.OK
    in_nurture = 0
    for cid, (contact, res) in engine_view(stack).items():
        stored = {key: stack.harness.crm_value(cid, name) for key, name in names.items()}
        if is_protected(stack, contact):
            assert set(stored.values()) <= {None, ""}, cid
            continue
        assert (stored["label"], stored["matrix"]) == (res.label, res.matrix), cid
        assert options(stored["segments"]) == set(res.segments) and "everyone" in res.segments, cid
        in_nurture += "nurture" in res.segments
    assert in_nurture, "the seeded data has leads below MQL that may be e-mailed"

    before = stack.snapshot()
    again = stack.app().run("sync")
    assert again.status is RunStatus.OK and stack.writes_since(before) == {}, "the CRM echoes what was written"
