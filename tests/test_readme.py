"""The README's promises that code can check: its model example is valid and its examples pass."""

from __future__ import annotations

import re
from pathlib import Path

from scoring import parse_model, run_examples

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_model_example_validates_and_its_examples_pass() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(name: acme.*?)```", text, re.S)
    assert block, "the README's model example (name: acme) is missing"
    model = parse_model(block.group(1), source="README.md")
    outcomes = run_examples(model)
    assert outcomes, "the README's model example should carry examples"
    assert all(o.passed for o in outcomes), [o.diff for o in outcomes if not o.passed]


def test_readme_quickstart_is_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
