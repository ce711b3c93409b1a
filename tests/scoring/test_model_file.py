"""The model file: errors with file, line and path, all at once; version; schema; round trip."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from scoring import (
    STARTER_MODEL_PATH,
    Model,
    ModelError,
    Problem,
    dump_model,
    format_validation_errors,
    load_model,
    load_yaml_with_lines,
    model_json_schema,
    parse_model,
)

BROKEN = """\
name: broken
engagement:
  rules:
    - id: visit
      activity: page_view
      points: 5
    - id: demo
      activity: demo_request
      points: 25
    - id: form
      activity: form_submission
      points: lots
fit:
  rules:
    - id: size
      when: {field: employees, gte: 100}
      pionts: 15
"""


def problems_of(text: str, source: str = "scoring.yaml") -> list[Problem]:
    with pytest.raises(ModelError) as caught:
        parse_model(textwrap.dedent(text), source)
    return caught.value.problems


def test_errors_name_file_line_and_path_all_at_once() -> None:
    problems = problems_of(BROKEN)
    texts = [str(p) for p in problems]
    assert "scoring.yaml:12 engagement.rules[2].points: expected a number" in texts
    assert "scoring.yaml:17 fit.rules[0]: unknown key 'pionts' (did you mean 'points'?)" in texts
    assert "scoring.yaml:15 fit.rules[0].points: required, but missing" in texts
    assert len(problems) == 3


def test_model_error_lists_every_problem_one_per_line() -> None:
    with pytest.raises(ModelError) as caught:
        parse_model(BROKEN, "scoring.yaml")
    assert str(caught.value).splitlines() == [str(p) for p in caught.value.problems]


def test_problem_str_without_line_or_path() -> None:
    assert str(Problem("m.yaml", None, "", "no such file")) == "m.yaml: no such file"
    assert str(Problem("m.yaml", 3, "", "bad")) == "m.yaml:3: bad"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nfit: {rules: [{id: a, when: {field: f, equals: 1}, points: 1, lable: A}]}",
         "fit.rules[0]: unknown key 'lable' (did you mean 'label'?)"),
        ("name: x\nengagment: {}", "unknown key 'engagment' (did you mean 'engagement'?)"),
        ("name: x\nfit: {rules: [{id: a, when: {feild: title, contains: vp}, points: 1}]}",
         "fit.rules[0].when: unknown key 'feild' (did you mean 'field'?)"),
        ("name: x\nengagement: {rules: [{id: a, activity: pageview, points: 1}]}",
         "engagement.rules[0].activity[0]: unknown activity type 'pageview' (did you mean 'page_view'?)"),
        ("name: x\nstages: {mql: 80, sql: 40}", "stages: mql must not be above sql"),
        ("name: x\nfit: {rules: [{id: a, when: {field: f, gte: 1, lte: 5}, points: 1}]}",
         "give one test per condition, found gte and lte; use between for a range"),
        ("name: x\nfit: {rules: [{id: a, when: {field: f, regex: '(['}, points: 1}]}", "invalid regular expression"),
        ("name: x\nfit: {rules: [{id: a, when: {field: f, exists: true}, points: -5}]}",
         "put rules that take points away under negative:"),
        ("name: x\nnegative: {rules: [{id: a, when: {field: f, exists: true}, points: 5}]}",
         "negative rules take points away"),
        ("name: x\ntiers: [{tier: P1, activity: demo_request, within: soon, respond_within: 10m}]",
         "tiers[0].within: expected a duration such as 10m"),
        ("name: x\nfit: {rules: [{id: a, when: {free_mail: true, field: email}, points: 1}]}",
         "'free_mail' takes no field"),
        ("name: x\nfit: {rules: [{when: {field: f, exists: true}, points: 1}]}", "give the rule an id or a label"),
        ("name: x\nscale: {combine: weighted}", "combine: weighted needs weights"),
        ("name: x\nmatrix: {engagement_levels: [10, 50]}", "levels must go down"),
        ("fit: {}", "name: required, but missing"),
    ],
)  # fmt: skip
def test_error_messages(text: str, expected: str) -> None:
    rendered = "\n".join(str(p) for p in problems_of(text))
    assert expected in rendered


def test_cross_section_problems_are_reported_together() -> None:
    problems = problems_of(
        """\
        name: x
        fit:
          rules:
            - {id: dup, when: {field: a, exists: true}, points: 1}
        engagement:
          rules:
            - {id: dup, activity: page_view, points: 1, where: {field: url, within_days: 3}}
        matrix: {cells: {Z9: nope}}
        examples:
          - {name: e, now: 2024-05-01T00:00:00Z, expect: {grade: Q}}
        """
    )
    messages = [str(p) for p in problems]
    assert any(
        "scoring.yaml:7 engagement.rules[0].id: duplicate rule id 'dup' (also used on line 4)" in m for m in messages
    )
    assert any("date tests do not apply to activity attributes" in m for m in messages)
    assert any("'Z9' is not a cell" in m for m in messages)
    assert any("examples[0].expect.grade" in m for m in messages)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- just\n- a list", "expected a mapping of settings at the top level"),
        ("", "the file is empty"),
        ("name: a\nname: b", "scoring.yaml:2 name: duplicate key (first given on line 1)"),
    ],
)
def test_yaml_level_problems(text: str, expected: str) -> None:
    assert expected in "\n".join(str(p) for p in problems_of(text))


def test_yaml_12_scalars_no_norway_problem_no_octal() -> None:
    data, _ = load_yaml_with_lines("a: NO\nb: on\nc: 010\nd: true\ne: 2024-05-01\nf: 1.5\ng: ~\n")
    assert data == {"a": "NO", "b": "on", "c": 10, "d": True, "e": "2024-05-01", "f": 1.5, "g": None}


def test_line_map_points_at_keys_and_items() -> None:
    _, lines = load_yaml_with_lines("a:\n  b:\n    - x\n    - y: 1\n")
    assert lines.line(("a", "b", 1, "y")) == 4
    assert lines.line(("a", "b", 0)) == 3
    assert lines.line(("a", "b", 7, "missing")) == 2  # nearest ancestor present


def test_load_model_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        load_model(tmp_path / "nope.yaml")


def test_load_model_uses_the_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text("name: x\nfit: {rules: [{id: a, when: {field: f, exists: true}, points: x}]}\n")
    with pytest.raises(ModelError) as caught:
        load_model(path)
    assert str(caught.value).startswith(f"{path}:2 fit.rules[0].points: expected a number")


class _Owners(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: str
    weight: float = 1.0


class _Policies(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owners: list[_Owners]


def test_policies_can_be_validated_by_the_sync_with_the_same_error_format() -> None:
    text = "name: x\npolicies:\n  owners:\n    - team: a\n    - team: b\n      wieght: 2\n"
    model = parse_model(text, "scoring.yaml")
    assert model.policies == {"owners": [{"team": "a"}, {"team": "b", "wieght": 2}]}
    data, lines = load_yaml_with_lines(text, "scoring.yaml")
    with pytest.raises(ValidationError) as caught:
        _Policies.model_validate(data["policies"])
    problems = format_validation_errors(caught.value, "scoring.yaml", lines, prefix=("policies",), schema=_Policies)
    assert [str(p) for p in problems] == [
        "scoring.yaml:6 policies.owners[1]: unknown key 'wieght' (did you mean 'weight'?)"
    ]


def test_passthrough_blocks_are_plain_dicts_and_count_in_the_version() -> None:
    base = parse_model("name: x\n")
    with_blocks = parse_model("name: x\npolicies: {a: 1}\nfields: {score: lead_score}\ncalibration: {seed: 7}\n")
    assert with_blocks.fields == {"score": "lead_score"}
    assert with_blocks.calibration == {"seed": 7}
    assert with_blocks.version != base.version


def test_version_ignores_formatting_comments_key_order_description_and_examples() -> None:
    one = parse_model(
        "name: x\nstages: {mql: 40, sql: 75}\nfit: {rules: [{id: a, when: {field: f, exists: true}, points: 1}]}"
    )
    two = parse_model(
        textwrap.dedent(
            """\
            # a comment
            description: other words
            fit:
              rules:
                - points: 1.0   # same number
                  when: {exists: true, field: f}
                  id: a
            name: x
            examples: []
            """
        )
    )
    assert one.version == two.version
    assert len(one.version) == 12 and int(one.version, 16) >= 0
    changed = parse_model("name: x\nfit: {rules: [{id: a, when: {field: f, exists: true}, points: 2}]}")
    assert changed.version != one.version


def test_ids_and_labels_default_from_each_other() -> None:
    model = parse_model(
        "name: x\nfit:\n  rules:\n    - {label: 100+ Employees!, when: {field: e, gte: 100}, points: 1}\n"
        "    - {id: big_company, when: {field: e, gte: 1000}, points: 1}\n"
    )
    assert [(r.id, r.label) for r in model.fit.rules] == [
        ("100_employees", "100+ Employees!"),
        ("big_company", "big company"),
    ]


def test_starter_round_trips_through_dump(starter: Model) -> None:
    again = parse_model(dump_model(starter, header="written by a test"), "dumped.yaml")
    assert again == starter
    assert again.version == starter.version
    assert dump_model(starter).startswith("name: starter\n")
    assert dump_model(starter, header="a\nb").startswith("# a\n# b\n")


def test_round_trip_keeps_decay_none_and_aliases() -> None:
    model = parse_model(
        textwrap.dedent(
            """\
            name: x
            decay: {half_life_days: 10}
            engagement:
              rules:
                - {id: a, activity: page_view, points: 1, decay: none, where: {field: url, in: [/a, /b]}}
            negative:
              rules:
                - {id: n, when: {not: {field: title, contains_word: [vp]}}, points: -1}
            """
        )
    )
    dumped = dump_model(model)
    assert "decay: none" in dumped and "in:" in dumped and "not:" in dumped
    assert parse_model(dumped) == model


def test_rules_can_be_enumerated_with_their_points(starter: Model) -> None:
    rules = list(starter.iter_rules())
    assert ("engagement", "demo_request", 25.0) in [(s, r.id, r.points) for s, r in rules]
    assert {section for section, _ in rules} == {"fit", "engagement", "properties", "negative"}


def test_json_schema_describes_the_file() -> None:
    schema = model_json_schema()
    json.dumps(schema)
    assert schema["title"] == "leadsync scoring model"
    assert {"name", "fit", "engagement", "negative", "tiers", "examples", "policies"} <= set(schema["properties"])
    condition = schema["$defs"]["Condition"]["properties"]
    assert {"in", "not", "all", "any", "contains_word"} <= set(condition)


def test_starter_file_is_valid_yaml_mapping() -> None:
    data = yaml.safe_load(STARTER_MODEL_PATH.read_text())
    assert data["stages"] == {"mql": 40, "sql": 75}


def test_model_is_immutable(starter: Model) -> None:
    with pytest.raises(ValidationError):
        starter.name = "changed"  # type: ignore[misc]
